"""One direction's error does not stop the other: each side is read by its own machine as far as it
can go, on real recordings (transcripts/ and a tcpdump capture), with both engines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from h11dbg.cli import main
from h11dbg.engines import ENGINE_NAMES

ROOT = Path(__file__).resolve().parents[2]
PIPELINING = ROOT / "transcripts" / "pipelining-raw-http-server.h11t"
PIPELINING_PCAP = ROOT / "tests" / "data" / "captures" / "pipelining-http-server.pcap"
BROKEN_RESPONSE = ROOT / "transcripts" / "broken-response-then-body-raw-raw.h11t"


def _replay(path: Path, engine: str, *extra: str) -> tuple[int, list[dict], str]:
    result = CliRunner().invoke(main, ["replay", str(path), "--engine", engine, *extra])
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    lines = [line for line in lines if line["event"] != "timing"]  # (tests/replay/test_timing.py)
    return result.exit_code, lines, result.output


def _kinds(lines: list[dict]) -> list[str]:
    return [f"{line['direction'] or ''}:{line['event']}" for line in lines if line["event"] not in ("open", "close")]


@pytest.mark.parametrize("engine", ENGINE_NAMES)
@pytest.mark.parametrize("path", [PIPELINING, PIPELINING_PCAP], ids=["h11t", "pcap"])
def test_the_server_side_is_read_on_after_the_pipelined_requests_error(path: Path, engine: str) -> None:
    code, lines, _ = _replay(path, engine, "--json")
    assert code == 1
    # the c2s error, then the rest of the server's HTTP/1.0 response and its close, all parsed
    assert _kinds(lines) == ["c2s:Request", "c2s:EndOfMessage", "c2s:paused", "s2c:Response", "c2s:error",
                             "s2c:Data", "s2c:EndOfMessage", "s2c:ConnectionClosed", ":end"]
    error = next(line for line in lines if line["event"] == "error")
    assert error["message"] == "Got data when expecting EOF"
    unanswered = 136 - 44 if path is PIPELINING else 135 - 45  # the two pipelined GETs
    assert error["text"] == ("note: the server ended keep-alive (an HTTP/1.0 response without keep-alive) with "
                             f"the client's pipelined requests still unanswered ({unanswered} bytes from byte "
                             f"{error['offset']})")
    body = next(line for line in lines if line["event"] == "Data")
    assert body["data"] in ("hello, world\\n", "a static file\\n")  # escaped, as JSON data is
    end = lines[-1]
    assert end["text"] == (f"c2s: stopped at its error (byte {error['offset']}), {unanswered} bytes from there "
                           "not parsed; s2c: read to its end")
    assert end["states"] == {"client": "MUST_CLOSE", "server": "CLOSED"}


def test_plain_text_says_which_direction_stopped(engine_name: str) -> None:
    code, _, output = _replay(PIPELINING, engine_name)
    assert code == 1
    assert "note: the server ended keep-alive (an HTTP/1.0 response without keep-alive) with the client's " \
           "pipelined requests still unanswered (92 bytes from byte 44)" in output
    assert "s2c Data 13 bytes: hello, world\\n" in output
    assert "c2s: stopped at its error (byte 44), 92 bytes from there not parsed; s2c: read to its end" in output
    assert "after the error not parsed" not in output


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_the_client_side_is_read_on_after_a_broken_response(engine: str) -> None:
    """The mirror: the server's response is refused, the client's body that follows is still parsed."""
    code, lines, _ = _replay(BROKEN_RESPONSE, engine, "--json")
    assert code == 1
    assert _kinds(lines) == ["c2s:Request", "s2c:error", "c2s:Data", "c2s:EndOfMessage", "c2s:ConnectionClosed",
                             ":end"]
    error = next(line for line in lines if line["event"] == "error")
    assert "text" not in error  # no keep-alive note: this is not the client's pipelining
    assert next(line for line in lines if line["event"] == "Data")["data"] == "twenty bytes of body"
    assert lines[-1]["text"] == (f"c2s: read to its end; s2c: stopped at its error (byte {error['offset']}), "
                                 f"{58 - error['offset']} bytes from there not parsed")
    assert lines[-1]["states"] == {"client": "CLOSED", "server": "SEND_RESPONSE"}
