"""The same transcript through two engines: per connection, the first step where they part."""

from __future__ import annotations

from typing import TYPE_CHECKING

from h11dbg.replay.machines import Replayer
from h11dbg.replay.steps import ReplayStep
from h11dbg.transcript.model import Record

if TYPE_CHECKING:
    from h11dbg.engines import Engine

# -- diff: the same transcript through two engines -------------------------------------------

_QUEUE_LIMIT = 10_000  # steps one engine may run ahead on a connection before it counts as a difference


def _step_key(step: ReplayStep) -> tuple[object, ...]:
    """What must match between engines: the step, its event's fields, the states, and for an error
    its class, status hint, rule and message (an engine that crashes and one that refuses the bytes
    do not agree); not offsets or transitions (h11 has none of those)."""
    if step.kind == "event":
        event = step.event
        if type(event).__name__ == "Data":
            detail: tuple[object, ...] = (bytes(event.data), bool(getattr(event, "chunk_start", False)),
                           bool(getattr(event, "chunk_end", False)))
        else:
            detail = _head_key(event)
        return ("event", step.direction, type(event).__name__, detail, tuple(step.states.items()))
    if step.kind == "error":
        error = step.error
        return ("error", step.direction, type(error).__name__, getattr(error, "error_status_hint", None),
                getattr(error, "rule", None), str(error), step.text, tuple(step.states.items()))
    return (step.kind, step.direction, tuple(step.states.items()), tuple((step.tunnelled or {}).items()))


def _head_key(event: object) -> tuple[object, ...]:
    """An event with a head (start line, headers or trailers) as comparable values."""
    fields = tuple(bytes(getattr(event, name)) for name in ("method", "target", "reason", "http_version")
                   if hasattr(event, name))
    headers = getattr(event, "headers", None)
    raw = () if headers is None else headers.raw_items()  # both engines' Headers keep the wire order
    return (*fields, getattr(event, "status_code", None), tuple((bytes(n), bytes(v)) for n, v in raw))


class Difference:
    """Where two engines first part ways on a connection."""

    __slots__ = ("conn", "index", "first", "second")

    def __init__(self, conn: int, index: int, first: ReplayStep | None, second: ReplayStep | None) -> None:
        self.conn = conn
        self.index = index  # the step number on that connection (0-based) where the engines part ways
        self.first = first  # None: this engine had no more steps
        self.second = second

    def __repr__(self) -> str:
        return f"Difference(conn={self.conn}, index={self.index}, first={self.first!r}, second={self.second!r})"


class _Pending:
    __slots__ = ("first", "second", "matched")

    def __init__(self) -> None:
        self.first: list[ReplayStep] = []
        self.second: list[ReplayStep] = []
        self.matched = 0


class EngineDiff:
    """Feeds the same records to two replays and reports, per connection, the first difference."""

    def __init__(self, first: Engine, second: Engine) -> None:
        self._replays = (Replayer(first), Replayer(second))
        self._pending: dict[int, _Pending] = {}
        self._settled: set[int] = set()
        self.identical: dict[int, int] = {}  # conn -> steps compared, for connections that ended equal
        self.differences: list[Difference] = []

    def feed(self, record: Record) -> list[Difference]:
        first = self._replays[0].feed(record)
        second = self._replays[1].feed(record)
        return self._compare(first, second)

    def finish(self) -> list[Difference]:
        found = self._compare(self._replays[0].finish(), self._replays[1].finish())
        for conn, pending in list(self._pending.items()):
            found += self._settle(conn, pending, final=True)
        return found

    def _compare(self, first: list[ReplayStep], second: list[ReplayStep]) -> list[Difference]:
        touched: set[int] = set()
        for steps, side in ((first, "first"), (second, "second")):
            for step in steps:
                if step.conn in self._settled:
                    continue
                getattr(self._pending.setdefault(step.conn, _Pending()), side).append(step)
                touched.add(step.conn)
        found: list[Difference] = []
        for conn in touched:
            found += self._settle(conn, self._pending[conn], final=False)
        return found

    def _settle(self, conn: int, pending: _Pending, *, final: bool) -> list[Difference]:
        a, b = pending.first, pending.second
        same = 0
        while same < len(a) and same < len(b) and _step_key(a[same]) == _step_key(b[same]):
            same += 1
        ended = same > 0 and a[same - 1].kind == "end"
        pending.matched += same
        del a[:same], b[:same]
        if a and b or final and (a or b) or len(a) > _QUEUE_LIMIT or len(b) > _QUEUE_LIMIT:
            difference = Difference(conn, pending.matched, a[0] if a else None, b[0] if b else None)
            self.differences.append(difference)
            self._forget(conn)
            return [difference]
        if ended and not a and not b:
            self.identical[conn] = pending.matched
            self._forget(conn)
        return []

    def _forget(self, conn: int) -> None:
        self._settled.add(conn)
        self._pending.pop(conn, None)
