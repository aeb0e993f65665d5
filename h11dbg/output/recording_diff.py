"""How ``h11dbg diff A B`` reads: plain text and JSON Lines for two recordings compared exchange by
exchange (:mod:`h11dbg.replay.compare`).

The words come from :mod:`h11dbg.output.describe` (``change_summary``, ``exchange_summary``,
``framing_text``), bytes are shown through the one escaping, JSON goes through
:func:`h11dbg.output.jsonl.dumps`.  The output opens with the first divergence and its two byte runs,
one above the other so the first differing byte lines up (a caret marks it); then each differing
exchange with its changes; runs of identical exchanges are one line.  See docs/cli.md and docs/json.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from h11dbg.output.describe import SIDES, change_summary, exchange_summary
from h11dbg.output.jsonl import dumps
from h11dbg.replay.compare import RUN_AFTER, RUN_BEFORE, start_line
from h11dbg.transcript.escaping import escape

if TYPE_CHECKING:
    from h11dbg.replay.compare import Change, ExchangeDiff
    from h11dbg.replay.exchanges import Exchange

_RUN_INDENT = "  "


def _start_lines(exchange: Exchange) -> list[str]:
    return [escape(start_line(message.head)) for message in exchange.messages]


def _where(exchange: Exchange | None) -> str:
    return "absent" if exchange is None else f"conn {exchange.conn} #{exchange.cycle}"


# -- text -------------------------------------------------------------------------------------------


def first_difference_lines(found: ExchangeDiff) -> list[str]:
    """The first divergence: where it is, what it is, and both byte runs aligned on the first
    differing byte."""
    change = found.changes[0]
    lines = [f"first difference: exchange {found.number} (A {_where(found.a)}, B {_where(found.b)})",
             f"{_RUN_INDENT}{change_summary(change)}"]
    if change.a_run is None and change.b_run is None:
        return lines
    at = None if change.offset is None else change.offset - change.run_start  # in the runs
    # a long run (a cookie, a body) is shown around its first differing byte
    cut = 0 if at is None else max(0, at - RUN_BEFORE)
    prefix = "..." if change.run_start + cut else ""
    for side, run in zip(SIDES, (change.a_run, change.b_run), strict=True):
        if run is None:
            shown = "(none)"
        else:
            shown = prefix + escape(run[cut : cut + RUN_BEFORE + RUN_AFTER])
            shown += "..." if len(run) > cut + RUN_BEFORE + RUN_AFTER else ""
        lines.append(f"{_RUN_INDENT}{side}  {shown}")
    if at is not None and change.a_run is not None and change.b_run is not None:
        column = len(_RUN_INDENT) + 3 + len(prefix) + len(escape(change.a_run[cut:at]))
        lines.append(" " * column + "^")
    return lines


def exchange_lines(found: ExchangeDiff) -> list[str]:
    """A differing exchange: its start lines on each side, where it is, then one line per change."""
    a = None if found.a is None else exchange_summary(_start_lines(found.a))
    b = None if found.b is None else exchange_summary(_start_lines(found.b))
    said = a if a == b else f"A {a or '(absent)'} | B {b or '(absent)'}"
    head = f"exchange {found.number}: {said}   (A {_where(found.a)}, B {_where(found.b)})"
    return [head] + [f"  {change_summary(change)}" for change in found.changes]


def same_line(first: int, last: int) -> str:
    """Identical exchanges, as one run."""
    return f"exchange {first}: same" if first == last else f"exchanges {first}-{last}: same"


def summary_line(files: tuple[str, str], counts: tuple[int, int], differing: int, same: int,
                 ignored: list[str]) -> str:
    """The closing line (stderr): what A and B are, how many exchanges each has, what differed."""
    sides = ", ".join(f"{side} {name}: {count} exchange(s)"
                      for side, name, count in zip(SIDES, files, counts, strict=True))
    ignoring = f" (ignoring {', '.join(ignored)})" if ignored else ""
    return f"{sides}; {differing} differ, {same} same{ignoring}"


# -- JSON Lines -------------------------------------------------------------------------------------


def change_record(change: Change) -> dict[str, Any]:
    record: dict[str, Any] = {"what": change.what}
    for name in ("message", "name", "change"):
        value = getattr(change, name)
        if value is not None:
            record[name] = value
    record["a"], record["b"] = change.a, change.b
    if change.what == "body" or change.offset is not None:
        record["offset"] = change.offset
    record["text"] = change_summary(change)
    return record


def _exchange_record(exchange: Exchange | None) -> dict[str, Any] | None:
    if exchange is None:
        return None
    return {"conn": exchange.conn, "cycle": exchange.cycle, "messages": _start_lines(exchange)}


def first_difference_line(found: ExchangeDiff) -> str:
    change = found.changes[0]
    record: dict[str, Any] = {"event": "first_difference", "exchange": found.number,
                              "a": _exchange_record(found.a), "b": _exchange_record(found.b),
                              "change": change_record(change)}
    record["a_bytes"] = None if change.a_run is None else escape(change.a_run)
    record["b_bytes"] = None if change.b_run is None else escape(change.b_run)
    record["bytes_from"] = change.run_start
    return dumps(record)


def exchange_line(found: ExchangeDiff) -> str:
    return dumps({"event": "exchange", "exchange": found.number, "a": _exchange_record(found.a),
                  "b": _exchange_record(found.b), "changes": [change_record(change) for change in found.changes]})


def same_json(first: int, last: int) -> str:
    return dumps({"event": "same_exchanges", "first": first, "last": last})


def summary_json(files: tuple[str, str], formats: tuple[str, str], counts: tuple[int, int],
                 lossy: tuple[list[str], list[str]], differing: int, same: int, ignored: list[str]) -> str:
    sides = {side.lower(): {"file": name, "format": kind, "exchanges": count, "lossy": notes}
             for side, name, kind, count, notes in zip(SIDES, files, formats, counts, lossy, strict=True)}
    return dumps({"event": "summary", **sides, "differing": differing, "same": same, "ignored_headers": ignored})
