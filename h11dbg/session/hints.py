"""What to type next: the one place a hint comes from.

:func:`suggestions` reads the acting side's machine (both states, the 100-continue waits), what is
buffered, the socket (half-closed, closed), what this side's message still owes (Content-Length)
and, in loopback, the other side's machine, and returns the commands that work from there, each
with its reason.  Notes that end in a hint (PAUSED, NEED_DATA, nothing to run) and ``explain``
carry these; h11dbg.output renders them, and the REPL's completion offers the same commands.
tests/session/test_hints.py walks every reachable situation in loopback and runs each one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from h11dbg.transcript.model import other_role

if TYPE_CHECKING:
    from h11dbg.session.core import Session, Side
    from h11dbg.session.log import LogEntry

# A body this short is suggested as literal text (``data xxx``); a longer one needs a file.
_LITERAL_BODY = 32
# States from which next_event() gives nothing more (PAUSED) until something else happens.
_PEER_PAUSED = ("DONE", "MIGHT_SWITCH_PROTOCOL", "SWITCHED_PROTOCOL")


@dataclass(frozen=True)
class Suggestion:
    """A command that works now (``command`` as typed) and what it does from here (``reason``, a
    verb phrase: "`cycle` starts the next request/response").  ``waits``: it reads from the peer, so
    it may find nothing yet (a timeout, not an error)."""

    command: str
    reason: str
    waits: bool = False


def _states(session: Session, side: Side) -> tuple[str, str]:
    states = side.machine.states
    ours = str(states[session.engine.CLIENT if side.role == "client" else session.engine.SERVER])
    theirs = str(states[session.engine.SERVER if side.role == "client" else session.engine.CLIENT])
    return ours, theirs


def body_left(session: Session, side: Side) -> int | None:
    """Bytes this side's current message still owes by its framing; None when it has no length
    (chunked, or delimited by the close).  Read from the log: what was sent since the last head."""
    sent = 0
    entries = [e for e in session.log if e.conn == session.conn_id and e.actor == side.role
               and e.kind == "event"]
    for index in range(len(entries) - 1, -1, -1):
        entry = entries[index]
        kind = type(entry.event).__name__
        if entry.direction != side.out_direction:
            continue
        if kind == "Data":
            sent += len(entry.event.data)
        elif kind in ("Request", "Response"):
            if kind == "Response" and (entry.event.status_code in (204, 304) or _answers_head(entries[:index])):
                return 0
            for name, value in entry.event.headers:
                if bytes(name).lower() == b"transfer-encoding":
                    return None
                if bytes(name).lower() == b"content-length":
                    return max(int(value) - sent, 0)
            # a request without framing has no body; a response's lasts until it is chunked or closed
            return 0 if kind == "Request" else None
    return None


def _answers_head(earlier: list[LogEntry]) -> bool:
    request = next((e.event for e in reversed(earlier) if type(e.event).__name__ == "Request"), None)
    return request is not None and bytes(request.method) == b"HEAD"


def _needs_more(session: Session, side: Side) -> bool:
    """The last thing this side parsed was NEED_DATA: the buffered bytes are not a whole event."""
    for entry in reversed(session.log):
        if entry.actor == side.role and entry.kind in ("note", "received", "event", "error", "eof"):
            return entry.kind == "note" and entry.event is session.engine.NEED_DATA
    return False


def _body(session: Session, side: Side, message: str) -> list[Suggestion]:
    left = body_left(session, side)
    if left is None:
        return [Suggestion("data hello", f"sends a piece of the {message}'s body"),
                Suggestion("eom", f"ends the {message}")]
    if left == 0:
        return [Suggestion("eom", f"ends the {message} (its Content-Length is all sent)")]
    if left <= _LITERAL_BODY:
        return [Suggestion(f"data {'x' * left}", f"sends the {left} bytes Content-Length still owes")]
    return [Suggestion("data @FILE", f"sends a file of the {left} bytes Content-Length still owes")]


def _cycle_ready(session: Session) -> bool:
    """``cycle`` resets every machine the session has (both in loopback): all must be DONE/DONE."""
    roles = ("client", "server") if session.mode == "loopback" else (session.actor,)
    return all(_states(session, session.sides[role]) == ("DONE", "DONE") for role in roles
               if role in session.sides)


def suggestions(session: Session, actor: str | None = None) -> list[Suggestion]:
    """The commands that work for ``actor`` (default: the side we act as) right now, best first."""
    role = actor or session.actor
    side = session.sides.get(role)  # type: ignore[call-overload]
    if side is None:
        return [Suggestion("accept", "waits for a client", waits=True)] if session.mode == "listen" else []
    found = _suggest(session, side)
    if session.mode == "loopback" and not any(not s.waits for s in found):
        # the other side is where things can move: its turn to send, or to read what we sent
        other = other_role(side.role)
        if any(not s.waits for s in _suggest(session, session.sides[other])):
            found.insert(0, Suggestion(f"as {other}", f"acts as the {other}, whose move it is"))
    return found


def _suggest(session: Session, side: Side) -> list[Suggestion]:
    ours, theirs = _states(session, side)
    peer = other_role(side.role)
    new_connection = [Suggestion("accept", "closes this connection and waits for the next client", waits=True)] \
        if session.mode == "listen" else []
    if session.mode == "connect":
        new_connection = [Suggestion("reconnect", "opens a new connection to the same server")]
    if side.transport.closed or ours == "ERROR":
        return new_connection  # nothing more can happen on this connection
    buffered = len(side.machine.trailing_data[0])
    if theirs == "ERROR":
        if side.role == "server" and ours in ("IDLE", "SEND_RESPONSE"):
            return [Suggestion("response 400", "tells the client its request was malformed, as a server "
                                               "would")]
        if ours == "SEND_BODY":
            return _body(session, side, "our message")
        if ours in ("IDLE", "DONE", "MUST_CLOSE", "CLOSED") and not side.transport.write_closed:
            return [Suggestion("close", f"closes our side: nothing more can be read from a {peer} in ERROR")]
        return new_connection
    found: list[Suggestion] = []
    # what we owe: our turn to send
    if side.role == "client" and ours == "IDLE" and theirs == "IDLE":
        found.append(Suggestion("request GET /", "sends a request"))
    elif side.role == "server" and ours == "SEND_RESPONSE":
        if side.machine.they_are_waiting_for_100_continue:
            found.append(Suggestion("info 100", "lets the client send its body (100 Continue)"))
        found.append(Suggestion("response 200", "answers the request"))
    elif ours == "SEND_BODY":
        found += _body(session, side, "request" if side.role == "client" else "response")
    elif ours == "DONE" and theirs == "DONE":
        if _cycle_ready(session):
            found.append(Suggestion("cycle", "starts the next request/response on this connection"))
    elif ours == "MUST_CLOSE" and not side.transport.write_closed:
        found.append(Suggestion("close", "closes our side: this connection cannot be reused"))
    # what they owe: our turn to read
    if theirs in ("CLOSED", "ERROR") or side.transport.eof and not buffered:
        return found
    if theirs in _PEER_PAUSED:
        return found
    if ours == "MIGHT_SWITCH_PROTOCOL":
        found.append(Suggestion("run", "waits for the server to accept (101) or decline the protocol switch",
                                waits=True))
    elif buffered and not _needs_more(session, side):
        found.append(Suggestion("next", f"parses the next event from the {buffered} bytes received"))
    elif side.role == "client" and ours == "SEND_BODY" and side.machine.client_is_waiting_for_100_continue:
        found.append(Suggestion("run", "waits to see whether the server answers 100 Continue", waits=True))
    elif _owed(side.role, ours, theirs):
        wanted = {"IDLE": "request", "SEND_RESPONSE": "response", "SEND_BODY": "message's body"}.get(
            theirs, "message")
        found.append(Suggestion("run", f"reads the {peer}'s {wanted} until it is complete", waits=True))
    return found


def _owed(role: str, ours: str, theirs: str) -> bool:
    """The peer still owes a message we can take: a request a server has not answered yet (a
    server that already answered, or closed, would fail on it), a client's body, a response."""
    if role == "server":
        return theirs == "SEND_BODY" or theirs == "IDLE" and ours == "IDLE"
    return theirs in ("SEND_RESPONSE", "SEND_BODY") and ours != "SWITCHED_PROTOCOL"


