"""Plain-text and JSON renderings of log entries (no rich here: the REPL's colours live in h11dbg.ui).

JSON lines follow docs/json.md: event and error lines use h11dbg.output.jsonl's schema; every
line also has ``kind``, ``seq`` and ``time`` so the other entry kinds can be told apart.
"""

from __future__ import annotations

from typing import Any

from h11dbg.engines import is_explainable
from h11dbg.output import jsonl
from h11dbg.replay.stepper import Stepper
from h11dbg.replay.steps import ReplayStep
from h11dbg.session.explain import allowed_events, describe_state
from h11dbg.session.log import LogEntry
from h11dbg.transcript.escaping import escape

PREVIEW = 300  # escaped characters of bytes shown per entry in plain text


def role_name(role: Any) -> str:
    """``CLIENT`` (an engine sentinel) -> ``client``, the spelling of ``actor`` and ``states`` keys."""
    return str(role).lower()


def _transition(t: Any) -> dict[str, Any]:
    record = {
        name: str(getattr(t, name))
        for name in ("role", "old_state", "new_state", "cause", "rule", "explanation", "section")
        if getattr(t, name, None) is not None
    }
    record["role"] = role_name(t.role)
    return record


def entry_record(entry: LogEntry) -> dict[str, Any]:
    """One log entry as a JSON-ready dict."""
    common: dict[str, Any] = {"kind": entry.kind, "seq": entry.seq, "time": entry.time}
    if entry.actor:
        common["actor"] = entry.actor
    if entry.kind == "event":
        record = jsonl.event_record(entry.event, conn=entry.conn, direction=entry.direction or "",
                                    states=entry.states_after, **common)
        record["bytes"] = escape(entry.data)
    elif entry.kind == "error":
        assert entry.error is not None
        record = jsonl.error_record(entry.error, conn=entry.conn, direction=entry.direction or "",
                                    states=entry.states_after, **common)
    else:
        record = {"conn": entry.conn}
        if entry.direction:
            record["direction"] = entry.direction
        record.update(common)
        if entry.kind in ("sent", "received"):
            record["length"] = len(entry.data)
            record["bytes"] = escape(entry.data)
        if entry.event is not None:  # NEED_DATA / PAUSED notes
            record["sentinel"] = str(getattr(entry.event, "__name__", entry.event))
        if entry.text:
            record["text"] = entry.text
        if entry.states_after:
            record["states"] = entry.states_after
    if entry.states_before:
        record["states_before"] = entry.states_before
    if entry.transitions:
        record["transitions"] = [_transition(t) for t in entry.transitions]
    return record


def dumps(entry: LogEntry) -> str:
    return jsonl.dumps(entry_record(entry))


def _preview(data: bytes) -> str:
    text = escape(data)
    if len(text) > PREVIEW:
        return f"{text[:PREVIEW]}... ({len(data)} bytes)"
    return text


def event_summary(event: Any) -> tuple[str, list[str]]:
    """A start line and the header lines of an h11 event, for people."""
    kind = type(event).__name__
    fields = jsonl.event_fields(event)
    headers = [f"{name}: {value}" for name, value in fields.get("headers", [])]
    if kind == "Request":
        return f"Request {fields['method']} {fields['target']} HTTP/{fields['http_version']}", headers
    if kind in ("Response", "InformationalResponse"):
        return f"{kind} HTTP/{fields['http_version']} {fields['status_code']} {fields['reason']}", headers
    if kind == "Data":
        return f"Data ({fields['length']} bytes): {_preview(bytes(event.data))}", headers
    if kind == "EndOfMessage":
        return ("EndOfMessage" + (" with trailers" if headers else "")), headers
    return kind, headers


def _states_line(entry: LogEntry) -> str:
    parts = []
    for role in ("client", "server"):
        after = entry.states_after.get(role)
        if after is None:
            continue
        before = entry.states_before.get(role)
        parts.append(f"{role} {before} -> {after}" if before and before != after else f"{role} {after}")
    return "states: " + ", ".join(parts)


