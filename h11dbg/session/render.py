"""Plain-text and JSON renderings of log entries (no rich here: the REPL's colours live in h11dbg.ui).

JSON lines follow docs/json.md: event and error lines use h11dbg.session.jsonl's schema; every
line also has ``kind``, ``seq`` and ``time`` so the other entry kinds can be told apart.
"""

from __future__ import annotations

from typing import Any

from h11dbg.escaping import escape
from h11dbg.session import jsonl
from h11dbg.session.log import LogEntry

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
