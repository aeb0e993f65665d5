"""The ladder: an exchange at a glance, as Wireshark's flow graph draws it.

A client lane and a server lane, one arrow per message between them (its start line, or its body's
size), each side's state after it, errors marked where they happened.  The same rows come from a live
session's log (:func:`entry_rows`) and from a replay's steps (:func:`step_rows`), and are drawn as
plain text here (:func:`text_lines`) or styled by :mod:`h11dbg.output.rich`: one picture for the REPL,
scripts, pipes and ``replay --ladder``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, NamedTuple

from h11dbg.output.describe import message_label, sent_or_received

if TYPE_CHECKING:
    from h11dbg.replay.steps import ReplayStep
    from h11dbg.session.log import LogEntry

# fits 80 columns when the server's state is no longer than SEND_RESPONSE: 7 + 1 + 21 + 1 + 34 + 1 + 13
TIME = 7
LANE = 21  # MIGHT_SWITCH_PROTOCOL, the longest state name
ARROW = 34


class Row(NamedTuple):
    """One line of a ladder.

    ``kind``: ``message`` (an arrow), ``error`` (an arrow marked ✗, from the side whose bytes or
    event broke the rules), ``raw`` (bytes sent past the state machine), ``across`` (something both
    sides share: a new cycle, a close, a protocol switch; drawn dashed) or ``conn`` (a connection's
    heading, when a ladder holds several).
    """

    kind: str
    conn: int
    time: float | None
    direction: str | None  # c2s / s2c for arrows
    label: str
    states: dict[str, str]
    changed: frozenset[str]  # the roles whose state this row moved
    detail: str = ""  # an error's message, said under its arrow



def arrow_width(columns: int) -> int:
    """The widest arrow (up to 60) that fits ``columns`` beside a server state as long as SEND_RESPONSE."""
    return max(ARROW, min(60, columns - (TIME + LANE + len("SEND_RESPONSE") + 3)))


Cells = tuple[str, str, str, str]


def _changed(before: dict[str, str] | None, after: dict[str, str]) -> frozenset[str]:
    if before is None:
        return frozenset()
    return frozenset(role for role, state in after.items() if before.get(role, state) != state)


def entry_rows(entries: Iterable[LogEntry]) -> Iterator[Row]:
    """The ladder of a live session's log.

    In loopback both engines log every message (one sends, the other receives); only the sender's
    entry is drawn, so that each message appears once.
    """
    chosen = [e for e in entries if (e.kind in ("event", "error", "sent") and e.direction) or e.kind == "state"]
    both_sides = len({e.actor for e in chosen}) > 1
    last_state: dict[str, str] | None = None
    for entry in chosen:
        states, changed = entry.states_after, _changed(entry.states_before, entry.states_after)
        if entry.kind == "state":
            if states == last_state:
                continue  # loopback: the other engine's half of the same cycle
            last_state = states
            text = entry.text or ""
            label = "start_next_cycle()" if text.startswith("start_next_cycle") else "state change"
            yield Row("across", entry.conn, entry.time, None, label, states, changed)
            continue
        last_state = None
        if both_sides and entry.kind != "error" and sent_or_received(entry.direction, entry.actor) == "received":
            continue
        if entry.kind == "error":
            label = f"✗ {type(entry.error).__name__}" if entry.error is not None else "✗ error"
            yield Row("error", entry.conn, entry.time, entry.direction, label, states, changed,
                      str(entry.error or ""))
        elif entry.kind == "sent":
            yield Row("raw", entry.conn, entry.time, entry.direction, f"raw {len(entry.data)} B", states, changed)
        else:
            yield Row("message", entry.conn, entry.time, entry.direction, message_label(entry.event), states,
                      changed)


_ACROSS = {"cycle": "start_next_cycle()", "switch": "protocol switched"}


def step_rows(steps: Iterable[ReplayStep]) -> Iterator[Row]:
    """The ladder of a replay, as its steps stream by.

    A body's Data events in a row become one arrow with their total size (a 1 MiB body is one
    message, not sixteen); a side's FIN and the ConnectionClosed its machine makes of it are one
    ``close`` arrow; a connection's first row follows its heading.
    """
    last: dict[int, dict[str, str]] = {}
    pending: Row | None = None  # an arrow the next step may extend (a body) or replace (a close)
    pieces = total = 0
    for step in steps:
        kind, conn, direction, states = step.kind, step.conn, step.direction, step.states
        name = type(step.event).__name__ if kind == "event" else kind
        before = last.get(conn)
        if states:
            last[conn] = states
        if pending is not None:
            if pending.conn == conn and pending.direction == direction:
                if name == "Data" and pending.label.startswith("Data"):
                    pieces += 1
                    total += len(step.event.data)
                    pending = pending._replace(label=f"Data ×{pieces} {total} B", states=states)
                    continue
                if name == "ConnectionClosed" and pending.label == "close":
                    pending = pending._replace(states=states, changed=_changed(before, states) | pending.changed)
                    continue
            yield pending
            pending = None
        changed = _changed(before, states)
        if name == "Data":
            pieces, total = 1, len(step.event.data)
            pending = Row("message", conn, step.time, direction, f"Data {total} B", states, changed)
        elif name in ("close", "reset"):
            pending = Row("message" if name == "close" else "error", conn, step.time, direction, name, states,
                          changed, "the sender reset the connection (TCP RST)" if name == "reset" else "")
        elif kind == "open":
            client, server = step.peers
            yield Row("conn", conn, step.time, None, f"connection {conn}: {client or '?'} -> {server or '?'}",
                      states, frozenset())
        elif kind == "event":
            yield Row("message", conn, step.time, direction, message_label(step.event), states, changed)
        elif kind == "error":
            where = f" at byte {step.offset}" if step.offset is not None else ""
            yield Row("error", conn, step.time, direction, f"✗ error{where}", states, changed,
                      f"{type(step.error).__name__}: {step.error}")
        elif kind in _ACROSS:
            yield Row("across", conn, step.time, None, _ACROSS[kind], states, changed)
        elif kind == "end" and step.tunnelled:
            tunnelled = step.tunnelled
            yield Row("across", conn, step.time, None, f"tunnel c2s {tunnelled['c2s']} B, s2c {tunnelled['s2c']} B",
                      states, changed)
    if pending is not None:
        yield pending


def cells(row: Row, width: int = ARROW) -> Cells:
    """A row's four columns: time, client state, the arrow (or dashed line) ``width`` wide, server state."""
    time = "" if row.time is None else f"{row.time:.3f}"
    client = str(row.states.get("client", ""))
    server = str(row.states.get("server", ""))
    label = row.label if len(row.label) <= width - 8 else row.label[: width - 9] + "…"
    if row.kind == "across":
        middle = f" {label} ".center(width, "┄")
    else:
        body = f" {label} ".center(width - 2, "─")
        middle = f"{body}─▶" if row.direction == "c2s" else f"◀─{body}"
    return time.rjust(TIME), client.ljust(LANE), middle, server


def layout(rows: Iterable[Row], width: int = ARROW) -> Iterator[tuple[Row | None, str | Cells]]:
    """The ladder's lines: ``(None, heading)`` over each connection's lanes, ``(row, its cells)``, and
    ``(None, message)`` under an error's arrow; arrows ``width`` wide."""
    heading = ("time".rjust(TIME), "client".ljust(LANE), " " * width, "server")
    shown: int | None = None
    for row in rows:
        if row.kind == "conn":
            yield None, row.label
            yield None, heading
            shown = row.conn
            continue
        if shown is None:
            yield None, heading
            shown = row.conn
        elif row.conn != shown:  # connections interleave: say whose row this is
            yield None, f"connection {row.conn}:"
            shown = row.conn
        yield row, cells(row, width)
        if row.detail:
            yield None, " " * (TIME + LANE + 2) + row.detail


def joined(cells: Cells) -> str:
    return " ".join(cells).rstrip()


def text_lines(rows: Iterable[Row], width: int = ARROW) -> Iterator[str]:
    """The ladder as plain lines."""
    for _, part in layout(rows, width):
        yield part if isinstance(part, str) else joined(part)
