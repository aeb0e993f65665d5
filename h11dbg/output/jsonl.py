"""The JSON Lines schema of every command's ``--json`` output: the one writer, live and replay.

One object per line.  Event lines carry ``conn`` (a connection id), ``direction`` (``"c2s"`` or
``"s2c"``), ``event`` (the h11 event class name, or ``"error"``), the event's fields under h11's
names, ``states`` (both roles' states *after* the event) and ``transitions`` in
:func:`h11dbg.output.describe.transition_fields`' form.  A live session's log entries
(:func:`entry_record`) and a replay's steps (:func:`step_record`) are built from the same event and
error records, so the same event reads the same from either path.  See docs/json.md.

:func:`step_line` is a fast path for replay (a property test holds it equal to
``dumps(step_record(step))``).  Works with any engine that offers h11's API (attribute access only).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from h11dbg.output.describe import (
    REMEMBERED,
    peer_close_explanation,
    peer_close_section,
    peer_close_summary,
    raw_headers,
    timing_fields,
    tls_fields,
    transition_fields,
    transition_key,
)
from h11dbg.transcript.escaping import escape, excerpt

if TYPE_CHECKING:
    from h11dbg.engines import Headers
    from h11dbg.protocol import Transition
    from h11dbg.replay.diff import Difference
    from h11dbg.replay.steps import ReplayStep
    from h11dbg.session.log import LogEntry


def _text(value: bytes) -> str:
    return escape(bytes(value))


def _headers(headers: Headers) -> list[list[str]]:
    return [[_text(name), _text(value)] for name, value in raw_headers(headers)]


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
        record["offending"] = excerpt(bytes(offending))
    hint = getattr(exc, "error_status_hint", None)
    if hint is not None:
        record["error_status_hint"] = hint
    record["states"] = states
    record.update(extra)
    return record


def entry_record(entry: LogEntry, *, hexdump: bool = False) -> dict[str, Any]:
    """One live log entry as a JSON-ready dict: the event or error record plus ``kind``, ``seq``,
    ``time``, ``actor`` and the wire ``bytes``; ``hexdump`` (`hex on`): ``hex``, those bytes in hex."""
    common: dict[str, Any] = {"kind": entry.kind, "seq": entry.seq, "time": entry.time}
    if entry.actor:
        common["actor"] = entry.actor
    if entry.kind == "event":
        record = event_record(entry.event, conn=entry.conn, direction=entry.direction or "",
                              states=entry.states_after, **common)
        record["bytes"] = escape(entry.data)
    elif entry.kind == "error":
        assert entry.error is not None
        record = error_record(entry.error, conn=entry.conn, direction=entry.direction or "",
                              states=entry.states_after, **common)
    elif entry.kind == "timing":
        assert entry.timing is not None
        record = {"event": "timing", "conn": entry.conn, "timing": timing_fields(entry.timing), **common}
    elif entry.kind == "closed":
        assert entry.closed is not None
        close = entry.closed
        record = {"conn": entry.conn, "direction": entry.direction, **common, "peer": close.peer,
                  "situation": close.situation, "idle": close.idle, "reset": close.reset,
                  "request": close.request, "idempotent": close.idempotent, "reconnect": close.reconnect,
                  "text": peer_close_summary(close), "explanation": " ".join(peer_close_explanation(close)),
                  "section": peer_close_section(close)}
        if entry.error is not None:
            record.update(error=type(entry.error).__name__, message=str(entry.error))
        record["states"] = entry.states_after
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
        if entry.suggestions:
            record["suggestions"] = [{"command": s.command, "reason": s.reason} for s in entry.suggestions]
        if entry.tls is not None:
            record["tls"] = tls_fields(entry.tls)
        if entry.states_after:
            record["states"] = entry.states_after
    if entry.states_before:
        record["states_before"] = entry.states_before
    if entry.transitions:
        record["transitions"] = [transition_fields(t) for t in entry.transitions]
    if hexdump and entry.data:
        record["hex"] = entry.data.hex()
    return record


def entry_line(entry: LogEntry, *, hexdump: bool = False) -> str:
    return dumps(entry_record(entry, hexdump=hexdump))


def difference_line(found: Difference, names: Sequence[str]) -> str:
    """``diff --json``: where two engines part ways, each engine's step (a ``replay --json`` record) under its name."""
    record: dict[str, Any] = {"conn": found.conn, "event": "diff", "index": found.index}
    for name, step in zip(names, (found.first, found.second), strict=True):
        record[name] = step_record(step) if step is not None else None
    return dumps(record)