def render_entry(entry: LogEntry) -> list[str]:
    """Plain text lines for one entry (batch mode without --json, the `log` command)."""
    head = f"[{entry.time:8.3f}s] #{entry.conn}"
    if entry.direction:
        head += f" {entry.direction}"
    lines: list[str] = []
    if entry.kind == "event":
        verb = "sent" if entry.direction == ("c2s" if entry.actor == "client" else "s2c") else "received"
        title, headers = event_summary(entry.event)
        lines.append(f"{head} {entry.actor} {verb} {title}")
        lines += [f"    {h}" for h in headers]
        # a Data event without chunk framing is its own bytes: showing them twice says nothing
        same = type(entry.event).__name__ == "Data" and bytes(entry.event.data) == entry.data
        if entry.data and not same:
            lines.append(f"    bytes ({len(entry.data)}): {_preview(entry.data)}")
    elif entry.kind == "error":
        lines.append(f"{head} error {type(entry.error).__name__}: {entry.error}")
        if entry.text and entry.text != str(entry.error):
            lines.append(f"    {entry.text}")
        offset = getattr(entry.error, "offset", None)
        offending = getattr(entry.error, "offending", None)
        if offset is not None or offending is not None:
            where = f"at byte {offset}" if offset is not None else ""
            what = f" ({escape(offending)})" if offending else ""
            lines.append(f"    {where}{what}".rstrip())
    elif entry.kind in ("sent", "received"):
        lines.append(f"{head} {entry.kind} {len(entry.data)} bytes: {_preview(entry.data)}")
    elif entry.kind == "eof":
        lines.append(f"{head} EOF: {entry.text or 'the peer closed its sending side'}")
    else:
        lines.append(f"{head} {entry.text or entry.kind}")
    if entry.kind in ("event", "error", "state", "eof") and entry.states_after:
        lines.append(f"    {_states_line(entry)}")
    for t in entry.transitions:
        explanation = getattr(t, "explanation", None)
        section = getattr(t, "section", None)
        line = f"    {role_name(t.role)}: {t.old_state} -> {t.new_state} ({t.rule})"
        if explanation:
            line += f" {explanation}"
        if section:
            line += f" [{section}]"
        lines.append(line)
    return lines


# -- replay steps -------------------------------------------------------------------------------

_PREVIEW = 60
_WITH_HEADERS = frozenset({"Request", "Response", "InformationalResponse", "EndOfMessage"})


def _preview(data: bytes) -> str:
    text = escape(data[:_PREVIEW])
    return text + ("..." if len(data) > _PREVIEW else "")


def lossy_line(source_format: str, why: str) -> str:
    """Why the bytes of a lossy input may differ from what crossed the wire."""
    return f"note: {source_format} input is lossy: {why}"


def describe_event(event: Any, fields: dict[str, Any] | None = None) -> str:
    if type(event).__name__ == "Data":  # bodies can be huge: escape only the preview
        return f"Data {len(event.data)} bytes {_preview(bytes(event.data[:_PREVIEW + 1]))}"
    if fields is None:
        fields = jsonl.event_fields(event)
    kind = fields["event"]
    if kind == "Request":
        return f"Request {fields['method']} {fields['target']} HTTP/{fields['http_version']}"
    if kind in ("Response", "InformationalResponse"):
        return f"{kind} {fields['status_code']} {fields['reason']} HTTP/{fields['http_version']}".rstrip()
    if kind == "EndOfMessage" and fields["headers"]:
        return f"EndOfMessage with {len(fields['headers'])} trailer(s)"
    return str(kind)


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


def _raw_headers(headers: Any) -> list[tuple[bytes, bytes]]:
    return list(headers.raw_items() if hasattr(headers, "raw_items") else headers)


def _header_lines(items: list[tuple[bytes, bytes]]) -> list[str]:
    """``NAME: VALUE`` lines, escaped and indented; most fields repeat message after message, so
    their lines are remembered."""
    lines = []
    cache = _HEADER_LINES
    for item in items:
        try:
            line = cache.get(item)
        except TypeError:  # an engine that gives bytearrays: nothing to remember
            line = None
            item = (bytes(item[0]), bytes(item[1]))
        if line is None:
            name, value = item
            line = f"{'':24}{escape(name)}: {escape(value)}"
            if len(value) <= 256:
                if len(cache) >= _REMEMBERED:
                    cache.clear()
                cache[item] = line
        lines.append(line)
    return lines


_HEADER_LINES: dict[tuple[bytes, bytes], str] = {}
# How many rendered header fields are remembered: the fields that repeat (user agents, content
# types) stay, one-off values (cookies, lengths) make the cache start over now and then; small,
# so that a replay's memory does not grow with the file.
_REMEMBERED = 2048


def _describe_head(event: Any, kind: str, items: list[tuple[bytes, bytes]]) -> str:
    """describe_event for events other than Data, without escaping the headers it does not show."""
    if kind == "Request":
        return f"Request {escape(bytes(event.method))} {escape(bytes(event.target))} " \
               f"HTTP/{escape(bytes(event.http_version))}"
    if kind in ("Response", "InformationalResponse"):
        return (f"{kind} {int(event.status_code)} {escape(bytes(event.reason))} "
                f"HTTP/{escape(bytes(event.http_version))}").rstrip()
    if kind == "EndOfMessage" and items:
        return f"EndOfMessage with {len(items)} trailer(s)"
    return kind


