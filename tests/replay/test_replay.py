"""h11dbg replay: both machines per connection, driven from the CLI on real transcript files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from h11dbg.cli import main
from h11dbg.engines import ENGINE_NAMES
from h11dbg.transcript import Chunk, Close, Meta, Open, textformat, write_transcript

H11DBG = str(Path(sys.executable).with_name("h11dbg"))


def _write(path: Path, records: list) -> Path:
    write_transcript(records, path, Meta(tool="test"))
    return path


def _events(path: Path, engine: str, *extra: str) -> tuple[int, list[dict]]:
    result = CliRunner().invoke(main, ["replay", str(path), "--json", "--engine", engine, *extra])
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    return result.exit_code, lines


def _kinds(lines: list[dict], conn: int = 1) -> list[str]:
    return [f"{line.get('direction') or ''}:{line['event']}" for line in lines if line["conn"] == conn]


def test_keep_alive_head_and_pipelining(tmp_path: Path, engine_name: str) -> None:
    path = _write(tmp_path / "t.h11t", [
        Open(1, 0.0, "127.0.0.1:40000", "127.0.0.1:8000"),
        # two pipelined requests in one read; the second is HEAD, so its response has no body
        Chunk(1, "c2s", b"GET / HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\n\r\n", 0.1),
        Chunk(1, "s2c", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", 0.2),
        Chunk(1, "s2c", b"loHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", 0.3),
        Close(1, "c2s", 0.4),
        Close(1, "s2c", 0.5),
    ])
    code, lines = _events(path, engine_name)
    assert code == 0
    assert _kinds(lines) == [
        ":open", "c2s:Request", "c2s:EndOfMessage", "c2s:paused",
        "s2c:Response", "s2c:Data", "s2c:Data", "s2c:EndOfMessage", ":timing", ":cycle",
        "c2s:resumed", "c2s:Request", "c2s:EndOfMessage", "s2c:Response", "s2c:EndOfMessage", ":timing", ":cycle",
        "c2s:close", "c2s:ConnectionClosed", "s2c:close", "s2c:ConnectionClosed", ":end",
    ]
    data = [line for line in lines if line["event"] == "Data"]
    assert [d["data"] for d in data] == ["hel", "lo"]  # chunk boundaries kept
    assert lines[-1]["states"] == {"client": "CLOSED", "server": "CLOSED"}
    head = [line for line in lines if line["event"] == "Request"][1]
    assert head["method"] == "HEAD"


def test_100_continue_and_chunked_with_trailers(tmp_path: Path, engine_name: str) -> None:
    path = _write(tmp_path / "t.h11t", [
        Chunk(1, "c2s", b"POST /u HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"),
        Chunk(1, "s2c", b"HTTP/1.1 100 Continue\r\n\r\n"),
        Chunk(1, "c2s", b"abc"),
        Chunk(1, "s2c", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum\r\n\r\n"
                        b"2\r\nok\r\n0\r\nX-Sum: 1\r\n\r\n"),
    ])
    code, lines = _events(path, engine_name)
    assert code == 0
    assert _kinds(lines) == [
        "c2s:Request", "s2c:InformationalResponse", "c2s:Data", "c2s:EndOfMessage",
        "s2c:Response", "s2c:Data", "s2c:EndOfMessage", ":cycle", ":end",
    ]
    assert lines[-3]["headers"] == [["X-Sum", "1"]]


def test_upgrade_reports_tunnelled_bytes(tmp_path: Path, engine_name: str) -> None:
    path = _write(tmp_path / "t.h11t", [
        Chunk(1, "c2s", b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nEARLY"),
        Chunk(1, "s2c", b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
        Chunk(1, "s2c", b"\x81\x02hi"),
        Chunk(1, "c2s", b"\x88\x00"),
        Close(1, "c2s"),
        Close(1, "s2c"),
    ])
    code, lines = _events(path, engine_name)
    assert code == 0
    assert _kinds(lines)[:5] == ["c2s:Request", "c2s:EndOfMessage", "c2s:paused", "s2c:InformationalResponse",
                                 ":switch"]
    assert lines[2]["text"] == "5 bytes wait in the server machine's buffer until the protocol switch is settled"
    assert lines[-1]["event"] == "end"
    assert lines[-1]["tunnelled"] == {"c2s": 7, "s2c": 4}
    assert lines[-1]["states"] == {"client": "SWITCHED_PROTOCOL", "server": "SWITCHED_PROTOCOL"}


def test_connect_tunnel(tmp_path: Path, engine_name: str) -> None:
    path = _write(tmp_path / "t.h11t", [
        Chunk(1, "c2s", b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"),
        Chunk(1, "s2c", b"HTTP/1.1 200 Connection established\r\n\r\n"),
        Chunk(1, "c2s", b"\x16\x03\x01\x00\x05hello"),
    ])
    code, lines = _events(path, engine_name)
    assert code == 0
    assert _kinds(lines) == ["c2s:Request", "c2s:EndOfMessage", "s2c:Response", ":switch", ":end"]
    assert lines[-1]["tunnelled"] == {"c2s": 10, "s2c": 0}


def test_protocol_error_exit_1_with_offset(tmp_path: Path, engine_name: str) -> None:
    path = _write(tmp_path / "t.h11t", [
        Chunk(1, "c2s", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        Chunk(1, "s2c", b"HTTP/1.1 204 No Content\r\n\r\n"),
        Chunk(1, "c2s", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
        Chunk(2, "c2s", b"GET / HTTP/1.1\r\nHost: y\r\n\r\n"),
    ])
    code, lines = _events(path, engine_name)
    assert code == 1
    error = next(line for line in lines if line["event"] == "error")
    assert error["conn"] == 1 and error["direction"] == "c2s"
    assert error["error"] == "RemoteProtocolError"
    assert 28 <= error["offset"] <= 28 + 72  # inside the second request
    assert error["states"]["client"] == "ERROR"
    assert _kinds(lines, 2) == ["c2s:Request", "c2s:EndOfMessage", ":end"]
    result = CliRunner().invoke(main, ["replay", str(path), "--engine", engine_name])
    assert result.exit_code == 1
    assert "ERROR RemoteProtocolError" in result.output
    assert "byte" in result.output


def test_unreadable_input_exit_2_without_traceback(tmp_path: Path, engine_name: str) -> None:
    bad = tmp_path / "bad.h11t"
    bad.write_bytes(b"h11dbg-transcript 1\nc2s 1 at 0 len 3\n| GET\nbogus line\n")
    result = subprocess.run([H11DBG, "replay", str(bad), "--engine", engine_name],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert f"{bad}:4: expected a record line" in result.stderr
    assert "Traceback" not in result.stderr
    missing = subprocess.run([H11DBG, "replay", str(tmp_path / "nope")], capture_output=True, text=True,
                             timeout=30)
    assert missing.returncode == 2 and "cannot open" in missing.stderr and "Traceback" not in missing.stderr


def test_port_filter(tmp_path: Path, engine_name: str) -> None:
    path = _write(tmp_path / "t.h11t", [
        Open(1, 0.0, "127.0.0.1:1", "127.0.0.1:8000"),
        Open(2, 0.0, "127.0.0.1:2", "127.0.0.1:9000"),
        Chunk(1, "c2s", b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"),
        Chunk(2, "c2s", b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n"),
    ])
    _, lines = _events(path, engine_name, "--port", "9000")
    assert {line["conn"] for line in lines} == {2}


def test_reader_streams_a_large_transcript_in_flat_memory(tmp_path: Path, engine_name: str) -> None:
    path = tmp_path / "big.h11t"
    body = b"".join(b"line %5d of a text body, as most HTTP bodies are\n" % i for i in range(1300))
    chunks = 800  # ~50 MiB: more than the peak RSS allowed below
    with open(path, "wb") as stream:
        writer = textformat.TextWriter(stream, Meta(tool="test"))
        writer.write(Chunk(1, "c2s", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
        writer.write(Chunk(1, "s2c", f"HTTP/1.1 200 OK\r\nContent-Length: {chunks * len(body)}\r\n\r\n".encode()))
        for _ in range(chunks):
            writer.write(Chunk(1, "s2c", body))
    assert path.stat().st_size > 50_000_000
    # VmHWM is this process image's own peak (ru_maxrss would include the forking pytest's).
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write([l for l in open('/proc/self/status') if"
        " l.startswith('VmHWM')][0]))\n"
        "from h11dbg.cli import main\n"
        "main()\n"
    )
    with open(os.devnull, "w") as sink:
        result = subprocess.run(
            [sys.executable, "-c", probe, "replay", str(path), "--engine", engine_name],
            stdout=sink, stderr=subprocess.PIPE, text=True, timeout=100,
        )
    assert result.returncode == 0, result.stderr
    peak_mib = int(result.stderr.split("VmHWM:")[1].split()[0]) / 1024
    assert peak_mib < 45, f"peak RSS {peak_mib:.0f} MiB for a {path.stat().st_size >> 20} MiB transcript"


@pytest.mark.parametrize("engine", ["h11"])
def test_http10_without_keep_alive_ends_after_one_cycle(tmp_path: Path, engine: str) -> None:
    path = _write(tmp_path / "t.h11t", [
        Chunk(1, "c2s", b"GET / HTTP/1.0\r\n\r\n"),
        Chunk(1, "s2c", b"HTTP/1.0 200 OK\r\n\r\nbody until close"),
        Close(1, "s2c"),
        Close(1, "c2s"),
    ])
    code, lines = _events(path, engine)
    assert code == 0
    assert _kinds(lines) == ["c2s:Request", "c2s:EndOfMessage", "s2c:Response", "s2c:Data", "s2c:close",
                             "s2c:EndOfMessage", "s2c:ConnectionClosed", "c2s:close", "c2s:ConnectionClosed",
                             ":end"]
    assert lines[-1]["states"] == {"client": "CLOSED", "server": "CLOSED"}


def test_output_reader_going_away_is_not_an_error(tmp_path: Path, engine_name: str) -> None:
    records = []
    for conn in range(1, 400):
        records += [Chunk(conn, "c2s", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
                    Chunk(conn, "s2c", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")]
    path = _write(tmp_path / "many.h11t", records)
    proc = subprocess.Popen([H11DBG, "replay", str(path), "--engine", engine_name], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"[1]")
    proc.stdout.close()  # like `| head -1`
    assert proc.wait(timeout=30) == 0
    assert b"Traceback" not in proc.stderr.read()


_fragments = st.sampled_from([
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", b"3\r\nabc\r\n", b"0\r\n\r\n",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", b"CONNECT h:1 HTTP/1.1\r\nHost: h:1\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: ws\r\nConnection: upgrade\r\nExpect: 100-continue\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 101 Switching\r\nUpgrade: ws\r\nConnection: upgrade\r\n\r\n", b"HTTP/1.0 200 OK\r\n\r\n",
    b"HTTP/1.1 204 No Content\r\n\r\n", b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
])
_records = st.lists(st.one_of(
    st.builds(Chunk, st.integers(1, 3), st.sampled_from(["c2s", "s2c"]), st.one_of(_fragments, st.binary())),
    st.builds(Close, st.integers(1, 3), st.sampled_from(["c2s", "s2c"]), st.just(0.0), st.booleans()),
), max_size=25)


@settings(max_examples=150, deadline=None)
@given(records=_records)
@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_any_record_sequence_replays_without_crashing(engine: str, records: list) -> None:
    from h11dbg.engines import load_engine
    from h11dbg.output.jsonl import step_record as json_record
    from h11dbg.output.text import step_lines as render_text
    from h11dbg.replay.machines import Replayer

    replayer = Replayer(load_engine(engine))
    ended: list[int] = []
    for record in records:
        for step in replayer.feed(record):
            render_text(step)
            json.dumps(json_record(step), default=str)
            if step.kind == "end":
                ended.append(step.conn)
    ended += [step.conn for step in replayer.finish() if step.kind == "end"]
    # every connection ends (records after both sides closed start that id afresh)
    assert set(ended) == {record.conn for record in records}
    assert len(ended) == _lives(records)


def _lives(records: list) -> int:
    """How many connections ``records`` hold: an id's life ends once both of its directions closed
    (a reset closes both); a close or reset right after a reset belongs to the life it ended."""
    closed: dict[int, set[str]] = {}
    reset: set[int] = set()
    lives = 0
    for record in records:
        if record.conn not in closed:
            if isinstance(record, Close) and record.conn in reset:
                continue
            reset.discard(record.conn)
            closed[record.conn] = set()
            lives += 1
        if isinstance(record, Close):
            closed[record.conn].update(("c2s", "s2c") if record.reset else (record.direction,))
            if len(closed[record.conn]) == 2:
                del closed[record.conn]
                if record.reset:
                    reset.add(record.conn)
    return lives


def test_a_port_filter_that_matches_nothing_says_so_and_exits_2() -> None:
    capture = Path(__file__).resolve().parents[1] / "data" / "captures" / "http-lo.pcap"
    for command in (["replay"], ["replay", "--json"], ["diff"]):
        result = subprocess.run([H11DBG, *command, str(capture), "--port", "9999"], capture_output=True, text=True,
                                timeout=30)
        assert result.returncode == 2, command
        assert result.stdout == ""
        assert result.stderr == (f"h11dbg: no connection matched server port 9999 in {capture}; "
                                 "server ports present: 8765, 8766\n")
    kept = subprocess.run([H11DBG, "replay", str(capture), "--port", "8766"], capture_output=True, text=True,
                          timeout=30)
    assert kept.returncode == 0 and kept.stderr.startswith("1 connection(s), all parsed cleanly")
