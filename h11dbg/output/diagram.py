"""The state diagram: both roles' state machines, where each side is now and the move that took it there.

Drawn from the engine's own table (:func:`h11dbg.protocol.state_machine`, which a test holds to the moves
the engine makes), so the picture cannot disagree with the engine.  One line per state, its moves grouped
by where they lead::

    CLIENT
    ● SEND_BODY             Data ↺ · EndOfMessage → DONE
      DONE                  ★ EndOfMessage …

``●`` marks the state each side is in, ``★`` the move it made last.  Plain lines here; the REPL styles
the same lines (:func:`h11dbg.output.rich.diagram`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, NamedTuple

from h11dbg.protocol import CLIENT, ERROR, IDLE, SERVER, state_machine

if TYPE_CHECKING:
    from h11dbg.protocol import Edge, Transition
    from h11dbg.session.log import LogEntry

NAME = 24  # a marker, a space, MIGHT_SWITCH_PROTOCOL and a space
NOW, LAST = "●", "★"


class Move(NamedTuple):
    """Where one role's state went last: from ``old`` to ``new``, by ``rule`` when the engine said."""

    old: str
    new: str
    rule: str | None = None


class Line(NamedTuple):
    """One state of a role: whether the role is in it, and its moves as ``(text, made last)``."""

    role: str
    state: str
    now: bool
    moves: tuple[tuple[str, bool], ...]


# the order a learner meets the states in; a state the role's table does not have is left out
_LIFECYCLE = ("IDLE", "SEND_RESPONSE", "SEND_BODY", "DONE", "MUST_CLOSE", "CLOSED", "MIGHT_SWITCH_PROTOCOL",
              "SWITCHED_PROTOCOL", "ERROR")


def _ordered(edges: tuple[Edge, ...]) -> list[str]:
    present = {str(edge.old_state) for edge in edges} | {str(edge.new_state) for edge in edges} | {str(ERROR)}
    return [state for state in _LIFECYCLE if state in present]


def lines(states: Mapping[str, str], last: Mapping[str, Move]) -> Iterator[Line]:
    """Both roles' diagrams: ``states`` as ``{"client": "IDLE", ...}``, ``last`` the move each made last."""
    for role in (CLIENT, SERVER):
        name = str(role).lower()
        edges = state_machine(role)
        move = last.get(name)
        for state in _ordered(edges):
            targets: dict[str, list[str]] = {}
            made: set[str] = set()
            for edge in edges:
                if str(edge.old_state) != state:
                    continue
                new = str(edge.new_state)
                targets.setdefault(new, []).append(edge.trigger)
                if (move is not None and move.old == state and move.new == new
                        and (move.rule is None or move.rule == edge.rule)):
                    made.add(new)
            texts = tuple(
                (f"{' | '.join(triggers)} ↺" if new == state else f"{' | '.join(triggers)} → {new}", new in made)
                for new, triggers in targets.items()
            )
            if state == str(ERROR):
                errored = move is not None and move.new == state
                texts = ((f"from {move.old}, on a protocol error" if errored and move is not None
                          else "any state, on a protocol error", errored),)
            elif not texts:
                texts = (("none: the connection speaks another protocol now",
                          False),) if state == "SWITCHED_PROTOCOL" else (("none", False),)
            yield Line(name, state, states.get(name) == state, texts)


def note_moves(found: dict[str, Move], transitions: Iterable[Transition], before: Mapping[str, str],
               after: Mapping[str, str]) -> None:
    """Record in ``found`` each role's move in one step: the engine's transitions, or (an engine that
    does not explain) the states before and after."""
    explained = False
    for transition in transitions:
        explained = True
        found[str(transition.role).lower()] = Move(str(transition.old_state), str(transition.new_state),
                                                   transition.rule)
    if not explained:
        for role, new in after.items():
            old = before.get(role, new)
            if old != new:
                found[role] = Move(str(old), str(new))


def last_moves(entries: Iterable[LogEntry]) -> dict[str, Move]:
    """Each role's latest move in a session's log, with its rule where the engine explains."""
    found: dict[str, Move] = {}
    for entry in entries:
        note_moves(found, entry.transitions, entry.states_before, entry.states_after)
    return found


def current_states(entries: list[LogEntry]) -> dict[str, str]:
    for entry in reversed(entries):
        if entry.states_after:
            return dict(entry.states_after)
    return {"client": str(IDLE), "server": str(IDLE)}


def wrapped(line: Line, width: int) -> list[list[tuple[str, bool]]]:
    """A state's moves in rows that fit ``width`` beside the state's name; a move is never split."""
    room = width - NAME - 2
    rows: list[list[tuple[str, bool]]] = [[]]
    used = 0
    for text, last in line.moves:
        size = len(text) + (2 if last else 0)
        if rows[-1] and used + 3 + size > room:
            rows.append([])
            used = 0
        used += size + (3 if rows[-1] else 0)
        rows[-1].append((text, last))
    return rows


def head(line: Line) -> str:
    return f"{NOW if line.now else ' '} {line.state}".ljust(NAME)


def title(role: str) -> str:
    return f"{role.upper()}   ({NOW} now, {LAST} last move)"


def text_lines(diagram: Iterable[Line], width: int = 80) -> Iterator[str]:
    """The diagram as plain lines."""
    role = None
    for line in diagram:
        if line.role != role:
            role = line.role
            yield title(role)
        for number, row in enumerate(wrapped(line, width)):
            moves = " · ".join(f"{LAST} {text}" if last else text for text, last in row)
            yield f"  {head(line) if number == 0 else ' ' * NAME}{moves}".rstrip()