def step_lines(step: ReplayStep, *, headers: bool = True) -> list[str]:
    """Plain text lines for one step: ``[conn] time direction what   states``."""
    head = _step_head(step)
    event = step.event
    if type(event).__name__ == "Data" and step.kind == "event" and not step.transitions:
        # the line most replays are made of: built in one go (bodies can be huge: escape only the
        # preview)
        data = event.data
        size = len(data)
        preview = escape(data[:_PREVIEW]) + ("..." if size > _PREVIEW else "")
        return [f"{head} {f'Data {size} bytes {preview}':<52} {_states(step.states)}"]
    lines: list[str] = []
    if step.kind == "open":
        client, server = step.peers
        lines.append(f"{head} open {client or '?'} -> {server or '?'}")
    elif step.kind == "event":
        event = step.event
        kind = type(event).__name__
        if kind == "Data":
            lines.append(f"{head} {describe_event(event):<52} {_states(step.states)}")
        else:
            items = _raw_headers(event.headers) if kind in _WITH_HEADERS else []
            lines.append(f"{head} {_describe_head(event, kind, items):<52} {_states(step.states)}")
            if headers and items:
                lines += _header_lines(items)
    elif step.kind == "error":
        exc = step.error
        # an engine that does not say where the error is: say how far parsing got
        where = f"at byte {step.offset}" if step.offset_exact else f"parsing stopped at byte {step.offset}"
        lines.append(f"{head} ERROR {type(exc).__name__}: {exc} ({where})   {_states(step.states)}")
        for name in ("rule", "section", "explanation"):
            value = getattr(exc, name, None)
            if value:
                lines.append(f"{'':24}{name}: {value}")
        offending = getattr(exc, "offending", None)
        if offending:
            lines.append(f"{'':24}offending bytes: {escape(offending)}")
        if step.text:
            lines.append(f"{'':24}{step.text}")
    elif step.kind == "end":
        text = f"{head} end   {_states(step.states)}"
        if step.tunnelled:
            text += f"   tunnelled c2s {step.tunnelled['c2s']} bytes, s2c {step.tunnelled['s2c']} bytes"
        lines.append(text)
        if step.text:
            lines.append(f"{'':24}{step.text}")
    else:
        lines.append(f"{head} {step.kind}: {step.text}   {_states(step.states)}".rstrip())
    for transition in step.transitions:
        explanation = transition.explanation
        if explanation:
            key = (transition.role, transition.old_state, transition.new_state, explanation)
            line = _TRANSITION_LINES.get(key)
            if line is None:
                line = f"{'':24}{key[0]} {key[1]} -> {key[2]}: {explanation}"
                if len(_TRANSITION_LINES) < 4096:  # a few dozen rules in practice; bounded regardless
                    _TRANSITION_LINES[key] = line
            lines.append(line)
    return lines


# (role, old state, new state, explanation) -> the rendered line; the same few repeat endlessly
_TRANSITION_LINES: dict[tuple[Any, Any, Any, str], str] = {}


def step_explanation(stepper: Stepper) -> list[str]:
    """`explain` in ``replay --step``: why the machines are in their states, what may come next, the last error."""
    step = stepper.current
    if step is None:
        return ["nothing replayed yet: type next"]
    explainable = is_explainable(stepper.engine)
    lines = [f"connection {step.conn}, after: {step_lines(step, headers=False)[0].strip()}"]
    for role in ("client", "server"):
        state = step.states.get(role)
        if state is None:
            continue
        lines.append(f"  {role} is {state}: {describe_state(role, state)}")
        allowed = allowed_events(role, state)
        if allowed:
            lines.append(f"    {role} may send next: {', '.join(allowed)}")
    for transition in step.transitions:
        rule = getattr(transition, "rule", None)
        section = getattr(transition, "section", None)
        explanation = getattr(transition, "explanation", None)
        lines.append(f"  {transition.role}: {transition.old_state} -> {transition.new_state}"
                     + (f" (rule {rule}" + (f", {section})" if section else ")") if rule else ""))
        if explanation:
            lines.append(f"    {explanation}")
    if stepper.last_error is not None and stepper.last_error.error is not None:
        exc = stepper.last_error.error
        lines.append(f"  last error (connection {stepper.last_error.conn}): {type(exc).__name__}: {exc}")
        for name in ("rule", "section", "explanation"):
            value = getattr(exc, name, None)
            if value:
                lines.append(f"    {name}: {value}")
        if not explainable:
            lines.append("    (engine h11 gives no rule or offset; --engine h11dbg explains more)")
    return lines