# What each event the engine may send next is typed as.
_SEND_COMMANDS = {"Request": "request", "Response": "response", "InformationalResponse": "info",
                  "Data": "data", "EndOfMessage": "eom", "ConnectionClosed": "close"}
_GATED = frozenset(_SEND_COMMANDS.values()) | {"raw", "recv", "next", "run", "cycle"}


def legal_commands(session: Session) -> list[str]:
    """The session commands that make sense for the side we act as right now, the suggested ones
    first: the events its state allows (a server answers only a request it owes, unless the
    client broke the protocol), reading while the peer may still send, `cycle` once both are
    DONE, and the views, which always work."""
    from h11dbg.session.commands import COMMANDS  # (commands builds on the session, which uses hints)
    from h11dbg.session.explain import allowed_events

    names = [s.command.split()[0] for s in suggestions(session)]
    # the rest (views, `as`, `accept`, `save`, `quit` ...) work in any state of their mode
    others = [name for name, info in COMMANDS.items() if name not in _GATED and session.mode in info.modes]
    side = session.sides.get(session.actor)
    if side is None or side.transport.closed:
        return list(dict.fromkeys(names + others))
    ours, theirs = _states(session, side)
    if not side.transport.write_closed:
        for event in allowed_events(side.role, ours):
            if event in ("Response", "InformationalResponse") and ours == "IDLE" and theirs != "ERROR":
                continue  # h11 lets a server in IDLE answer only a request that could not be parsed
            names.append(_SEND_COMMANDS[event])
        names.append("raw")
    buffered = bool(side.machine.trailing_data[0])
    owed = ours == "MIGHT_SWITCH_PROTOCOL" or theirs not in _PEER_PAUSED and _owed(side.role, ours, theirs)
    if owed and not side.transport.eof:
        names.append("recv")
    if theirs != "ERROR" and (buffered or owed and not side.transport.eof):
        names += ["next", "run"]
    if ours == theirs == "DONE":
        names.append("cycle")
    return list(dict.fromkeys(names + others))
