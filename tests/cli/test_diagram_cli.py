"""The state diagram from the CLI: `diagram` in a script, `--diagram` on loopback, demo and
`replay --step`, always drawn from the engine's own table (h11dbg.protocol.state_machine)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from h11dbg import protocol

TRANSCRIPTS = Path(__file__).resolve().parents[2] / "transcripts"
TITLE = re.compile(r"^(?:replay> )?(CLIENT|SERVER)   \(● now, ★ last move\)$")


def h11dbg(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "h11dbg", *args], input=stdin, capture_output=True, text=True,
                          timeout=60, check=False)


def diagrams(stdout: str) -> list[dict[str, list[str]]]:
    """Each diagram drawn: role -> its lines (state lines and their wrapped moves)."""
    found: list[dict[str, list[str]]] = []
    role = None
    for line in stdout.splitlines():
        title = TITLE.match(line)
        if title:
            role = title[1].lower()
            if role == "client":
                found.append({})
            found[-1][role] = []
        elif role is not None and line.startswith("  "):
            found[-1][role].append(line)
        else:
            role = None
    return found


def now(drawn: list[str]) -> str:
    """The state marked ● (there is exactly one)."""
    marked = [line.split()[1] for line in drawn if line.startswith("  ●")]
    assert len(marked) == 1, drawn
    return marked[0]


def last(drawn: list[str]) -> list[str]:
    """The moves marked ★."""
    return ["★" + move.split("★", 1)[1].rstrip() for line in drawn for move in line.split(" · ") if "★" in move]


def test_every_move_of_the_engine_is_drawn() -> None:
    done = h11dbg("loopback", stdin="diagram\n")
    assert done.returncode == 0, done.stderr
    [drawn] = diagrams(done.stdout)
    for role in (protocol.CLIENT, protocol.SERVER):
        text = " ".join(" ".join(drawn[str(role).lower()]).split())
        for edge in protocol.state_machine(role):
            if edge.old_state is edge.new_state:
                assert f"{edge.trigger} ↺" in text or f"| {edge.trigger}" in text, edge
            else:
                assert edge.trigger in text and f"→ {edge.new_state}" in text, edge
        assert now(drawn[str(role).lower()]) == "IDLE"


def test_loopback_diagram_follows_each_move() -> None:
    script = "request GET /\neom\nas server\nrun\nresponse 200 Content-Length: 2\ndata hi\neom\nstates\n"
    done = h11dbg("loopback", "--diagram", stdin=script)
    assert done.returncode == 0, done.stderr
    drawn = diagrams(done.stdout)
    # one diagram per command that moved a state: request, eom, run (the server's view), response, eom
    assert [(now(d["client"]), now(d["server"])) for d in drawn] == [
        ("SEND_BODY", "SEND_RESPONSE"), ("DONE", "SEND_RESPONSE"), ("DONE", "SEND_RESPONSE"),
        ("DONE", "SEND_BODY"), ("DONE", "DONE"),
    ]
    assert last(drawn[0]["client"]) == ["★ Request → SEND_BODY"]
    assert last(drawn[0]["server"]) == ["★ client's Request → SEND_RESPONSE"]
    assert last(drawn[-1]["server"]) == ["★ EndOfMessage → DONE"]


def test_a_protocol_error_is_marked_from_where_it_came() -> None:
    done = h11dbg("loopback", "--diagram", stdin="data too early\n")
    assert done.returncode == 1
    [drawn] = diagrams(done.stdout)
    assert now(drawn["client"]) == "ERROR"
    assert last(drawn["client"]) == ["★ from IDLE, on a protocol error"]


def test_demo_draws_the_diagram_too() -> None:
    done = h11dbg("demo", "--diagram", stdin="request GET /\neom\nrun\n")
    assert done.returncode == 0, done.stderr
    assert [(now(d["client"]), now(d["server"])) for d in diagrams(done.stdout)][-1] == ("DONE", "DONE")


def test_replay_step_diagram() -> None:
    done = h11dbg("replay", "--step", "--diagram", str(TRANSCRIPTS / "smuggle-cl-te-raw-node.h11t"),
                  stdin="next 2\ndiagram\nquit\n")
    assert done.returncode == 1
    drawn = diagrams(done.stdout)
    assert len(drawn) == 2  # after the walk that hit the error, and when asked
    assert drawn[0] == drawn[1]
    assert now(drawn[0]["client"]) == "ERROR" and now(drawn[0]["server"]) == "IDLE"
    assert last(drawn[0]["client"]) == ["★ from IDLE, on a protocol error"]


@pytest.mark.parametrize("args", [("replay", "--diagram", str(TRANSCRIPTS / "smuggle-cl-te-raw-node.h11t"))])
def test_diagram_without_step_is_a_usage_error(args: tuple[str, ...]) -> None:
    done = h11dbg(*args)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "--step" in done.stderr
