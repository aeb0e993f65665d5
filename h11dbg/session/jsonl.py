"""The JSON Lines schema shared by every command's ``--json`` output.

One object per line.  Event lines carry ``conn`` (a connection id),
``direction`` (``"c2s"`` or ``"s2c"``), ``event`` (the h11 event class name,
or ``"error"``), the event's fields under h11's names, and ``states`` (both
roles' states *after* the event).  See docs/json.md.

Works with any engine that offers h11's API (attribute access only).
"""

from __future__ import annotations

from typing import Any

from h11dbg.escaping import escape


def _text(value: bytes) -> str:
    return escape(bytes(value))


def _headers(headers: Any) -> list[list[str]]:
    # raw_items() keeps the case as it was on the wire (h11 and h11dbg both offer it)
    raw = headers.raw_items() if hasattr(headers, "raw_items") else list(headers)
    return [[_text(name), _text(value)] for name, value in raw]


def state_names(states: dict[Any, Any], client_role: Any, server_role: Any) -> dict[str, str]:
    return {"client": str(states[client_role]), "server": str(states[server_role])}


def event_fields(event: Any) -> dict[str, Any]:
    """The fields of an h11 event, JSON-ready, under h11's names."""
    kind = type(event).__name__
    fields: dict[str, Any] = {"event": kind}
    if kind == "Request":
        fields.update(
            method=_text(event.method),
            target=_text(event.target),
            http_version=_text(event.http_version),
            headers=_headers(event.headers),
        )
    elif kind in ("Response", "InformationalResponse"):
        fields.update(
            status_code=int(event.status_code),
            reason=_text(event.reason),
            http_version=_text(event.http_version),
            headers=_headers(event.headers),
        )
    elif kind == "Data":
        fields.update(length=len(event.data), data=_text(event.data))
        if getattr(event, "chunk_start", False) or getattr(event, "chunk_end", False):
            fields.update(chunk_start=bool(event.chunk_start), chunk_end=bool(event.chunk_end))
    elif kind == "EndOfMessage":
        fields.update(headers=_headers(event.headers))
    return fields


def event_record(
    event: Any, *, conn: int | str, direction: str, states: dict[str, str], **extra: Any
) -> dict[str, Any]:
    record: dict[str, Any] = {"conn": conn, "direction": direction}
    record.update(event_fields(event))
    record["states"] = states
    record.update(extra)
    return record


def error_record(
    exc: BaseException, *, conn: int | str, direction: str, states: dict[str, str], **extra: Any
) -> dict[str, Any]:
    """A protocol error as a JSON line; h11dbg's explain details are added when present."""
    record: dict[str, Any] = {
        "conn": conn,
        "direction": direction,
        "event": "error",
        "error": type(exc).__name__,
        "message": str(exc),
        "offset": getattr(exc, "offset", None),
    }
    for name in ("rule", "section", "explanation"):
        value = getattr(exc, name, None)
        if value is not None:
            record[name] = value
    offending = getattr(exc, "offending", None)
    if offending is not None:
        record["offending"] = _text(offending)
    hint = getattr(exc, "error_status_hint", None)
    if hint is not None:
        record["error_status_hint"] = hint
    record["states"] = states
    record.update(extra)
    return record


def dumps(record: dict[str, Any]) -> str:
    import json  # (here: a replay without --json never needs it)

    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))
