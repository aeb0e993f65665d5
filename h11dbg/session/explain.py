"""``explain``: why each side is in its state, what may come next, and the last rule applied.

An explainable engine (h11dbg.protocol) answers with its own ``describe_state`` /
``allowed_events`` and Transition records.  For an engine without those hooks (h11) the tables
below stand in: they restate h11's documented state machine in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

from h11dbg.session.log import LogEntry

# (role, state) -> (one sentence, event class names that role may send next)
_FALLBACK: dict[tuple[str, str], tuple[str, tuple[str, ...]]] = {
    ("client", "IDLE"): ("the client has not started a request on this connection yet",
                         ("Request", "ConnectionClosed")),
    ("client", "SEND_BODY"): ("the client sent its request head and is sending the body",
                              ("Data", "EndOfMessage")),
    ("client", "DONE"): ("the client's request is complete; it waits for the response",
                         ("ConnectionClosed",)),
    ("client", "MUST_CLOSE"): ("the client's request is complete but keep-alive is off, so the "
                               "connection must close after this exchange", ("ConnectionClosed",)),
    ("client", "CLOSED"): ("the client closed its side of the connection", ("ConnectionClosed",)),
    ("client", "MIGHT_SWITCH_PROTOCOL"): ("the client proposed a protocol switch (Upgrade or CONNECT) and "
                                          "waits to see whether the server accepts", ()),
    ("client", "SWITCHED_PROTOCOL"): ("the server accepted the switch: the bytes are no longer HTTP/1.1", ()),
    ("client", "ERROR"): ("the client's side hit a protocol error; this connection cannot be used", ()),
    ("server", "IDLE"): ("the server waits for a request (it may still send an early error response)",
                         ("Response", "ConnectionClosed")),
    ("server", "SEND_RESPONSE"): ("the server received a request head and owes a response",
                                  ("InformationalResponse", "Response")),
    ("server", "SEND_BODY"): ("the server sent its response head and is sending the body",
                              ("Data", "EndOfMessage")),
    ("server", "DONE"): ("the server's response is complete", ("ConnectionClosed",)),
    ("server", "MUST_CLOSE"): ("the server's response is complete but keep-alive is off, so the "
                               "connection must close", ("ConnectionClosed",)),
    ("server", "CLOSED"): ("the server closed its side of the connection", ("ConnectionClosed",)),
    ("server", "SWITCHED_PROTOCOL"): ("the server accepted a protocol switch: the bytes are no longer "
                                      "HTTP/1.1", ()),
    ("server", "ERROR"): ("the server's side hit a protocol error; this connection cannot be used", ()),
}


def _engine_role(engine: ModuleType, role: str) -> Any:
    return engine.CLIENT if role == "client" else engine.SERVER


def _engine_state(engine: ModuleType, state: str) -> Any:
    return getattr(engine, state, state)


def describe_state(engine: ModuleType, role: str, state: str, explainable: bool) -> str:
    if explainable and hasattr(engine, "describe_state"):
        try:
            text = str(engine.describe_state(_engine_role(engine, role), _engine_state(engine, state)))
            prefix = f"{role.upper()}: "
            return text[len(prefix):] if text.startswith(prefix) else text
        except Exception:  # noqa: BLE001 - an engine hook failing must not break `explain`
            pass
    return _FALLBACK.get((role, state), (f"{role} is {state}", ()))[0]


def allowed_events(engine: ModuleType, role: str, state: str, explainable: bool) -> tuple[str, ...]:
    if explainable and hasattr(engine, "allowed_events"):
        try:
            return tuple(str(n) for n in engine.allowed_events(_engine_role(engine, role),
                                                               _engine_state(engine, state)))
        except Exception:  # noqa: BLE001 - fall back to our table
            pass
    return _FALLBACK.get((role, state), ("", ()))[1]


def _transition_line(t: Any) -> str:
    parts = [f"{str(t.role).lower()}: {t.old_state} -> {t.new_state} (cause {t.cause}, rule {t.rule})"]
    if getattr(t, "explanation", None):
        parts.append(str(t.explanation))
    if getattr(t, "section", None):
        parts.append(f"[{t.section}]")
    return " ".join(parts)


def last_rule(log: Sequence[LogEntry], actor: str) -> str | None:
    """The most recent rule(s) that moved a state (from Transition records, else from the log)."""
    for entry in reversed(log):
        if entry.actor != actor:
            continue
        if entry.kind == "error":
            # the error's own rule says more than the generic "-> ERROR" transition it caused
            line = f"{type(entry.error).__name__}: {entry.error}"
            rule, section = getattr(entry.error, "rule", None), getattr(entry.error, "section", None)
            if rule:
                line += f" (rule {rule}{', ' + section if section else ''})"
            return line
        if entry.transitions:
            # one event can move both roles (a Request moves the server to SEND_RESPONSE too)
            return "; ".join(_transition_line(t) for t in entry.transitions)
        if entry.states_before and entry.states_after and entry.states_before != entry.states_after:
            changed = [f"{role} {entry.states_before[role]} -> {entry.states_after[role]}"
                       for role in ("client", "server")
                       if entry.states_before.get(role) != entry.states_after.get(role)]
            if entry.kind == "event":
                verb = "sent" if entry.direction == ("c2s" if actor == "client" else "s2c") else "received"
                cause = f"{actor} {verb} {type(entry.event).__name__}"
            else:
                cause = entry.text or entry.kind
            return f"{cause}: {', '.join(changed)}"
    return None


def explain_lines(
    engine: ModuleType,
    conn: Any,
    actor: str,
    log: Sequence[LogEntry],
    explainable: bool,
    mode: str,
    buffered: int,
) -> list[str]:
    lines: list[str] = []
    states = {role: str(conn.states[_engine_role(engine, role)]) for role in ("client", "server")}
    if mode == "loopback":
        lines.append(f"(as seen by the {actor}'s connection)")
    for role in ("client", "server"):
        who = "we" if role == actor else "peer"
        state = states[role]
        lines.append(f"{role} ({who}) is {state}: {describe_state(engine, role, state, explainable)}")
    ours = allowed_events(engine, actor, states[actor], explainable)
    lines.append(f"{actor} may send next: {', '.join(ours) if ours else 'nothing'}")
    peer = "server" if actor == "client" else "client"
    theirs = allowed_events(engine, peer, states[peer], explainable)
    lines.append(f"{peer} may send next: {', '.join(theirs) if theirs else 'nothing'}")
    if states["client"] == "DONE" and states["server"] == "DONE":
        lines.append("both sides are DONE: `cycle` starts the next request/response on this connection")
    if buffered and "SWITCHED_PROTOCOL" in states.values():
        lines.append(f"{buffered} bytes arrived after the protocol switch (trailing_data): they are not HTTP/1.1")
    elif buffered:
        lines.append(f"{buffered} bytes received but not parsed yet: `next` parses one event")
    if getattr(conn, "they_are_waiting_for_100_continue", False):
        lines.append("the client sent Expect: 100-continue and waits for a 100 response or the final one")
    if getattr(conn, "client_is_waiting_for_100_continue", False) and actor == "client":
        lines.append("we sent Expect: 100-continue: `run` to see whether the server answers 100 Continue")
    rule = last_rule(log, actor)
    lines.append(f"last rule applied: {rule}" if rule else "last rule applied: none yet")
    return lines