def same_line(conn: int, steps: int) -> str:
    return dumps({"conn": conn, "event": "same", "steps": steps})


def lossy_line(source_format: str, why: str) -> str:
    """Why the bytes of a lossy input may differ from what crossed the wire."""
    return dumps({"conn": None, "event": "lossy", "source_format": source_format, "lossy": why})


def dumps(record: dict[str, Any]) -> str:
    import json  # (here: a replay without --json never needs it)

    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def step_records(step: ReplayStep) -> list[dict[str, Any]]:
    """The JSON lines of one replay step: its record, then its exchange's timing when it completes one."""
    if step.timing is None:
        return [step_record(step)]
    # the shape a live session's timing line has (without kind, seq, actor)
    return [step_record(step), {"event": "timing", "conn": step.conn, "timing": step.timing,
                                "time": round(step.time, 6)}]


def step_record(step: ReplayStep) -> dict[str, Any]:
    """One replay step as a JSON-ready dict (without the timing line of :func:`step_records`); steps
    other than events name their kind in ``event``."""
    extra: dict[str, Any] = {"time": round(step.time, 6)}
    if step.kind == "event":
        record = event_record(step.event, conn=step.conn, direction=step.direction or "",
                                    states=step.states, **extra)
    elif step.kind == "error":
        assert step.error is not None
        record = error_record(step.error, conn=step.conn, direction=step.direction or "",
                                    states=step.states, **extra)
        record["offset"] = step.offset
        if not step.offset_exact:
            record["offset_exact"] = False
        if step.text:
            record["text"] = step.text
    else:
        record = {"conn": step.conn, "direction": step.direction, "event": step.kind, **extra}
        if step.kind == "open":
            record["client"], record["server"] = step.peers
        if step.text:
            record["text"] = step.text
        if step.tunnelled:
            record["tunnelled"] = step.tunnelled
        record["states"] = step.states
    if step.transitions:
        record["transitions"] = [transition_fields(t) for t in step.transitions]
    return record


def step_line(step: ReplayStep) -> str:
    """The lines of :func:`step_records` (``dumps`` of each, joined by newlines), the same text, built
    directly for Data events and heads.

    Data events carry nearly all of a replay's bytes; building a dict for them and having the
    json encoder escape the escaped body again cost more than the rest of ``--json`` together.
    Escaped bytes are printable ASCII, so JSON needs only ``\\`` and ``"`` escaped in them.
    """
    event = step.event
    if type(step.conn) is not int or type(step.time) is not float:
        return "\n".join(map(dumps, step_records(step)))
    if step.kind != "event":
        if step.kind in ("open", "error") or step.text or step.tunnelled:
            return dumps(step_record(step))
        direction = "null" if step.direction is None else _json_str(step.direction)
        line = (f'{{"conn":{step.conn},"direction":{direction},"event":"{step.kind}",'
                f'"time":{float.__repr__(round(step.time, 6))},"states":{_states_json(step.states)}')
        if step.transitions:
            line += ',"transitions":[' + ",".join(_transition_json(t) for t in step.transitions) + "]"
        return line + "}"
    kind = type(event).__name__
    if kind != "Data":
        fields = _event_json(event, kind)
        if fields is None:
            return dumps(step_record(step))
        time = round(step.time, 6)
        line = (f'{{"conn":{step.conn},"direction":{_json_str(step.direction or "")},{fields},'
                f'"states":{_states_json(step.states)},"time":{float.__repr__(time)}')
        if step.transitions:
            line += ',"transitions":[' + ",".join(_transition_json(t) for t in step.transitions) + "]"
        timing = step.timing
        if timing is not None:  # one per exchange, after its response's EndOfMessage
            return line + ('}\n{"event":"timing","conn":%d,"timing":{"dns":null,"connect":null,"tls":null,'  # noqa: UP031
                           '"first_byte":%r,"total":%r},"time":%r}' % (step.conn, timing["first_byte"],
                                                                      timing["total"], time))
        return line + "}"
    data = event.data
    if getattr(event, "chunk_start", False) or getattr(event, "chunk_end", False):
        chunk = f',"chunk_start":{"true" if event.chunk_start else "false"}' \
                f',"chunk_end":{"true" if event.chunk_end else "false"}'
    else:
        chunk = ""
    text = bytes(data).decode("latin-1").encode("unicode_escape")
    if b"\\" in text:
        text = text.replace(b"\\", b"\\\\")
    if b'"' in text:
        text = text.replace(b'"', b'\\"')
    line = (f'{{"conn":{step.conn},"direction":{_json_str(step.direction or "")},"event":"Data",'
            f'"length":{len(data)},"data":"{text.decode("ascii")}"{chunk},'
            f'"states":{_states_json(step.states)},"time":{float.__repr__(round(step.time, 6))}')
    if step.transitions:
        line += ',"transitions":[' + ",".join(_transition_json(t) for t in step.transitions) + "]"
    return line + "}"


