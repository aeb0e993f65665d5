"""Plain text: the live session's log entries (batch mode, ``log``) and the replay's steps.

The words come from :mod:`h11dbg.output.describe`; this module only lays them out: a live entry as a
head line and indented detail lines, a replay step as one line with both states at its end (the
steps of a replay are many) and its details indented under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from h11dbg.engines import is_explainable
from h11dbg.output.describe import (
    HEADS,
    PREVIEW_BYTES,
    WITH_HEADERS,
    error_details,
    error_summary,
    error_where,
    event_summary,
    head_summary,
    header_text,
    hex_rows,
    inline_notes,
    noted,
    peer_close_explanation,
    peer_close_summary,
    preview,
    raw_headers,
    sent_or_received,
    states_summary,
    suggestion_text,
    timing_summary,
    tls_details,
    transition_summary,
)
from h11dbg.transcript.escaping import escape

if TYPE_CHECKING:  # (a replay's start-up imports neither the live log nor the stepper)
    from h11dbg.replay.diff import Difference
    from h11dbg.replay.stepper import Stepper
    from h11dbg.replay.steps import ReplayStep
    from h11dbg.session.commands import CommandInfo, CommandResult
    from h11dbg.session.explain import Explanation
    from h11dbg.session.log import LogEntry
    from h11dbg.transcript.model import Role

# -- live log entries -------------------------------------------------------------------------------


def render_entry(entry: LogEntry, *, hexdump: bool = False) -> list[str]:
    """Plain text lines for one entry (batch mode without --json, the `log` command); ``hexdump``:
    its bytes follow as a hex dump too (`hex on`)."""
    head = f"[{entry.time:8.3f}s] #{entry.conn}"
    if entry.direction:
        head += f" {entry.direction}"
    lines: list[str] = []
    if entry.kind == "event":
        verb = sent_or_received(entry.direction, entry.actor)
        lines.append(f"{head} {entry.actor} {verb} {event_summary(entry.event)}")
        kind = type(entry.event).__name__
        if kind in WITH_HEADERS:
            items = raw_headers(entry.event.headers)
            lines += [f"    {header_text(name, value)}" for name, value in items]
            if kind in HEADS:
                lines += [f"    note: {note}" for note in inline_notes(entry.event, kind, items)]
        # a Data event without chunk framing is its own bytes: showing them twice says nothing
        same = kind == "Data" and bytes(entry.event.data) == entry.data
        if entry.data and not same:
            lines.append(f"    bytes ({len(entry.data)}): {preview(entry.data)}")
    elif entry.kind == "error":
        assert entry.error is not None
        where = error_where(getattr(entry.error, "offset", None))
        lines.append(f"{head} ERROR {error_summary(entry.error)}" + (f" ({where})" if where else ""))
        lines += [f"    {name}: {value}" for name, value in error_details(entry.error)]
        if entry.text and entry.text not in (str(entry.error), getattr(entry.error, "explanation", None)):
            lines.append(f"    {entry.text}")
    elif entry.kind in ("sent", "received"):
        lines.append(f"{head} {entry.kind} {len(entry.data)} bytes: {preview(entry.data)}")
    elif entry.kind == "eof":
        lines.append(f"{head} EOF: {entry.text or 'the peer closed its sending side'}")
    elif entry.kind == "timing":
        assert entry.timing is not None
        lines.append(f"{head} {timing_summary(entry.timing)}")
    elif entry.kind == "closed":
        assert entry.closed is not None
        lines.append(f"{head} {peer_close_summary(entry.closed)}")
        lines += [f"    {line}" for line in peer_close_explanation(entry.closed)]
    else:
        first, *details = note_lines(entry)
        lines.append(f"{head} {first}")
        lines += details
    if entry.kind in ("event", "error", "state", "eof", "closed") and entry.states_after:
        lines.append(f"    states: {states_summary(entry.states_after, entry.states_before)}")
    lines += [f"    {transition_summary(t)}" for t in entry.transitions]
    if hexdump and entry.data:
        lines += [f"    {offset}  {hex_part}  {printable}" for offset, hex_part, printable in hex_rows(entry.data)]
    return lines


def note_lines(entry: LogEntry) -> list[str]:
    """A note's text, and under it what a TLS handshake showed (as ``curl -v`` does)."""
    lines = [noted(entry.text or entry.kind, entry.suggestions)]
    if entry.tls is not None:
        lines += [f"    {name}: {value}" for name, value in tls_details(entry.tls)]
    return lines


