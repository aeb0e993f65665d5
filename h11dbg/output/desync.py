"""How ``h11dbg desync`` reads: each reader's requests side by side, the smuggled one marked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from h11dbg.transcript.escaping import escape

if TYPE_CHECKING:
    from h11dbg.replay.desync import Desync, Reading, Request

SHOWN = 64  # escaped characters of a request's bytes on its line (the line fits 80 columns)
RANGE = 13


def _bytes(data: bytes, request: Request) -> str:
    """The request's bytes, escaped; a long one keeps its start and its end (where a smuggled request
    hides), the middle elided."""
    text = escape(data[request.start : request.end])
    if len(text) <= SHOWN:
        return text
    half = (SHOWN - 1) // 2
    return text[:half] + "…" + text[-(SHOWN - 1 - half) :]


def _range(request: Request) -> str:
    return f"[{request.start}, {'…' if request.end is None else request.end})"


def lines(found: Desync) -> list[str]:
    """Each reader in turn, each request it sees on a line (its bytes under it), then the verdict."""
    out = [f"connection {found.conn}: {len(found.data)} bytes from the client"]
    for reading in found.readings:
        smuggled = {r.start for r in found.only_in(reading)} if not reading.error else set()
        out.append(f"  {reading.reader}")
        for request in reading.requests:
            what = f"{escape(request.method)} {escape(request.target)}".strip() or "(no start line yet)"
            framing = (f"{request.framing}, {request.body} body bytes" if request.end is not None
                       else "incomplete: waits for more bytes")
            out.append(f"    {_range(request):<{RANGE}}{what}   {framing}"
                       + ("   ◀ only this reader sees this request" if request.start in smuggled else ""))
            out.append(f"    {'':<{RANGE}}{_bytes(found.data, request)}")
        if reading.error:
            where = f" at byte {reading.error_offset}" if reading.error_offset is not None else ""
            out.append(f"    refused{where}: {reading.error}")
        elif not reading.requests:
            out.append("    no request")
    out.append("  " + verdict(found))
    return out


def _bounds(reading: Reading) -> list[tuple[int, int | None]]:
    return [(r.start, r.end) for r in reading.requests]


def verdict(found: Desync) -> str:
    """One line: do the readers agree, and if not, the request only one of them sees."""
    front, back, strict = found.readings
    if found.agree:
        return f"agree: all three read {len(front.requests)} request(s) in the same places"
    said = []
    if _bounds(front) != _bounds(back):
        for reading in (front, back):
            for request in found.only_in(reading):
                said.append(f"bytes {_range(request)} ({_bytes(found.data, request)[:24]}) are a request only the "
                            f"{reading.reader.split(' (')[0]} sees")
        said = said or ["the front end and the back end end the requests in different places"]
    name = strict.reader.split(" (")[0]
    if strict.error:
        said.append(f"{name} refuses the bytes instead of guessing")
    elif _bounds(strict) == _bounds(back) != _bounds(front):
        said.append(f"{name} reads them as the back end does")
    elif _bounds(strict) == _bounds(front) != _bounds(back):
        said.append(f"{name} reads them as the front end does")
    return "disagree: " + "; ".join(said)


def record(found: Desync) -> dict[str, Any]:
    """One connection as JSON (docs/json.md)."""
    return {
        "event": "desync", "conn": found.conn, "bytes": len(found.data), "agree": found.agree,
        "readings": [{
            "reader": reading.reader,
            "requests": [{"start": r.start, "end": r.end, "method": escape(r.method), "target": escape(r.target),
                          "framing": r.framing, "body": r.body,
                          "only_here": not reading.error and r in found.only_in(reading)} for r in reading.requests],
            "error": reading.error, "error_offset": reading.error_offset,
        } for reading in found.readings],
    }
