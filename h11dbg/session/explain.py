"""``explain``: the facts of why each side is in its state, what may come next, and the last rule
applied (h11dbg.output.text.explanation_lines words them).

What a state means and which events may follow is a fact of HTTP/1.1's state machine, the same
for every engine with h11's API, so it is read from h11dbg.protocol's tables by state name
whichever engine runs the session (h11 has no such tables).  The last rule applied comes from
the engine's Transition records, which only h11dbg.protocol provides.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from h11dbg import protocol
from h11dbg.session.log import LogEntry
from h11dbg.transcript.model import ROLES, Role

if TYPE_CHECKING:
    from h11dbg.engines import Engine, Machine, Sentinel
    from h11dbg.protocol._state import Role as ProtocolRole
    from h11dbg.protocol._state import State as ProtocolState
    from h11dbg.session.hints import Suggestion


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


class Explanation(NamedTuple):
    """What ``explain`` shows, as facts (h11dbg.output.text words them): the states as the actor's
    machine sees them, what is buffered, the 100-continue waits, and the entry that last moved a state."""

    actor: Role
    loopback: bool
    states: dict[str, str]
    buffered: int
    peer_waits_for_100: bool
    we_wait_for_100: bool
    last: LogEntry | None
    suggestions: tuple[Suggestion, ...] = ()  # what to type next (h11dbg.session.hints)


def last_change(log: Sequence[LogEntry], actor: Role) -> LogEntry | None:
    """The actor's most recent entry that moved a state: an error, one with Transition records, or
    one whose states before and after differ."""
    for entry in reversed(log):
        if entry.actor != actor:
            continue
        if entry.kind == "error" or entry.transitions or (
                entry.states_before and entry.states_after and entry.states_before != entry.states_after):
            return entry
    return None


def explain(engine: Engine, machine: Machine, actor: Role, log: Sequence[LogEntry], mode: str,
            buffered: int, suggestions: tuple[Suggestion, ...] = ()) -> Explanation:
    states: dict[str, str] = {role: str(machine.states[engine_role(engine, role)]) for role in ROLES}
    return Explanation(actor, mode == "loopback", states, buffered, machine.they_are_waiting_for_100_continue,
                       machine.client_is_waiting_for_100_continue and actor == "client", last_change(log, actor),
                       suggestions)
