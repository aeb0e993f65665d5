"""Two recordings compared exchange by exchange: what ``h11dbg diff A B`` finds.

Both recordings are replayed (:mod:`h11dbg.replay.exchanges`: the replay's own machines, so events,
states and errors are the engine's), and the n-th exchange of one is compared with the n-th of the
other: start lines; header fields added, removed or changed, and those that differ only in the case
of their name or in their order, said as such; framing; body size and the first byte the bodies
differ at; trailers; errors; the states an exchange ends in; how it ended (a reset, bytes that
never made a message).  UI-free: :mod:`h11dbg.output` words and lays out the :class:`Change` records.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from h11dbg.replay.exchanges import Exchange, Message, exchanges, raw_fields
from h11dbg.transcript.escaping import escape

if TYPE_CHECKING:
    from h11dbg.engines import Engine
    from h11dbg.replay.steps import ReplayStep
    from h11dbg.transcript.model import Record

#: Header fields ignored unless asked for: they differ between any two runs.
DEFAULT_IGNORED = ("Date",)

Fields = list[tuple[bytes, bytes]]


class Change:
    """One difference between the exchanges of two recordings.

    ``what`` is one of ``exchange`` (one recording has no such exchange), ``message`` (a message
    only one side has), ``start-line``, ``header``/``trailer`` (``change``: added, removed or
    changed), ``header-case``/``trailer-case``, ``header-order``/``trailer-order``, ``framing``,
    ``body``, ``complete`` (whether the message ended), ``error``, ``states`` and ``ending``.
    ``a``/``b`` are each side's value, JSON-ready (escaped text, numbers, lists, None when absent);
    ``a_run``/``b_run`` the bytes to show side by side when it is the first divergence.
    """

    __slots__ = ("what", "message", "name", "change", "a", "b", "offset", "a_run", "b_run", "run_start")

    def __init__(self, what: str, message: str | None, a: Any, b: Any, *, name: str | None = None,
                 change: str | None = None, offset: int | None = None, a_run: bytes | None = None,
                 b_run: bytes | None = None, run_start: int = 0) -> None:
        self.what = what
        self.message = message  # "request", "response", "interim response 1", or None (the exchange)
        self.name = name  # a field's name, escaped (header and trailer changes)
        self.change = change  # "added" / "removed" / "changed" (fields, messages, exchanges)
        self.a = a
        self.b = b
        self.offset = offset  # body, start line, field: the first byte where the two runs differ
        self.a_run = a_run
        self.b_run = b_run
        self.run_start = run_start  # where the runs start (a body's runs are a window around offset)

    def __repr__(self) -> str:
        return f"Change({', '.join(f'{name}={getattr(self, name)!r}' for name in self.__slots__)})"


class ExchangeDiff:
    """The n-th exchange of each recording (None: that recording has fewer) and how they differ."""

    __slots__ = ("number", "a", "b", "changes")

    def __init__(self, number: int, a: Exchange | None, b: Exchange | None, changes: list[Change]) -> None:
        self.number = number
        self.a = a
        self.b = b
        self.changes = changes


def ignored_names(extra: Iterable[str], compared: Iterable[str]) -> list[str]:
    """The header names to ignore: :data:`DEFAULT_IGNORED` and ``extra``, less ``compared``; in the
    order given, one spelling per name."""
    keep = {name.lower() for name in compared}
    names: dict[str, str] = {}
    for name in (*DEFAULT_IGNORED, *extra):
        if name.lower() not in keep:
            names.setdefault(name.lower(), name)
    return list(names.values())


def compare_recordings(a: Iterable[Record], b: Iterable[Record], engine: Engine,
                       ignored: Iterable[str] = DEFAULT_IGNORED) -> Iterator[ExchangeDiff]:
    """Each pair of exchanges, in order; both recordings are read side by side, so only the
    exchanges in flight are held."""
    skip = frozenset(name.lower().encode("latin-1") for name in ignored)
    a_exchanges, b_exchanges = exchanges(a, engine), exchanges(b, engine)
    number = 0
    while True:
        left, right = next(a_exchanges, None), next(b_exchanges, None)
        if left is None and right is None:
            return
        number += 1
        yield ExchangeDiff(number, left, right, compare_exchanges(left, right, skip))


def compare_exchanges(a: Exchange | None, b: Exchange | None, ignored: frozenset[bytes]) -> list[Change]:
    """How two exchanges differ (``ignored``: lower-cased field names), in the order the output
    says it: the messages in wire order, errors, states, endings.  None: that recording has fewer."""
    if a is None or b is None:
        return [Change("exchange", None, _summary(a), _summary(b), change="removed" if b is None else "added",
                       a_run=_first_bytes(a), b_run=_first_bytes(b))]
    changes: list[Change] = []
    for label, left, right in _paired_messages(a, b):
        changes += _compare_messages(label, left, right, ignored)
    errors = _compare_errors(a, b)
    # a message missing on one side is the consequence of its error: the error comes first
    if any(change.what == "message" for change in changes):
        changes = errors + changes
    else:
        changes += errors
    if a.states != b.states:
        changes.append(Change("states", None, dict(a.states), dict(b.states)))
    if a.endings != b.endings:
        changes.append(Change("ending", None, list(a.endings), list(b.endings)))
    return changes


def _summary(exchange: Exchange | None) -> dict[str, Any] | None:
    if exchange is None:
        return None
    return {"conn": exchange.conn, "cycle": exchange.cycle, "errors": [error_fields(step) for step in exchange.errors],
            "endings": list(exchange.endings)}


def _first_bytes(exchange: Exchange | None) -> bytes | None:
    """What an exchange starts with: its first start line, or the bytes of its first error."""
    if exchange is None:
        return None
    if exchange.messages:
        return start_line(exchange.messages[0].head)
    return exchange.error_bytes[0] if exchange.error_bytes else None


def start_line(head: Any) -> bytes:
    """A message's start line as it was sent (rebuilt from the event's fields, without CR LF)."""
    if type(head).__name__ == "Request":
        return b"%s %s HTTP/%s" % (bytes(head.method), bytes(head.target), bytes(head.http_version))
    return b"HTTP/%s %d %s" % (bytes(head.http_version), int(head.status_code), bytes(head.reason))


def _paired_messages(a: Exchange, b: Exchange) -> Iterator[tuple[str, Message | None, Message | None]]:
    """The request with the request, interim (1xx) responses by their order, final responses by
    theirs (one side's extra 100 Continue does not shift the final one).  An exchange has more than
    one final response only when its request side stopped at an error and the responses to the
    requests after it came on: ``response 2``, ..."""
    yield "request", a.request, b.request
    for kind, label in (("InformationalResponse", "interim response {}"), ("Response", "response {}")):
        left = [message for message in a.responses if message.kind == kind]
        right = [message for message in b.responses if message.kind == kind]
        for index in range(max(len(left), len(right), 1 if kind == "Response" else 0)):
            name = "response" if label == "response {}" and index == 0 else label.format(index + 1)
            yield (name, left[index] if index < len(left) else None, right[index] if index < len(right) else None)


def _compare_messages(label: str, a: Message | None, b: Message | None, ignored: frozenset[bytes]) -> list[Change]:
    if a is None and b is None:
        return []
    if a is None or b is None:
        a_line = None if a is None else start_line(a.head)
        b_line = None if b is None else start_line(b.head)
        return [Change("message", label, _text(a_line), _text(b_line), change="added" if a is None else "removed",
                       a_run=a_line, b_run=b_line)]
    changes: list[Change] = []
    a_line, b_line = start_line(a.head), start_line(b.head)
    if a_line != b_line:
        changes.append(Change("start-line", label, escape(a_line), escape(b_line),
                              offset=_common_prefix(a_line, b_line), a_run=a_line, b_run=b_line))
    changes += _compare_fields("header", label, raw_fields(a.head.headers), raw_fields(b.head.headers), ignored)
    if a.framing != b.framing:
        changes.append(Change("framing", label, list(a.framing), list(b.framing)))
    body = _compare_bodies(label, a, b)
    if body is not None:
        changes.append(body)
    changes += _compare_fields("trailer", label, a.trailers, b.trailers, ignored)
    if a.complete != b.complete:
        changes.append(Change("complete", label, a.complete, b.complete))
    return changes


def _compare_fields(what: str, label: str, a: Fields, b: Fields, ignored: frozenset[bytes]) -> list[Change]:
    """Fields added, removed or changed, by name (case-insensitive, repeated fields as a list);
    a name spelled in another case, or the same fields in another order, is said as that."""
    if a == b:
        return []
    a = [(name, value) for name, value in a if name.lower() not in ignored]
    b = [(name, value) for name, value in b if name.lower() not in ignored]
    a_by, b_by = _by_name(a), _by_name(b)
    changes: list[Change] = []
    for key in dict.fromkeys([*a_by, *b_by]):
        left, right = a_by.get(key, []), b_by.get(key, [])
        if not left or not right:
            fields = left or right
            shown = escape(fields[0][0])
            values = [escape(value) for _, value in fields]
            run = _field_line(fields[0])
            changes.append(Change(what, label, None if not left else values, None if not right else values, name=shown,
                                  change="added" if not left else "removed",
                                  a_run=run if left else None, b_run=run if right else None))
            continue
        a_values, b_values = [value for _, value in left], [value for _, value in right]
        if a_values != b_values:
            at = next((i for i, (x, y) in enumerate(zip(a_values, b_values, strict=False)) if x != y),
                      min(len(a_values), len(b_values)))  # or the first value only one side repeats
            a_run = _field_line(left[at]) if at < len(left) else None
            b_run = _field_line(right[at]) if at < len(right) else None
            changes.append(Change(what, label, [escape(v) for v in a_values], [escape(v) for v in b_values],
                                  name=escape(left[0][0]), change="changed",
                                  offset=_common_prefix(a_run, b_run) if a_run and b_run else None,
                                  a_run=a_run, b_run=b_run))
        elif [name for name, _ in left] != [name for name, _ in right]:
            a_names, b_names = [name for name, _ in left], [name for name, _ in right]
            at = next(i for i, (x, y) in enumerate(zip(a_names, b_names, strict=True)) if x != y)
            changes.append(Change(f"{what}-case", label, escape(a_names[at]), escape(b_names[at]),
                                  name=escape(left[0][0]), a_run=_field_line(left[at]), b_run=_field_line(right[at]),
                                  offset=_common_prefix(a_names[at], b_names[at])))
    common = set(a_by) & set(b_by)
    a_order = [name for name, _ in a if name.lower() in common]
    b_order = [name for name, _ in b if name.lower() in common]
    if [name.lower() for name in a_order] != [name.lower() for name in b_order]:
        a_run, b_run = b", ".join(a_order), b", ".join(b_order)
        changes.append(Change(f"{what}-order", label, [escape(name) for name in a_order],
                              [escape(name) for name in b_order],
                              offset=_common_prefix(a_run.lower(), b_run.lower()), a_run=a_run, b_run=b_run))
    return changes


def _by_name(fields: Fields) -> dict[bytes, Fields]:
    grouped: dict[bytes, Fields] = {}
    for field in fields:
        grouped.setdefault(field[0].lower(), []).append(field)
    return grouped


def _field_line(field: tuple[bytes, bytes]) -> bytes:
    return field[0] + b": " + field[1]


def _compare_bodies(label: str, a: Message, b: Message) -> Change | None:
    if a.size == b.size and a.digest() == b.digest():
        return None
    at = _common_prefix(a.kept, b.kept)
    if at < len(a.kept) and at < len(b.kept) or at == min(a.size, b.size):
        offset: int | None = at  # a byte that differs, or where the shorter body ends
    else:
        offset = None  # both kept parts agree and the bodies go on: past what was kept
    a_run = b_run = None
    if offset is not None:
        start = max(0, offset - RUN_BEFORE)
        a_run = bytes(a.kept[start : offset + RUN_AFTER])
        b_run = bytes(b.kept[start : offset + RUN_AFTER])
    return Change("body", label, a.size, b.size, offset=offset, a_run=a_run, b_run=b_run,
                  run_start=0 if offset is None else max(0, offset - RUN_BEFORE))


#: How many bytes of a run are shown before its first differing byte, and from it on (a body's runs
#: are cut to that here; output cuts a long start line or field the same way).
RUN_BEFORE, RUN_AFTER = 24, 48


def _common_prefix(a: bytes | bytearray, b: bytes | bytearray) -> int:
    """How many leading bytes ``a`` and ``b`` share (blocks compared in C, then bytes)."""
    size = min(len(a), len(b))
    at = 0
    block = 4096
    while at < size and a[at : at + block] == b[at : at + block]:
        at += block
    at = min(at, size)
    while at < size and a[at] == b[at]:
        at += 1
    return at


def _compare_errors(a: Exchange, b: Exchange) -> list[Change]:
    """Errors by their order; each side's run is its bytes from the error's offset on."""
    changes = []
    for index in range(max(len(a.errors), len(b.errors))):
        left = error_fields(a.errors[index]) if index < len(a.errors) else None
        right = error_fields(b.errors[index]) if index < len(b.errors) else None
        if left != right:
            changes.append(Change("error", None, left, right,
                                  a_run=a.error_bytes[index] if left is not None else None,
                                  b_run=b.error_bytes[index] if right is not None else None))
    return changes


def error_fields(step: ReplayStep) -> dict[str, Any]:
    """What of an error is compared: its direction, class, message and offset."""
    return {"direction": step.direction, "error": type(step.error).__name__, "message": str(step.error),
            "offset": step.offset}


def _text(value: bytes | None) -> str | None:
    return None if value is None else escape(value)