# -- replay steps -------------------------------------------------------------------------------

_INDENT = " " * 24  # under the event, past ``[conn] time direction``


def lossy_line(source_format: str, why: str) -> str:
    """Why the bytes of a lossy input may differ from what crossed the wire."""
    return f"note: {source_format} input is lossy: {why}"


def slowest_line(slowest: Sequence[tuple[float, int, str, float]]) -> str:
    """The replay summary's slowest exchanges: (total, conn, "METHOD target", first byte), slowest first."""
    return "slowest exchanges: " + "; ".join(
        f"[{conn}] {label} {total:.6f} s (first byte after {first_byte:.6f} s)"
        for total, conn, label, first_byte in slowest)


def _timing_line(head: str, step: ReplayStep) -> str:
    timing = step.timing
    assert timing is not None
    # (whole microseconds: %.6f writes them exactly, and costs half of rounding them to an int first)
    return "%s timing: %s: first byte after %.6f s, last byte after %.6f s   %s" % (  # noqa: UP031
        head, step.text, timing["first_byte"] or 0.0, timing["total"] or 0.0, _states(step.states))


def _states(states: dict[str, str]) -> str:
    return f"client={states.get('client')} server={states.get('server')}" if states else ""


def _step_head(step: ReplayStep) -> str:
    """``[conn] time direction``: the steps of one record share it, so the last one is remembered
    (formatting the time is the dearest part of a Data line)."""
    conn, time, direction = step.conn, step.time, step.direction
    last = _LAST_HEAD
    if time == last[1] and conn == last[0] and direction == last[2]:
        return last[3]  # type: ignore[no-any-return]
    head = "[%s] %10.6f %s" % (conn, time, direction or "   ")  # noqa: UP031  (twice as fast as f"{time:10.6f}")
    last[:] = conn, time, direction, head
    return head


_LAST_HEAD: list[Any] = [None, None, None, ""]
_HEADER_LINES: dict[tuple[bytes, bytes], str] = {}


def _header_lines(items: list[tuple[bytes, bytes]]) -> list[str]:
    """The header fields, indented; the lines are remembered as describe remembers their text."""
    lines = []
    cache = _HEADER_LINES
    for item in items:
        try:
            line = cache.get(item)
        except TypeError:  # an engine that gives bytearrays: nothing to remember
            lines.append(_INDENT + header_text(*item))
            continue
        if line is None:
            line = _INDENT + header_text(*item)
            if len(item[1]) <= 256:
                if len(cache) >= 2048:
                    cache.clear()
                cache[item] = line
        lines.append(line)
    return lines


