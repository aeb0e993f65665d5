"""Every hint works when followed: explore loopback sessions by command sequences, and at every
reachable situation (the side we act as, both machines' states, what is buffered, the sockets) run
each suggested command on a fresh session brought there, and check that it did what it said."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator

import pytest

from h11dbg.session.commands import execute
from h11dbg.session.core import Session
from h11dbg.session.hints import Suggestion, suggestions
from h11dbg.session.log import LogEntry
from h11dbg.transcript.model import other_role, sent_by

READ_TIMEOUT = 0.005  # a loopback peer's bytes are already there; waiting longer only slows the walk
MAX_DEPTH = 7
# What a user does besides following hints: every kind of message, framing, and malformed input.
MOVES = (
    "as client", "as server",
    "request GET /", "request POST / Content-Length: 3", "request POST / Transfer-Encoding: chunked",
    "request POST / Content-Length: 3 Expect: 100-continue", "request GET / Connection: close",
    "request GET / Upgrade: websocket Connection: Upgrade", "request HEAD /",
    "data abc", "eom", "info 101 Upgrade: websocket Connection: Upgrade",
    "response 200 Content-Length: 2", "response 204", "close", "recv", "next", "run", "cycle",
    "raw GET /a HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /b HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n",
    "raw BAD\\r\\n\\r\\n",
)  # fmt: skip


def situation(session: Session) -> tuple[object, ...]:
    """What a hint depends on: the side we act as, both states as its machine sees them, whether
    input is buffered, its socket, and the other machine's states (loopback's `cycle` resets both)."""
    side = session.sides[session.actor]
    t = side.transport
    return (session.actor, tuple(session.states().values()), bool(side.machine.trailing_data[0]),
            t.eof, t.write_closed, t.closed, tuple(session.states(session.their_role()).values()),
            tuple(s.command for s in suggestions(session)))


def brought_to(path: tuple[str, ...], engine: str) -> Session:
    session = Session.loopback(engine, timeout=READ_TIMEOUT)
    for line in path:
        execute(session, line)
    return session


def reachable(engine: str) -> Iterator[tuple[tuple[str, ...], Session]]:
    """Each situation once, with the shortest command sequence that reaches it (breadth first)."""
    start = Session.loopback(engine, timeout=READ_TIMEOUT)
    seen = {situation(start)}
    start.close()
    queue: deque[tuple[str, ...]] = deque([()])
    while queue:
        path = queue.popleft()
        session = brought_to(path, engine)
        yield path, session
        moves = list(MOVES) + [s.command for s in suggestions(session)]
        session.close()
        if len(path) >= MAX_DEPTH:
            continue
        for move in dict.fromkeys(moves):
            after = brought_to(path + (move,), engine)
            key = situation(after)
            after.close()
            if key not in seen:
                seen.add(key)
                queue.append(path + (move,))


def found_broken(error: LogEntry) -> bool:
    """An error the peer's bytes caused, found by parsing them (not the engine refusing to read on)."""
    assert error.actor is not None
    peer = other_role(error.actor)
    return error.direction == sent_by(peer) and error.states_before.get(peer) != "ERROR"


def followed(path: tuple[str, ...], key: tuple[object, ...], hint: Suggestion, engine: str) -> str | None:
    """Run ``hint`` where ``path`` leads (the situation ``key``); what went wrong, or None."""
    session = brought_to(path, engine)
    for _ in range(5):
        # a read that waits a few milliseconds can end early on a busy machine: take the walk again
        if situation(session) == key:
            break
        session.close()
        session = brought_to(path, engine)
    try:
        before, mark, timeouts = situation(session), len(session.log), session.timeouts
        assert before == key, f"{path} did not lead to the same situation twice"
        result = execute(session, hint.command)
        if result.error:
            return f"usage error: {result.error}"
        new = session.log[mark:]
        # parsing that finds the peer's bytes broken did what it said; any other error is the hint's
        errors = [e.text for e in new if e.kind == "error" and not found_broken(e)]
        if errors:
            return f"protocol error: {errors[0]}"
        if hint.waits:
            return None
        if session.timeouts != timeouts:
            return "it waited for the peer, and the hint did not say it would"
        moved = situation(session) != before or any(e.kind in ("event", "state", "received", "eof")
                                                    for e in new)
        return None if moved else f"nothing moved: {[e.text for e in new]}"
    finally:
        session.close()


@pytest.mark.timeout(300)
def test_every_hint_in_every_reachable_situation_works(engine_name: str) -> None:
    failures = []
    situations = 0
    started = time.monotonic()
    for path, session in reachable(engine_name):
        situations += 1
        key = situation(session)
        for hint in suggestions(session):
            if hint.command.endswith("@FILE"):
                continue  # a placeholder the user fills in (a body longer than a line)
            problem = followed(path, key, hint, engine_name)
            if problem:
                failures.append(f"{' ; '.join(path) or '(start)'} => {hint.command}: {problem}")
    print(f"{situations} situations in {time.monotonic() - started:.1f} s")
    assert situations > 50
    assert not failures, "\n".join(failures[:40]) + f"\n({len(failures)} in all)"
