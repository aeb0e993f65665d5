"""The ladder from the CLI: ``replay FILE --ladder`` and the ``ladder`` command in a script, the same
picture (h11dbg.output.ladder) the REPL draws."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

TRANSCRIPTS = Path(__file__).resolve().parents[2] / "transcripts"
ARROW = re.compile(r"^ *(?P<time>\d+\.\d{3}) (?P<client>\S+) +(?P<arrow>[─◀┄].*[─▶┄]) (?P<server>\S+)$")


def h11dbg(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "h11dbg", *args], input=stdin, capture_output=True, text=True,
                          timeout=60, check=False)


def rows(stdout: str) -> list[tuple[str, str, str, str]]:
    """(client state, direction, label, server state) of every arrow and dashed row."""
    found = []
    for line in stdout.splitlines():
        match = ARROW.match(line)
        if match is None:
            continue
        arrow = match["arrow"]
        direction = "c2s" if arrow.endswith("▶") else "s2c" if arrow.startswith("◀") else "across"
        label = arrow.strip("─◀▶┄ ")
        found.append((match["client"], direction, label, match["server"]))
    return found


def test_replay_ladder_draws_each_message_with_both_states() -> None:
    done = h11dbg("replay", "--ladder", str(TRANSCRIPTS / "keepalive-curl-uvicorn.h11t"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("connection 1: 127.0.0.1:")
    assert lines[1].split() == ["time", "client", "server"]
    drawn = rows(done.stdout)
    assert drawn[:6] == [
        ("SEND_BODY", "c2s", "GET /one", "SEND_RESPONSE"),
        ("DONE", "c2s", "EndOfMessage", "SEND_RESPONSE"),
        ("DONE", "s2c", "200 OK", "SEND_BODY"),
        ("DONE", "s2c", "Data 17 B", "SEND_BODY"),
        ("DONE", "s2c", "EndOfMessage", "DONE"),
        ("IDLE", "across", "start_next_cycle()", "IDLE"),
    ]
    # each side's FIN and the ConnectionClosed made of it: one arrow each, the states after both
    assert drawn[-2:] == [("CLOSED", "c2s", "close", "MUST_CLOSE"), ("CLOSED", "s2c", "close", "CLOSED")]
    assert max(len(line) for line in lines) <= 80


def test_a_body_in_several_pieces_is_one_arrow_with_its_total_size() -> None:
    path = str(TRANSCRIPTS / "chunked-trailers-curl-node.h11t")
    replayed = [json.loads(line) for line in h11dbg("replay", "--json", path).stdout.splitlines()]
    sizes = [line["length"] for line in replayed if line["event"] == "Data" and line["direction"] == "s2c"]
    assert len(sizes) > 1
    drawn = rows(h11dbg("replay", "--ladder", path).stdout)
    assert ("DONE", "s2c", f"Data ×{len(sizes)} {sum(sizes)} B", "SEND_BODY") in drawn
    assert ("DONE", "s2c", "EndOfMessage + trailers", "DONE") in drawn


@pytest.mark.parametrize("name", sorted(path.name for path in TRANSCRIPTS.glob("*.h11t")))
def test_the_ladder_agrees_with_the_replay(name: str) -> None:
    """Every head the replay parsed is an arrow, in order, with the states the replay reports after it."""
    path = str(TRANSCRIPTS / name)
    json_run = h11dbg("replay", "--json", path)
    ladder_run = h11dbg("replay", "--ladder", path)
    assert ladder_run.returncode == json_run.returncode
    heads = [
        (line["states"]["client"], line["direction"], f"{line['method']} {line['target']}", line["states"]["server"])
        if line["event"] == "Request" else
        (line["states"]["client"], line["direction"], f"{line['status_code']} {line['reason']}".rstrip(),
         line["states"]["server"])
        for line in map(json.loads, json_run.stdout.splitlines())
        if line["event"] in ("Request", "Response", "InformationalResponse")
    ]
    drawn = [row for row in rows(ladder_run.stdout)
             if row[1] != "across" and not row[2].startswith(("Data", "EndOfMessage", "close", "reset", "✗"))]
    assert drawn == heads


def test_replay_ladder_marks_the_error_where_it_happened() -> None:
    done = h11dbg("replay", "--ladder", str(TRANSCRIPTS / "smuggle-cl-te-raw-node.h11t"))
    assert done.returncode == 1
    drawn = rows(done.stdout)
    assert drawn[0][:3] == ("ERROR", "c2s", "✗ error at byte 0")
    lines = done.stdout.splitlines()
    detail = lines[next(number for number, line in enumerate(lines) if "✗ error" in line) + 1]
    assert detail.strip().startswith("RemoteProtocolError: ") and "Transfer-Encoding" in detail


@pytest.mark.parametrize("other", ["--json", "--step"])
def test_replay_ladder_is_for_people(other: str) -> None:
    done = h11dbg("replay", "--ladder", other, str(TRANSCRIPTS / "keepalive-curl-uvicorn.h11t"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--ladder" in done.stderr and "Traceback" not in done.stderr


def test_the_ladder_command_works_in_a_script() -> None:
    script = (
        "request POST /x Content-Length: 5\ndata hello\neom\nas server\nrun\n"
        "response 200 Transfer-Encoding: chunked\ndata abc\neom\nas client\nrun\ncycle\nladder\n"
    )
    done = h11dbg("loopback", stdin=script)
    assert done.returncode == 0, done.stderr
    assert rows(done.stdout) == [
        ("SEND_BODY", "c2s", "POST /x", "SEND_RESPONSE"),
        ("SEND_BODY", "c2s", "Data 5 B", "SEND_RESPONSE"),
        ("DONE", "c2s", "EndOfMessage", "SEND_RESPONSE"),
        ("DONE", "s2c", "200 OK", "SEND_BODY"),
        ("DONE", "s2c", "Data 3 B", "SEND_BODY"),
        ("DONE", "s2c", "EndOfMessage", "DONE"),
        ("IDLE", "across", "start_next_cycle()", "IDLE"),
    ]
    usage = h11dbg("loopback", stdin="ladder now\n")
    assert usage.returncode == 2 and "ladder" in usage.stderr
