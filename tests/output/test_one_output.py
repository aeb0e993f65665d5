"""One output layer: the same event reads the same, in text and in JSON, whether a live session or a
replay produced it; and replay's fast JSON path writes exactly what the general writer writes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from h11dbg.engines import ENGINE_NAMES, load_engine
from h11dbg.output.describe import TRANSITION_FIELDS
from h11dbg.output.jsonl import dumps, step_line, step_records
from h11dbg.replay.machines import Replayer
from h11dbg.transcript.model import Chunk, Close, Open

H11DBG = [sys.executable, "-m", "h11dbg"]
EVENTS = {"Request", "InformationalResponse", "Response", "Data", "EndOfMessage", "ConnectionClosed"}
SCRIPT = "\n".join([
    "request POST /upload Content-Length: 5 X-Trace: caf\\xe9",
    "data hello",
    "eom",
    "run",
    "cycle",
    "request GET /trailers",
    "eom",
    "run",
]) + "\n"


def run(args: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([*H11DBG, *args], input=stdin, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo's server driven by a script, live in text and in JSON, each recorded and replayed."""
    folder = tmp_path_factory.mktemp("one-output")
    found: dict[str, Any] = {}
    for name, extra in (("text", []), ("json", ["--json"])):
        path = folder / f"{name}.h11t"
        live = run(["demo", "--record", str(path), *extra], SCRIPT)
        assert live.returncode == 0, live.stderr
        replayed = run(["replay", str(path), *extra])
        assert replayed.returncode == 0, replayed.stderr
        found[name] = (live.stdout, replayed.stdout)
    return found


def test_every_event_reads_the_same_live_and_replayed(demo_run: dict[str, Any]) -> None:
    live, replayed = demo_run["text"]
    # live: "[   0.020s] #1 c2s client sent Request GET / HTTP/1.1"; replay: "[1]   0.003 c2s Request GET / ..."
    said_live = [m[1] for m in re.finditer(r"#1 (?:c2s|s2c) client (?:sent|received) (.*)", live)]
    said_replayed = [m[1] for m in re.finditer(r"\[1\] +\S+ (?:c2s|s2c) (.*?) +client=", replayed)]
    assert said_live, live
    assert "Response HTTP/1.1 200 OK" in said_replayed
    assert "EndOfMessage with 1 trailer(s)" in said_replayed
    missing = [said for said in said_live if said not in said_replayed]
    assert missing == []
    # the same transition text under both: "client: IDLE -> SEND_BODY (request-sent) ... [RFC 9112 §3]"
    moves_live = {line.strip() for line in live.splitlines() if line.startswith("    client: IDLE -> SEND_BODY")}
    moves_replayed = {line.strip() for line in replayed.splitlines() if "client: IDLE -> SEND_BODY" in line}
    assert len(moves_live) == 1 and moves_live == moves_replayed


def test_every_event_has_the_same_json_live_and_replayed(demo_run: dict[str, Any]) -> None:
    live, replayed = (list(map(json.loads, text.splitlines())) for text in demo_run["json"])
    fields = ("event", "method", "target", "http_version", "headers", "status_code", "reason", "length", "data")

    def events(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: e[k] for k in ("direction", *fields) if k in e} for e in lines if e.get("event") in EVENTS]

    # the session closes the connection when the script ends: its ConnectionClosed is only in the recording
    assert events(live) == [e for e in events(replayed) if e != {"direction": "c2s", "event": "ConnectionClosed"}]
    transitions = [t for e in live + replayed for t in e.get("transitions", [])]
    assert {t["role"] for t in transitions} == {"client", "server"}  # one spelling of roles everywhere
    assert all(set(t) <= set(TRANSITION_FIELDS) and "cause" in t and "rule" in t for t in transitions)
    first_live = next(e["transitions"] for e in live if e.get("event") == "Request" and e["actor"] == "client")
    first_replayed = next(e["transitions"] for e in replayed if e.get("event") == "Request")
    assert first_live[0] == first_replayed[0]  # client IDLE -> SEND_BODY, word for word


_heads = st.sampled_from([
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe\"\\o\r\n0\r\nT: \xff\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\n\x00\x7f\xe9",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.0 204 No \"Content\"\r\n\r\n",
    b"HTTP/1.1 101 Switching\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n\x01\x02",
    b"GET /x HTTP/1.1\r\nHost: a\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",
    b"5\r\nhello\r\n0\r\n\r\n",
])
_records = st.lists(st.one_of(
    st.builds(Chunk, st.integers(1, 2), st.sampled_from(["c2s", "s2c"]), st.one_of(_heads, st.binary(max_size=40)),
              st.floats(0, 10, allow_nan=False)),
    st.builds(Close, st.integers(1, 2), st.sampled_from(["c2s", "s2c"]), st.floats(0, 10, allow_nan=False),
              st.booleans()),
    st.builds(Open, st.integers(1, 2), st.floats(0, 10, allow_nan=False),
              st.one_of(st.none(), st.just("127.0.0.1:5")), st.one_of(st.none(), st.just("[::1]:80"))),
), max_size=20)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=_records)
@example(records=[  # a timed exchange: its response's EndOfMessage is also the exchange's timing line
    Chunk(1, "c2s", b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n", 1.0),
    Chunk(1, "s2c", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", 1.25)])
@pytest.mark.parametrize("engine_name", ENGINE_NAMES)
def test_the_fast_json_path_writes_what_the_general_writer_writes(engine_name: str, records: list[Any]) -> None:
    replayer = Replayer(load_engine(engine_name))
    steps = [step for record in records for step in replayer.feed(record)] + replayer.finish()
    for step in steps:
        fast = step_line(step)
        assert fast == "\n".join(map(dumps, step_records(step)))
        assert [json.loads(line) for line in fast.split("\n")] == step_records(step)


def test_replay_text_and_json_of_a_capture_agree_on_every_event() -> None:
    capture = Path(__file__).resolve().parents[1] / "data" / "captures" / "http-lo.pcap"
    text, as_json = run(["replay", str(capture)]), run(["replay", str(capture), "--json"])
    assert text.returncode == as_json.returncode == 0, text.stderr + as_json.stderr
    responses = [e for e in map(json.loads, as_json.stdout.splitlines()) if e.get("event") == "Response"]
    assert responses
    for response in responses:
        assert f"Response HTTP/{response['http_version']} {response['status_code']} {response['reason']}" in text.stdout


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_an_error_without_a_byte_offset_prints_no_dangling_place(engine: str, tmp_path: Path) -> None:
    """An error the engine gives no offset for (a header value with CR LF, which never reaches the
    wire; h11's parse errors) says nothing about where: no ``(6)``, no ``at: 6``, no ``None``."""
    script = "request GET / X: a\\r\\nb\nas server\nraw BAD\\r\\n\\r\\n\nas client\nrecv\nnext\nlog\n"
    live = run(["loopback", "--engine", engine], script)
    transcript = tmp_path / "broken.txt"
    transcript.write_text("h11dbg-transcript 1\n\nopen 1 at 0.0 client 127.0.0.1:1 server 127.0.0.1:2\n"
                          "c2s 1 at 0.1 len 27\n| GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n\n"
                          "s2c 1 at 0.2 len 7\n| BAD\\r\\n\\r\\n\n")
    replayed = run(["replay", "--engine", engine, str(transcript)])
    for said in (live.stdout, replayed.stdout):
        errors = [line for line in said.splitlines() if "Error" in line]
        assert errors, said
        for line in errors:
            assert not re.search(r"\(\d+\)|\bat: \d|None|\(\s*\)", line), line
