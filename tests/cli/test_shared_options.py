"""What every command shares, driven through the real CLI: one --engine list, one script reader, one
exit-code table, one 'tool:' line for recordings, one meaning of --server-port."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from h11dbg import __version__
from h11dbg.cli import main
from h11dbg.engines import ENGINE_NAMES
from h11dbg.transcript import open_transcript
from h11dbg.ui.exits import ExitCode

CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures"


def h11dbg(*args: str, stdin: str | bytes = "") -> subprocess.CompletedProcess[str]:
    data = stdin.encode() if isinstance(stdin, str) else stdin
    done = subprocess.run([sys.executable, "-m", "h11dbg", *args], input=data, capture_output=True, timeout=60)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode(), done.stderr.decode())


def test_every_engine_option_offers_the_same_engines() -> None:
    offered = {}
    for name, command in main.commands.items():
        for param in command.params:
            if "--engine" in getattr(param, "opts", ()):
                assert isinstance(param.type, click.Choice)
                offered[name] = tuple(param.type.choices)
    assert set(offered) == {"connect", "listen", "loopback", "demo", "replay", "export", "desync", "learn"}
    assert set(offered.values()) == {ENGINE_NAMES}


def test_exit_codes_are_one_table() -> None:
    assert [int(code) for code in ExitCode] == [0, 1, 2, 3, 130]
    assert h11dbg("replay", "/nonexistent.h11t").returncode == ExitCode.USAGE
    assert h11dbg("replay", str(CAPTURES / "http-lo.pcap")).returncode == ExitCode.OK
    smuggled = Path(__file__).resolve().parents[2] / "transcripts" / "smuggle-cl-te-raw-node.h11t"
    assert h11dbg("replay", str(smuggled)).returncode == ExitCode.PROTOCOL_ERROR


@pytest.mark.parametrize("command", ["loopback", "demo"])
def test_one_script_reader_names_the_line_that_is_not_utf8(command: str, tmp_path: Path) -> None:
    script = tmp_path / "bad.h11dbg"
    script.write_bytes(b"# fine\nrequest GET /caf\xe9\n")
    from_file = h11dbg(command, "--script", str(script))
    from_stdin = h11dbg(command, stdin=script.read_bytes())
    assert from_file.returncode == from_stdin.returncode == ExitCode.USAGE
    assert from_file.stderr == f"h11dbg: {script}:2: not UTF-8 text (byte 16 of the line is \\xe9)\n"
    assert from_stdin.stderr.endswith("<stdin>:2: not UTF-8 text (byte 16 of the line is \\xe9)\n")
    assert "Traceback" not in from_stdin.stderr


def test_recordings_name_their_command_the_same_way(tmp_path: Path) -> None:
    for command in ("loopback", "demo"):
        path = tmp_path / f"{command}.h11t"
        done = h11dbg(command, "--record", str(path), "--json", stdin="states\n")
        assert done.returncode == ExitCode.OK, done.stderr
        assert open_transcript(path).meta.tool == f"h11dbg {__version__} {command}"


def test_server_port_filters_connections_by_the_recorded_server_port() -> None:
    capture = str(CAPTURES / "http-lo.pcap")

    def opened(*options: str) -> list[str]:
        done = h11dbg("replay", "--json", *options, capture)
        assert done.returncode == ExitCode.OK, done.stderr
        return [line["server"] for line in map(json.loads, done.stdout.splitlines()) if line["event"] == "open"]

    everything = opened()
    ports = sorted({server.rpartition(":")[2] for server in everything})
    assert len(ports) == 2  # curl to two servers on 127.0.0.1
    for port in ports:
        kept = opened("--server-port", port)
        assert kept == [server for server in everything if server.endswith(f":{port}")]
        assert opened("--port", port) == kept  # the old spelling still works
    nothing = h11dbg("replay", "--json", "--server-port", "1", capture)
    assert (nothing.returncode, nothing.stdout) == (ExitCode.USAGE, "")
    assert nothing.stderr == f"h11dbg: no connection matched server port 1 in {capture}; server ports present: " \
                             f"{', '.join(ports)}\n"
