"""The sample transcripts in transcripts/ (recorded from real clients and servers by
transcripts/record_all.py) replay to the events they were recorded to show."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from h11dbg.cli import main
from h11dbg.engines import ENGINE_NAMES

LIBRARY = Path(__file__).resolve().parents[2] / "transcripts"

CLOSED = {"client": "CLOSED", "server": "CLOSED"}
EXCHANGE = "Request EndOfMessage Response Data EndOfMessage"
BYE = "ConnectionClosed ConnectionClosed"

# name -> (steps in order with runs of Data written Data*N, final states, error message part or None)
# Steps are event class names plus the replay's own "cycle" (start_next_cycle), "switch" and "error".
EXPECTED: dict[str, tuple[str, dict[str, str], str | None]] = {
    "keepalive-curl-uvicorn": (f"{EXCHANGE} cycle {EXCHANGE} cycle {EXCHANGE} cycle {BYE}", CLOSED, None),
    "keepalive-node-client-uvicorn": (f"{EXCHANGE} cycle {EXCHANGE} cycle {BYE}", CLOSED, None),
    "chunked-request-curl-uvicorn": (f"Request Data EndOfMessage Response Data EndOfMessage cycle {BYE}",
                                     CLOSED, None),
    "chunked-request-httpclient-node": (
        f"Request Data*3 EndOfMessage Response Data EndOfMessage cycle {EXCHANGE} cycle {BYE}", CLOSED, None),
    "chunked-trailers-curl-node": (f"Request EndOfMessage Response Data*2 EndOfMessage cycle {BYE}", CLOSED, None),
    "expect-100-continue-curl-node": (
        f"Request InformationalResponse Data EndOfMessage Response Data EndOfMessage cycle {BYE}", CLOSED, None),
    # a non-UTF-8 request and response body, cookies, then a gzip-coded body (what HAR stores differently)
    "binary-gzip-curl-node": (f"Request Data EndOfMessage Response Data EndOfMessage cycle {EXCHANGE} cycle {BYE}",
                              CLOSED, None),
    "http10-close-curl-http-server": (f"{EXCHANGE} {BYE}", CLOSED, None),
    "http10-keepalive-curl-node": (f"{EXCHANGE} cycle {EXCHANGE} cycle {BYE}", CLOSED, None),
    "half-close-raw-http-server": (f"{EXCHANGE} {BYE}", CLOSED, None),
    "head-curl-http-server": (f"Request EndOfMessage Response EndOfMessage {BYE}", CLOSED, None),
    "head-curl-uvicorn": ("Request EndOfMessage Response EndOfMessage cycle "
                          f"Request EndOfMessage Response EndOfMessage cycle {BYE}", CLOSED, None),
    "204-304-curl-node": ("Request EndOfMessage Response EndOfMessage cycle "
                          f"Request EndOfMessage Response EndOfMessage cycle {BYE}", CLOSED, None),
    # the SERVER machine pauses with the pipelined requests in its buffer, reads on after each cycle
    "pipelining-raw-node": (f"Request EndOfMessage paused Response Data EndOfMessage cycle resumed "
                            f"Request EndOfMessage paused Response Data EndOfMessage cycle resumed {EXCHANGE} {BYE}",
                            CLOSED, None),
    "websocket-upgrade-raw-node": ("Request EndOfMessage InformationalResponse switch",
                                   {"client": "SWITCHED_PROTOCOL", "server": "SWITCHED_PROTOCOL"}, None),
    "large-body-httpx-http-server": (f"Request EndOfMessage Response Data*20 EndOfMessage {BYE}", CLOSED, None),
    # the server's side is read on after the client's error: node's 400 and its close
    "smuggle-cl-te-raw-node": ("error Response EndOfMessage ConnectionClosed",
                               {"client": "MUST_CLOSE", "server": "CLOSED"},
                               "both Content-Length and Transfer-Encoding"),
    "smuggle-cl-te-get-admin-raw-node": ("error Response EndOfMessage ConnectionClosed",
                                         {"client": "MUST_CLOSE", "server": "CLOSED"},
                                         "both Content-Length and Transfer-Encoding"),
    # the second error: the server closed without a response (uvicorn waited for the rest of the body)
    "smuggle-bare-lf-chunked-raw-uvicorn": ("Request error error", {"client": "ERROR", "server": "SEND_RESPONSE"},
                                            "bare LF"),
    "smuggle-duplicate-content-length-raw-node": ("error Response EndOfMessage ConnectionClosed",
                                                  {"client": "MUST_CLOSE", "server": "CLOSED"},
                                                  "conflicting Content-Length"),
    # the client's pipelined bytes fail on the SERVER machine; the server's response is still read
    "pipelining-raw-http-server": ("Request EndOfMessage paused Response error Data EndOfMessage ConnectionClosed",
                                   {"client": "MUST_CLOSE", "server": "CLOSED"}, "Got data when expecting EOF"),
    # the mirror: the response fails on the CLIENT machine; the client's body is still read
    "broken-response-then-body-raw-raw": ("Request error Data EndOfMessage ConnectionClosed",
                                          {"client": "CLOSED", "server": "SEND_RESPONSE"}, "illegal header line"),
}
ERROR_DIRECTION = {"broken-response-then-body-raw-raw": "s2c"}  # the others: c2s
# two connections: curl under --trace, then under --trace-ascii (tests/data/captures keeps both traces)
UPLOAD_100 = f"Request InformationalResponse Data EndOfMessage Response Data EndOfMessage cycle {BYE}"
EXPECTED["expect-100-continue-64k-curl-uvicorn"] = (f"{UPLOAD_100} {UPLOAD_100}", CLOSED, None)
CONNECTIONS = {"expect-100-continue-64k-curl-uvicorn": {1, 2}}  # the others: {1}

# Where h11, which has no HTTP/1.0 keep-alive and is lenient about some smuggling shapes, differs.
H11_DIFFERENT: dict[str, tuple[str, dict[str, str], str | None]] = {
    # each side stops at its own "data after close" (h11 ends every HTTP/1.0 connection after one cycle)
    "http10-keepalive-curl-node": (f"{EXCHANGE} error error", {"client": "ERROR", "server": "MUST_CLOSE"},
                                   "Got data when expecting EOF"),
    "smuggle-cl-te-raw-node": ("Request EndOfMessage paused Response error EndOfMessage ConnectionClosed",
                               {"client": "MUST_CLOSE", "server": "CLOSED"}, "Got data when expecting EOF"),
    # h11 lets Transfer-Encoding win: the hidden GET /admin is the bytes after the chunked body
    "smuggle-cl-te-get-admin-raw-node": ("Request EndOfMessage paused Response error EndOfMessage ConnectionClosed",
                                         {"client": "MUST_CLOSE", "server": "CLOSED"},
                                         "Got data when expecting EOF"),
    "smuggle-bare-lf-chunked-raw-uvicorn": ("Request error error", {"client": "ERROR", "server": "SEND_RESPONSE"},
                                            "peer unexpectedly closed connection"),
}


def _compress(steps: list[str]) -> str:
    out: list[str] = []
    for step in steps:
        if step == "Data" and out and out[-1].startswith("Data"):
            out[-1] = f"Data*{int(out[-1][5:] or 1) + 1}"
        else:
            out.append(step)
    return " ".join(out)


def test_library_is_complete() -> None:
    recorded = {path.stem for path in LIBRARY.glob("*.h11t")}
    assert recorded == set(EXPECTED)
    assert len(recorded) >= 15
    readme = (LIBRARY / "README.md").read_text()
    for name in recorded:
        assert f"{name}.h11t" in readme


@pytest.mark.parametrize("engine", ENGINE_NAMES)
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_transcript_replays_to_its_events(name: str, engine: str) -> None:
    steps, final, error = (H11_DIFFERENT if engine == "h11" else {}).get(name, EXPECTED[name])
    result = CliRunner().invoke(main, ["replay", str(LIBRARY / f"{name}.h11t"), "--json", "--engine", engine])
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert {line["conn"] for line in lines} == CONNECTIONS.get(name, {1})
    assert _compress([x["event"] for x in lines if x["event"] not in ("open", "close", "end", "timing")]) == steps
    # a timing line after each response its request is known for: all of them when nothing failed
    timings = [x["timing"] for x in lines if x["event"] == "timing"]
    answered = [x for x in lines if x["event"] == "EndOfMessage" and x.get("direction") == "s2c"]
    assert len(timings) == len(answered) if error is None else len(timings) <= len(answered)
    assert all(0 <= t["first_byte"] <= t["total"] and t["dns"] is t["connect"] is t["tls"] is None for t in timings)
    assert lines[-1]["event"] == "end" and lines[-1]["states"] == final
    errors = [x for x in lines if x["event"] == "error"]
    if error is None:
        assert result.exit_code == 0 and not errors
    else:
        assert result.exit_code == 1
        assert error in errors[0]["message"] and errors[0]["direction"] == ERROR_DIRECTION.get(name, "c2s")
        if engine == "h11dbg":
            assert errors[0]["rule"] and errors[0]["section"].startswith("RFC 9112")
    if name == "websocket-upgrade-raw-node":
        assert lines[-1]["tunnelled"] == {"c2s": 17, "s2c": 15}  # one masked frame + close, echo + close


@pytest.mark.skipif(shutil.which("node") is None or shutil.which("curl") is None, reason="needs node and curl")
def test_the_recording_script_still_records(tmp_path: Path, engine_name: str) -> None:
    script = LIBRARY / "record_all.py"
    done = subprocess.run([sys.executable, str(script), "--out", str(tmp_path), "pipelining-raw-node"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    fresh = tmp_path / "pipelining-raw-node.h11t"
    result = CliRunner().invoke(main, ["replay", str(fresh), "--json", "--engine", engine_name])
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    # whether the server's machine pauses depends on how the three requests were read this time (one
    # read, or several on a loaded machine): the events are what the script must still produce
    transient = ("open", "close", "end", "paused", "resumed", "timing")
    steps = _compress([x["event"] for x in lines if x["event"] not in transient])
    assert steps == " ".join(s for s in EXPECTED["pipelining-raw-node"][0].split() if s not in transient)