def step_lines(step: ReplayStep, *, headers: bool = True) -> list[str]:
    """Plain text lines for one step: ``[conn] time direction what   states``."""
    head = _step_head(step)
    event = step.event
    if type(event).__name__ == "Data" and step.kind == "event" and not step.transitions:
        # the line most replays are made of, built in one go: describe.data_summary's words, inlined
        data = event.data
        size = len(data)
        shown = escape(data[:PREVIEW_BYTES]) + "..." if size > PREVIEW_BYTES else escape(data)
        return [f"{head} {f'Data {size} bytes: {shown}':<52} {_states(step.states)}"]
    lines: list[str] = []
    if step.kind == "open":
        client, server = step.peers
        lines.append(f"{head} open {client or '?'} -> {server or '?'}")
    elif step.kind == "event":
        kind = type(event).__name__
        if kind == "Data":
            lines.append(f"{head} {event_summary(event):<52} {_states(step.states)}")
        else:
            items = raw_headers(event.headers) if kind in WITH_HEADERS else []
            lines.append(f"{head} {head_summary(event, kind, len(items)):<52} {_states(step.states)}")
            if headers and items:
                lines += _header_lines(items)
            if kind in HEADS:
                lines += [f"{_INDENT}note: {note}" for note in inline_notes(event, kind, items)]
    elif step.kind == "error":
        assert step.error is not None
        where = error_where(step.offset, step.offset_exact)
        lines.append(f"{head} ERROR {error_summary(step.error)}" + (f" ({where})" if where else "")
                     + f"   {_states(step.states)}")
        lines += [f"{_INDENT}{name}: {value}" for name, value in error_details(step.error)]
        if step.text:
            lines.append(f"{_INDENT}{step.text}")
    elif step.kind == "end":
        text = f"{head} end   {_states(step.states)}"
        if step.tunnelled:
            text += f"   tunnelled c2s {step.tunnelled['c2s']} bytes, s2c {step.tunnelled['s2c']} bytes"
        lines.append(text)
        if step.text:
            lines.append(f"{_INDENT}{step.text}")
    else:
        lines.append(f"{head} {step.kind}: {step.text}   {_states(step.states)}".rstrip())
    if step.transitions:  # (only h11dbg.protocol's: Transition named tuples, keyed by their words)
        cache = _TRANSITION_LINES
        for transition in step.transitions:
            key = transition[:7]
            line = cache.get(key)
            if line is None:
                line = _INDENT + transition_summary(transition)
                if len(cache) < 2048:  # a few dozen rules in practice; bounded regardless
                    cache[key] = line
            lines.append(line)
    if step.timing is not None:  # a response's EndOfMessage: its exchange is complete
        lines.append(_timing_line(head, step))
    return lines


_TRANSITION_LINES: dict[tuple[object, ...], str] = {}


def difference_lines(found: Difference, names: Sequence[str]) -> list[str]:
    """``diff``: where two engines first part ways on a connection, each engine's step under its name."""
    lines = [f"connection {found.conn}: the engines differ at step {found.index + 1}"]
    width = max(len(name) for name in names)
    for name, step in zip(names, (found.first, found.second), strict=True):
        said = step_lines(step, headers=False) if step is not None else ["(no further step)"]
        lines.append(f"  {name:<{width}}  {said[0].strip()}")
        lines += [f"  {'':<{width}}  {line.strip()}" for line in said[1:]]
    return lines


def same_line(conn: int, steps: int) -> str:
    return f"connection {conn}: identical ({steps} steps)"


def state_lines(states: dict[str, str], actor: str | None = None, indent: str = "") -> list[str]:
    """What each role's state means and what it may send next; ``actor`` is the side we act as."""
    from h11dbg.session.explain import allowed_events, describe_state

    lines = []
    for role in ("client", "server"):
        state = states.get(role)
        if state is None:
            continue
        who = "" if actor is None else " (we)" if role == actor else " (peer)"
        lines.append(f"{indent}{role}{who} is {state}: {describe_state(role, state)}")
        allowed = allowed_events(role, state)
        lines.append(f"{indent}{role} may send next: {', '.join(allowed) if allowed else 'nothing'}")
    return lines


def error_lines(error: BaseException, indent: str = "") -> list[str]:
    return [f"{indent}{error_summary(error)}"] + [f"{indent}  {name}: {value}" for name, value in error_details(error)]


