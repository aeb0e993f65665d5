"""HTTP exchanges as a HAR 1.2 document (what a browser's devtools "Import HAR" reads).

A HAR holds parsed messages, not bytes: :mod:`h11dbg.replay.convert` parses a transcript's bytes into
:class:`Exchange` objects (with the replay's state machines) and this module words them as HAR.
Bodies are stored as HAR wants them: without their transfer coding (chunks joined) and without
their content coding (gzip and deflate are decoded; other codings are kept as they came, in base64,
with a note), as ``text`` when they are UTF-8 and as base64 with ``"encoding": "base64"`` otherwise.
A request body has no ``encoding`` in HAR 1.2; a binary one gets ``postData.encoding`` (our importer
reads it).  What the format loses is said by ``h11dbg.transcript.formats.OUTPUTS``.
"""

from __future__ import annotations

import base64
import datetime
import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

from h11dbg import __version__
from h11dbg.transcript.model import Meta

Headers = list[tuple[bytes, bytes]]


@dataclass
class Message:
    """A request or a response as parsed: its head, its body without transfer coding, its times."""

    headers: Headers
    started: float  # its head's time (a response: its final head's, as replay's timing counts it)
    body: bytearray = field(default_factory=bytearray)
    ended: float | None = None  # its last byte's time; None when it never completed
    head_size: int = -1  # its head's bytes on the wire (-1: unknown)
    # the bytes it took on the wire, head, framed body and any interim responses before it (None: unknown)
    wire_size: int | None = None


@dataclass
class Request(Message):
    method: bytes = b""
    target: bytes = b""
    version: bytes = b"1.1"


@dataclass
class Response(Message):
    status: int = 0
    reason: bytes = b""
    version: bytes = b"1.1"
    interim: int = 0  # 1xx responses before it (HAR has no place for them)


@dataclass
class Exchange:
    conn: int
    server: str | None  # the server's HOST:PORT, as recorded
    request: Request
    response: Response | None = None


def _text(value: bytes, notes: set[str]) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        notes.add("header bytes that are not UTF-8 are written as Latin-1 text")
        return value.decode("latin-1")


def _header(headers: Headers, name: bytes) -> bytes | None:
    return next((value for key, value in headers if key.lower() == name), None)


def _decoded(body: bytes, headers: Headers, notes: set[str]) -> tuple[bytes, bool]:
    """The body without its content coding, and whether that was undone."""
    coding = (_header(headers, b"content-encoding") or b"").strip().lower()
    if not coding or coding == b"identity" or not body:
        return body, False
    try:
        if coding in (b"gzip", b"x-gzip"):
            return zlib.decompress(body, 16 + zlib.MAX_WBITS), True
        if coding == b"deflate":
            try:
                return zlib.decompress(body), True
            except zlib.error:  # raw deflate, as some servers send it
                return zlib.decompress(body, -zlib.MAX_WBITS), True
    except zlib.error:
        notes.add(f"a body that does not decode as its Content-Encoding ({coding.decode('latin-1')}) "
                  "is kept as it came")
        return body, False
    notes.add(f"bodies in Content-Encoding {coding.decode('latin-1')} are kept coded (only gzip and "
              "deflate are decoded)")
    return body, False


def _cookies(headers: Headers, name: bytes, notes: set[str]) -> list[dict[str, Any]]:
    """HAR's cookies: the pairs of every Cookie header (requests) or each Set-Cookie and its attributes."""
    cookies: list[dict[str, Any]] = []
    for key, value in headers:
        if key.lower() != name:
            continue
        pairs = [part.strip() for part in _text(value, notes).split(";")]
        if name == b"cookie":
            cookies += [_cookie(pair) for pair in pairs if "=" in pair]
        elif pairs and "=" in pairs[0]:
            cookie = _cookie(pairs[0])
            for attribute in pairs[1:]:
                key_text, _, attribute_value = attribute.partition("=")
                field = _COOKIE_ATTRIBUTES.get(key_text.strip().lower())
                if field in ("httpOnly", "secure"):
                    cookie[field] = True
                elif field is not None:
                    cookie[field] = attribute_value.strip()
            cookies.append(cookie)
    return cookies


_COOKIE_ATTRIBUTES = {"path": "path", "domain": "domain", "expires": "expires", "httponly": "httpOnly",
                      "secure": "secure", "samesite": "sameSite"}


def _cookie(pair: str) -> dict[str, Any]:
    name, _, value = pair.partition("=")
    return {"name": name.strip(), "value": value.strip()}


def _body(data: bytes) -> dict[str, Any]:
    try:
        return {"text": data.decode("utf-8")}
    except UnicodeDecodeError:
        return {"text": base64.b64encode(data).decode("ascii"), "encoding": "base64"}


def _url(exchange: Exchange, notes: set[str]) -> str:
    request = exchange.request
    target = request.target.decode("latin-1")
    if target.lower().startswith(("http://", "https://")):
        return target
    host = _header(request.headers, b"host")
    authority = host.decode("latin-1") if host else (exchange.server or "")
    if not host:
        notes.add("a request without Host is given the server's address in its URL")
    if request.method.upper() == b"CONNECT":
        return f"http://{target}"
    return f"http://{authority}{target if target.startswith('/') else '/' + target}"


def _milliseconds(start: float | None, end: float | None) -> float:
    if start is None or end is None:
        return 0.0
    return round(max(0.0, end - start) * 1000.0, 3)