def _event_json(event: Any, kind: str) -> str | None:
    """event_fields(event) as JSON object members, for the events with heads; None: others."""
    if kind == "Request":
        return (f'"event":"Request","method":{_json_bytes(event.method)},'
                f'"target":{_json_bytes(event.target)},"http_version":{_json_bytes(event.http_version)},'
                f'"headers":{_headers_json(event.headers)}')
    if kind in ("Response", "InformationalResponse"):
        return (f'"event":"{kind}","status_code":{int(event.status_code)},'
                f'"reason":{_json_bytes(event.reason)},"http_version":{_json_bytes(event.http_version)},'
                f'"headers":{_headers_json(event.headers)}')
    if kind == "EndOfMessage":
        return f'"event":"EndOfMessage","headers":{_headers_json(event.headers)}'
    return None


def _headers_json(headers: Headers) -> str:
    return "[" + ",".join(f"[{_json_bytes(name)},{_json_bytes(value)}]" for name, value in raw_headers(headers)) + "]"


_JSON_BYTES: dict[bytes, str] = {}


def _json_bytes(value: bytes) -> str:
    """A head's bytes as a JSON string of their escaped text (heads repeat: names, versions, values)."""
    value = bytes(value)
    text = _JSON_BYTES.get(value)
    if text is None:
        import json  # (here: a replay without --json never needs it)

        text = json.dumps(escape(value), ensure_ascii=False)
        if len(_JSON_BYTES) >= REMEMBERED:
            _JSON_BYTES.clear()
        if len(value) <= 256:
            _JSON_BYTES[value] = text
    return text


_JSON_TEXT: dict[str, str] = {}


def _json_str(value: str) -> str:
    text = _JSON_TEXT.get(value)
    if text is None:
        import json

        text = json.dumps(value, ensure_ascii=False)
        if len(_JSON_TEXT) < 4096:
            _JSON_TEXT[value] = text
    return text


_STATES_JSON: dict[tuple[Any, ...], str] = {}


def _states_json(states: dict[str, str]) -> str:
    key = tuple(states.items())
    text = _STATES_JSON.get(key)
    if text is None:
        text = dumps(states)
        if len(_STATES_JSON) < 4096:
            _STATES_JSON[key] = text
    return text


_TRANSITION_JSON: dict[tuple[Any, ...], str] = {}


def _transition_json(transition: Transition) -> str:
    key = transition_key(transition)
    text = _TRANSITION_JSON.get(key)
    if text is None:
        text = dumps(transition_fields(transition))
        if len(_TRANSITION_JSON) < REMEMBERED:
            _TRANSITION_JSON[key] = text
    return text
