"""Walking a replay step by step, with breakpoints: the UI-free half of ``h11dbg replay --step``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from h11dbg.replay.steps import ReplayStep

if TYPE_CHECKING:
    from h11dbg.engines import Engine

class Stepper:
    """Walks a replay step by step; breakpoints are step names compared without case."""

    def __init__(self, steps: Iterable[ReplayStep], engine: Engine) -> None:
        self._steps = iter(steps)
        self.engine = engine
        self.breakpoints: set[str] = {"error"}
        self.current: ReplayStep | None = None
        self.last_error: ReplayStep | None = None
        self.finished = False
        # per connection, each role's latest move: (old state, new state, rule id or None when the
        # engine does not explain), for the state diagram
        self.last_moves: dict[int, dict[str, tuple[str, str, str | None]]] = {}
        self._states: dict[int, dict[str, str]] = {}

    def next(self) -> ReplayStep | None:
        step = next(self._steps, None)
        if step is None:
            self.finished = True
            return None
        self.current = step
        if step.kind == "error":
            self.last_error = step
        moves = self.last_moves.setdefault(step.conn, {})
        if step.transitions:
            for transition in step.transitions:
                moves[str(transition.role).lower()] = (
                    str(transition.old_state), str(transition.new_state), transition.rule)
        elif step.states:
            before = self._states.get(step.conn, step.states)
            for role, new in step.states.items():
                if before.get(role, new) != new:
                    moves[role] = (before[role], new, None)
        if step.states:
            self._states[step.conn] = step.states
        return step

    def run(self, *, ignore_breakpoints: bool = False) -> Iterator[ReplayStep]:
        """Steps up to and including the next one that hits a breakpoint."""
        while True:
            step = self.next()
            if step is None:
                return
            yield step
            if not ignore_breakpoints and (step.event_name.lower() in self.breakpoints
                                           or step.timing is not None and "timing" in self.breakpoints):
                return