def _entry(exchange: Exchange, origin: datetime.datetime, notes: set[str]) -> dict[str, Any]:
    request, response = exchange.request, exchange.response
    url = _url(exchange, notes)
    content_type = _header(request.headers, b"content-type")
    har_request: dict[str, Any] = {
        "method": request.method.decode("latin-1"),
        "url": url,
        "httpVersion": f"HTTP/{request.version.decode('ascii', 'replace')}",
        "cookies": _cookies(request.headers, b"cookie", notes),
        "headers": [{"name": _text(k, notes), "value": _text(v, notes)} for k, v in request.headers],
        "queryString": [{"name": k, "value": v} for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)],
        "headersSize": request.head_size,
        "bodySize": len(request.body),
    }
    if request.body:
        post = _body(bytes(request.body))
        if "encoding" in post:
            notes.add("request bodies that are not UTF-8 are base64 with postData.encoding (not in HAR 1.2)")
        har_request["postData"] = {"mimeType": _text(content_type or b"", notes), **post}
    if response is None:
        notes.add("requests without a complete response head have status 0")
        har_response: dict[str, Any] = {
            "status": 0, "statusText": "", "httpVersion": "", "cookies": [], "headers": [],
            "content": {"size": 0, "mimeType": ""}, "redirectURL": "", "headersSize": -1, "bodySize": -1,
        }
    else:
        body, decoded = _decoded(bytes(response.body), response.headers, notes)
        content: dict[str, Any] = {"size": len(body),
                                   "mimeType": _text(_header(response.headers, b"content-type") or b"", notes)}
        if decoded:
            content["compression"] = len(body) - len(response.body)
        if body:
            content.update(_body(body))
        if response.interim:
            notes.add("interim 1xx responses are left out (HAR keeps the final response)")
        har_response = {
            "status": response.status,
            "statusText": _text(response.reason, notes),
            "httpVersion": f"HTTP/{response.version.decode('ascii', 'replace')}",
            "cookies": _cookies(response.headers, b"set-cookie", notes),
            "headers": [{"name": _text(k, notes), "value": _text(v, notes)} for k, v in response.headers],
            "content": content,
            "redirectURL": _text(_header(response.headers, b"location") or b"", notes),
            "headersSize": response.head_size,
            "bodySize": len(response.body),
        }
        if response.wire_size is not None:
            # Chrome's field for the bytes on the wire: without it its importer adds headersSize and
            # bodySize, which leave out chunk framing and interim responses
            har_response["_transferSize"] = response.wire_size
    sent = request.ended if request.ended is not None else request.started
    # HAR's phases follow each other; a response that began before the request was all sent (an early
    # answer) is received from then on, so the phases add up to the exchange's real time
    answered = max(sent, response.started) if response else None
    timings = {
        "blocked": -1, "dns": -1, "connect": -1, "ssl": -1,
        "send": _milliseconds(request.started, sent),
        "wait": _milliseconds(sent, answered),
        "receive": _milliseconds(answered, response.ended if response else None),
    }
    entry: dict[str, Any] = {
        "startedDateTime": _iso(origin + datetime.timedelta(seconds=request.started)),
        "pageref": _PAGE,
        "time": round(timings["send"] + timings["wait"] + timings["receive"], 3),
        "request": har_request,
        "response": har_response,
        "cache": {},
        "timings": timings,
        # Chrome's own field for the connection (its importer reads ``connection`` as the server's port)
        "_connectionId": str(exchange.conn),
    }
    if exchange.server:
        address, _, port = exchange.server.rpartition(":")
        entry["serverIPAddress"] = address.strip("[]")
        entry["connection"] = port  # as Chrome writes it: HAR 1.2 lets it be "the client or server port"
    return entry


_PAGE = "page_1"


def _iso(moment: datetime.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _origin(meta: Meta, notes: set[str]) -> datetime.datetime:
    if meta.recorded_at:
        try:
            moment = datetime.datetime.fromisoformat(meta.recorded_at.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            pass
    notes.add("the recording's date is unknown: times start at 1970-01-01T00:00:00Z")
    return datetime.datetime.fromtimestamp(0, datetime.timezone.utc)


def har_document(exchanges: Iterable[Exchange], meta: Meta, notes: set[str]) -> dict[str, Any]:
    """The HAR 1.2 document; ``notes`` (what could not be kept) grows and ends up in its comment."""
    exchanges = list(exchanges)  # read first: a capture's date is known once its packets are
    origin = _origin(meta, notes)
    entries = [_entry(exchange, origin, notes) for exchange in exchanges]
    comment = [f"{key}: {value}" for key, value in (("tool", meta.tool), ("description", meta.description),
                                                      ("source_format", meta.source_format),
                                                      ("lossy", meta.lossy)) if value]
    comment += [f"not kept: {note}" for note in sorted(notes)]
    # one page holding every entry: importers that group entries by page (Firefox's) show them all
    page = {"startedDateTime": entries[0]["startedDateTime"] if entries else _iso(origin), "id": _PAGE,
            "title": meta.description or meta.tool or "h11dbg", "pageTimings": {"onContentLoad": -1, "onLoad": -1}}
    log: dict[str, Any] = {"version": "1.2", "creator": {"name": "h11dbg", "version": __version__},
                           "pages": [page], "entries": entries}
    if comment:
        log["comment"] = "\n".join(comment)
    return {"log": log}


def write_har(exchanges: Iterable[Exchange], meta: Meta, stream: IO[bytes], notes: set[str]) -> None:
    document = har_document(exchanges, meta, notes)
    stream.write(json.dumps(document, indent=2, ensure_ascii=False).encode("utf-8") + b"\n")