def explanation_lines(explanation: Explanation) -> list[str]:
    """`explain` in a live session: both states and what they allow, what waits, the last rule."""
    actor, states = explanation.actor, explanation.states
    lines = [f"(as seen by the {actor}'s connection)"] if explanation.loopback else []
    lines += state_lines(states, actor)
    buffered = explanation.buffered
    if buffered and "SWITCHED_PROTOCOL" in states.values():
        lines.append(f"{buffered} bytes arrived after the protocol switch (trailing_data): they are not HTTP/1.1")
    elif buffered:
        lines.append(f"{buffered} bytes received but not parsed yet")
    if explanation.peer_waits_for_100:
        lines.append("the client sent Expect: 100-continue and waits for a 100 response or the final one")
    if explanation.we_wait_for_100:
        lines.append("we sent Expect: 100-continue and may wait for the server's 100 Continue")
    lines.append(f"last rule applied: {_last_rule(explanation.last, actor)}")
    return lines + [f"next: {suggestion_text(s)}" for s in explanation.suggestions]


def _last_rule(entry: LogEntry | None, actor: Role) -> str:
    if entry is None:
        return "none yet"
    if entry.kind == "error" and entry.error is not None:
        # the error's own rule says more than the generic "-> ERROR" transition it caused
        named = [str(value) for name in ("rule", "section") if (value := getattr(entry.error, name, None))]
        return error_summary(entry.error) + (f" (rule {', '.join(named)})" if named else "")
    if entry.transitions:
        # one event can move both roles (a Request moves the server to SEND_RESPONSE too)
        return "; ".join(transition_summary(t) for t in entry.transitions)
    if entry.kind == "event":
        cause = f"{actor} {sent_or_received(entry.direction, actor)} {type(entry.event).__name__}"
    else:
        cause = entry.text or entry.kind
    return f"{cause}: {states_summary(entry.states_after, entry.states_before)}"


#: How wide batch mode lays out ``help`` (a pipe has no width; the REPL uses its terminal's).
HELP_WIDTH = 80


def help_lines(commands: Sequence[CommandInfo], width: int = HELP_WIDTH) -> list[str]:
    """``help``: each command's syntax on its own line and what it does under it, wrapped to
    ``width`` (a long syntax never squeezes the text beside it into a narrow column)."""
    import textwrap

    lines = []
    for info in commands:
        lines.append(info.syntax)
        lines += textwrap.wrap(info.help, max(width - 4, 20), initial_indent="    ", subsequent_indent="    ",
                               break_on_hyphens=False)
    return lines


def result_lines(result: CommandResult, *, hexdump: bool = False) -> list[str]:
    """What a command answered besides log entries, as plain lines: a recap of the log (with hex
    dumps while ``hex`` is on), an explanation, or its own output (states, help)."""
    lines = [line for entry in result.recap for line in render_entry(entry, hexdump=hexdump)]
    if result.ladder is not None:
        from h11dbg.output.ladder import entry_rows, text_lines  # not on replay's start-up path

        lines += text_lines(entry_rows(result.ladder))
    if result.diagram is not None:
        from h11dbg.output import diagram

        lines += diagram.text_lines(diagram.lines(diagram.current_states(result.diagram),
                                                  diagram.last_moves(result.diagram)))
    if result.explanation is not None:
        lines += explanation_lines(result.explanation)
    if result.help is not None:
        lines += help_lines(result.help)
    return lines + result.output


def step_explanation(stepper: Stepper) -> list[str]:
    """`explain` in ``replay --step``: why the machines are in their states, what may come next, the
    last error."""
    step = stepper.current
    if step is None:
        return ["nothing replayed yet: type next"]
    lines = [f"connection {step.conn}, after: {step_lines(step, headers=False)[0].strip()}"]
    lines += state_lines(step.states, indent="  ")
    lines += [f"  {transition_summary(t)}" for t in step.transitions]
    last = stepper.last_error
    if last is not None and last.error is not None:
        lines.append(f"  last error (connection {last.conn}):")
        lines += error_lines(last.error, indent="    ")
        if not is_explainable(stepper.engine):
            lines.append("    (engine h11 gives no rule or offset; --engine h11dbg explains more)")
    return lines
