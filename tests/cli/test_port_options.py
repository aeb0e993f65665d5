"""Port options (issue 14, nits 3): `--server-port`/`--port` on replay and diff (both files, or --engines) and the demo
server's `--port` refuse a negative port or one past 65535 as a usage error, exit 2, in click's words
(argparse's for the demo server); one check of a port (h11dbg.transport.address.parse_port) for these and
HOST:PORT addresses alike."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TRANSCRIPT = Path(__file__).resolve().parents[2] / "transcripts" / "204-304-curl-node.h11t"


def h11dbg(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "h11dbg", *args], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("command", [["replay", str(TRANSCRIPT)], ["diff", str(TRANSCRIPT), str(TRANSCRIPT)],
                                     ["diff", "--engines", str(TRANSCRIPT)]])
@pytest.mark.parametrize(("flag", "value"), [("--server-port", "-5"), ("--port", "65536"), ("--port", "1e3"),
                                             ("--port", "9" * 5000)])
def test_a_port_out_of_range_is_a_usage_error(command: list[str], flag: str, value: str) -> None:
    result = h11dbg(*command, flag, value)
    assert result.returncode == 2
    shown = f"'{value}'" if len(value) <= 64 else f"'{value[:64]}'… ({len(value)} characters)"
    assert result.stderr.splitlines()[-1] == (
        f"Error: Invalid value for '--server-port' / '--port': bad port {shown} (expected 0-65535)")
    assert "Traceback" not in result.stderr


def test_a_port_in_range_still_filters() -> None:
    result = h11dbg("replay", str(TRANSCRIPT), "--port", "040605")
    assert result.returncode == 0 and "GET /nocontent" in result.stdout
    result = h11dbg("replay", str(TRANSCRIPT), "--port", "65535")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"h11dbg: no connection matched server port 65535 in {TRANSCRIPT}; "
                                          "server ports present: 40605"]


@pytest.mark.parametrize("value", ["-1", "65536"])
def test_the_demo_servers_port_out_of_range(value: str) -> None:
    result = subprocess.run([sys.executable, "-m", "h11dbg.demo.server", "--port", value], capture_output=True,
                            text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == (
        f"python -m h11dbg.demo.server: error: argument --port: bad port '{value}' (expected 0-65535)")
