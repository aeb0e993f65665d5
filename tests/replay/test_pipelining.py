"""Replay shows pipelining as it happened: the SERVER machine's PAUSED with what waits in its buffer,
each event stamped with the time its bytes arrived, and when the waiting bytes were processed; on
the real recording transcripts/pipelining-raw-node.h11t (three GETs in one write to node)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from h11dbg.cli import main
from h11dbg.engines import ENGINE_NAMES

PIPELINING = Path(__file__).resolve().parents[2] / "transcripts" / "pipelining-raw-node.h11t"
ARRIVED = 0.004785  # the one c2s chunk: all three requests
RESPONSES = (0.006205, 0.006633, 0.006965)  # the three s2c chunks


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_pipelined_requests_pause_the_server_machine_and_keep_their_arrival_time(engine: str) -> None:
    result = CliRunner().invoke(main, ["replay", str(PIPELINING), "--json", "--engine", engine])
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.output.splitlines()]
    requests = [line for line in lines if line["event"] == "Request"]
    assert [r["target"] for r in requests] == ["/p1", "/p2", "/p3"]
    assert {r["time"] for r in requests} == {ARRIVED}  # not the time of the response before them
    assert {line["time"] for line in lines if line["event"] == "EndOfMessage" and line["direction"] == "c2s"} \
        == {ARRIVED}
    paused = [line for line in lines if line["event"] == "paused"]
    assert [(p["direction"], p["time"], p["text"]) for p in paused] == [
        ("c2s", ARRIVED, "93 bytes wait in the server machine's buffer (2 more pipelined requests) until the "
                         "response in progress is done"),
        ("c2s", RESPONSES[0], "56 bytes wait in the server machine's buffer (1 more pipelined request) until the "
                              "response in progress is done"),
    ]
    assert all(p["states"] == {"client": "DONE", "server": "SEND_RESPONSE"} for p in paused)
    resumed = [line for line in lines if line["event"] == "resumed"]
    assert [(r["time"], r["text"]) for r in resumed] == [
        (RESPONSES[0], "the server machine reads its buffer again (PAUSED since 0.004785); the events below are "
                       "stamped with the time their bytes arrived"),
        (RESPONSES[1], "the server machine reads its buffer again (PAUSED since 0.006205); the events below are "
                       "stamped with the time their bytes arrived"),
    ]
    # each resumed step comes right after the keep-alive cycle that let the server machine read on
    for r in resumed:
        assert lines[lines.index(r) - 1]["event"] == "cycle"
        assert lines[lines.index(r) + 1]["event"] == "Request"


def test_plain_text_shows_the_pause_and_the_two_times(engine_name: str) -> None:
    result = CliRunner().invoke(main, ["replay", str(PIPELINING), "--no-headers", "--engine", engine_name])
    assert result.exit_code == 0
    assert ("[1]   0.004785 c2s paused: 93 bytes wait in the server machine's buffer (2 more pipelined requests) "
            "until the response in progress is done   client=DONE server=SEND_RESPONSE") in result.output
    assert "[1]   0.006205 c2s resumed: the server machine reads its buffer again" in result.output
    assert "[1]   0.004785 c2s Request GET /p2 HTTP/1.1" in result.output


def test_a_step_breakpoint_stops_at_the_pause(engine_name: str) -> None:
    result = CliRunner().invoke(main, ["replay", str(PIPELINING), "--step", "--engine", engine_name],
                                input="break paused\ncontinue\nquit\n")
    shown = result.output.rstrip().splitlines()
    assert "c2s paused: 93 bytes wait in the server machine's buffer" in shown[-2]  # the walk stopped there
    assert "Response" not in result.output
