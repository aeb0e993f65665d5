"""``explain``: why each side is in its state, what may come next, and the last rule applied.

What a state means and which events may follow is a fact of HTTP/1.1's state machine, the same
for every engine with h11's API, so it is read from h11dbg.protocol's tables by state name
whichever engine runs the session (h11 has no such tables).  The last rule applied comes from
the engine's Transition records, which only h11dbg.protocol provides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from h11dbg import protocol
from h11dbg.session.log import LogEntry
from h11dbg.transcript.model import ROLES, Role, other_role, sent_by

if TYPE_CHECKING:
    from h11dbg.engines import Engine, Machine, Sentinel
    from h11dbg.protocol import Transition
    from h11dbg.protocol._state import Role as ProtocolRole
    from h11dbg.protocol._state import State as ProtocolState


def engine_role(engine: Engine, role: Role) -> Sentinel:
    """The engine's CLIENT or SERVER for ``role``."""
    return engine.CLIENT if role == "client" else engine.SERVER


def _sentinels(role: str, state: str) -> tuple[ProtocolRole, ProtocolState] | None:
    found: ProtocolState | None = getattr(protocol, state, None)
    if found is None or not isinstance(found, type):
        return None
    return (protocol.CLIENT if role == "client" else protocol.SERVER), found


def describe_state(role: str, state: str) -> str:
    pair = _sentinels(role, state)
    if pair is None:
        return f"{role} is {state}"
    text = protocol.describe_state(*pair)
    prefix = f"{role.upper()}: "
    return text[len(prefix):] if text.startswith(prefix) else text


def allowed_events(role: str, state: str) -> tuple[str, ...]:
    pair = _sentinels(role, state)
    return protocol.allowed_events(*pair) if pair is not None else ()


def _transition_line(t: Transition) -> str:
    parts = [f"{str(t.role).lower()}: {t.old_state} -> {t.new_state} (cause {t.cause}, rule {t.rule})"]
    if getattr(t, "explanation", None):
        parts.append(str(t.explanation))
    if getattr(t, "section", None):
        parts.append(f"[{t.section}]")
    return " ".join(parts)


def last_rule(log: Sequence[LogEntry], actor: Role) -> str | None:
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
                       for role in ROLES
                       if entry.states_before.get(role) != entry.states_after.get(role)]
            if entry.kind == "event":
                verb = "sent" if entry.direction == sent_by(actor) else "received"
                cause = f"{actor} {verb} {type(entry.event).__name__}"
            else:
                cause = entry.text or entry.kind
            return f"{cause}: {', '.join(changed)}"
    return None


def explain_lines(
    engine: Engine,
    machine: Machine,
    actor: Role,
    log: Sequence[LogEntry],
    explainable: bool,
    mode: str,
    buffered: int,
) -> list[str]:
    lines: list[str] = []
    states = {role: str(machine.states[engine_role(engine, role)]) for role in ROLES}
    if mode == "loopback":
        lines.append(f"(as seen by the {actor}'s connection)")
    for role in ROLES:
        who = "we" if role == actor else "peer"
        state = states[role]
        lines.append(f"{role} ({who}) is {state}: {describe_state(role, state)}")
    ours = allowed_events(actor, states[actor])
    lines.append(f"{actor} may send next: {', '.join(ours) if ours else 'nothing'}")
    peer = other_role(actor)
    theirs = allowed_events(peer, states[peer])
    lines.append(f"{peer} may send next: {', '.join(theirs) if theirs else 'nothing'}")
    if states["client"] == "DONE" and states["server"] == "DONE":
        lines.append("both sides are DONE: `cycle` starts the next request/response on this connection")
    if buffered and "SWITCHED_PROTOCOL" in states.values():
        lines.append(f"{buffered} bytes arrived after the protocol switch (trailing_data): they are not HTTP/1.1")
    elif buffered:
        lines.append(f"{buffered} bytes received but not parsed yet: `next` parses one event")
    if machine.they_are_waiting_for_100_continue:
        lines.append("the client sent Expect: 100-continue and waits for a 100 response or the final one")
    if machine.client_is_waiting_for_100_continue and actor == "client":
        lines.append("we sent Expect: 100-continue: `run` to see whether the server answers 100 Continue")
    rule = last_rule(log, actor)
    lines.append(f"last rule applied: {rule}" if rule else "last rule applied: none yet")
    return lines
