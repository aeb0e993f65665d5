"""HAR 1.2 files (browsers' devtools "Save all as HAR") as transcripts.

A HAR keeps parsed fields, not bytes, so the bytes are *rebuilt* and the transcript is always
marked lossy.  The rebuilt messages are made self-consistent so that replay can frame them:

* request line ``METHOD origin-form-target HTTP/x.y`` from ``request.url``; HTTP/2 and HTTP/3
  entries become HTTP/1.1 (their ``:authority`` pseudo-header becomes ``Host``, the other
  pseudo-headers are dropped); a request without ``Host`` gets one from the URL;
* headers in the recorded order, joined with CRLF;
* bodies: ``postData.text`` (or its ``params``, form-encoded) and ``content.text`` (base64
  decoded when ``content.encoding``, or ``postData.encoding`` as ``h11dbg convert`` writes it, says
  so), UTF-8 encoded.  HAR stores the *decoded* body, so
  ``Content-Encoding`` is dropped, a ``Transfer-Encoding: chunked`` body is re-framed as a single
  chunk, and ``Content-Length`` is set to the body's real length (added when no framing header
  was there).  Every such change is listed in ``Meta.lossy``.

One connection per ``_connectionId`` (Chrome's and ours) or, without one, per ``connection`` (a port,
as Chrome and ``h11dbg convert`` write it there) when entries carry one, else one per entry.
Times come from ``startedDateTime``; the response arrives after the ``blocked``, ``dns``,
``connect``, ``send`` and ``wait`` timings.  HAR records no closes, so no Close records are made.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from datetime import datetime, timezone
from http import HTTPStatus
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode, urlsplit

from h11dbg.transcript.escaping import quote
from h11dbg.transcript.formats import TranscriptError
from h11dbg.transcript.model import Chunk, Meta, Open, Record, Transcript, absurd_time, absurd_time_message

LOSSY = "bytes reconstructed from HAR"
_NO_BODY_STATUS = {204, 304}


def sniff_har(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return text.startswith(b"{") and b'"log"' in head


class _Where:
    """Builds located errors: the JSON path of the field that is wrong."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, where: str, message: str) -> TranscriptError:
        return TranscriptError(self.path, f"{where}: {message}")

    def get(self, obj: Any, key: str, kind: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
        if not isinstance(obj, dict):
            raise self.error(where, "expected an object")
        if key not in obj:
            if default is not ...:
                return default
            raise self.error(f"{where}.{key}", "missing")
        value = obj[key]
        if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.error(f"{where}.{key}", f"expected {names}, got {_shown(value)}")
        return self.text(value, f"{where}.{key}") if isinstance(value, str) else value

    def text(self, value: str, where: str) -> str:
        """``value``, refused if it is not text: JSON's \\ud800 escapes make strings no bytes encode."""
        if not value.isascii():
            lone = next((i for i, char in enumerate(value) if "\ud800" <= char <= "\udfff"), None)
            if lone is not None:
                raise self.error(where, f"a lone surrogate \\u{ord(value[lone]):04x} at character {lone} (not text)")
        return value


def _shown(value: Any) -> str:
    """A JSON value as an error quotes it: a scalar's start, or what kind of container it is."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        value = value[:40]
    return json.dumps(value)[:40]


def _integer(text: str) -> int | float:
    # Past Python's limit on digits int() raises ValueError with no place in the file: such a number
    # is read as a float (infinity), which the field's type check then refuses by its JSON path.
    return int(text) if len(text) <= _MAX_DIGITS else float(text)


_MAX_DIGITS = 100
_MAX_DEPTH = 200  # JSON nesting reported when the decoder runs out of stack (HAR needs 6 levels)


def _too_deep(raw: bytes) -> int:
    """The byte offset where ``raw``'s JSON nesting first passes ``_MAX_DEPTH`` (0 if it never does)."""
    depth = 0
    for token in re.finditer(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', raw):
        if token[0] in b"[{":
            depth += 1
            if depth > _MAX_DEPTH:
                return token.start()
        elif token[0] in b"]}":
            depth -= 1
    return 0


def _parse_time(text: str) -> datetime | None:
    # Python 3.10's fromisoformat wants "+00:00" and 3 or 6 fractional digits
    text = text.strip().replace("Z", "+00:00")
    text = re.sub(r"\.(\d+)", lambda m: "." + (m.group(1) + "000000")[:6], text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    # HAR times carry a zone; one without is taken as UTC (naive and aware times cannot be compared)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=timezone.utc)


def _version(raw: str, notes: set[str]) -> str:
    upper = raw.strip().upper()
    if re.fullmatch(r"HTTP/1\.[01]", upper):
        return upper
    if upper in ("H2", "H3", "HTTP/2", "HTTP/2.0", "HTTP/3", "HTTP/3.0"):
        notes.add(f"{raw} entries rewritten as HTTP/1.1")
    elif upper:
        notes.add(f"unknown httpVersion {quote(raw)} rewritten as HTTP/1.1")
    return "HTTP/1.1"


def _headers(where: _Where, message: dict[str, Any], at: str) -> list[tuple[str, str]]:
    out = []
    for i, header in enumerate(where.get(message, "headers", list, at, [])):
        name = where.get(header, "name", str, f"{at}.headers[{i}]")
        value = where.get(header, "value", str, f"{at}.headers[{i}]")
        out.append((name, value))
    return out


def _frame(headers: list[tuple[str, str]], body: bytes, may_have_body: bool, notes: set[str]
           ) -> tuple[list[tuple[str, str]], bytes]:
    """Make the framing headers agree with the (decoded) body we actually have."""
    if not may_have_body:
        return headers, b""
    names = {n.lower() for n, _ in headers}
    if "content-encoding" in names:
        headers = [(n, v) for n, v in headers if n.lower() != "content-encoding"]
        notes.add("Content-Encoding dropped (HAR keeps decoded bodies)")
    chunked = any(n.lower() == "transfer-encoding" and "chunked" in v.lower() for n, v in headers)
    if chunked:
        notes.add("chunked bodies re-framed as one chunk")
        headers = [(n, v) for n, v in headers if n.lower() != "content-length"]
        framed = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
        return headers, framed
    if "content-length" in names:
        fixed = []
        for n, v in headers:
            if n.lower() == "content-length" and v.strip() != str(len(body)):
                notes.add("Content-Length set to the recorded body's length")
                v = str(len(body))
            fixed.append((n, v))
        return fixed, body
    if body:
        notes.add("Content-Length added where the HAR had no framing header")
        return [*headers, ("Content-Length", str(len(body)))], body
    return headers, body


def _head(start_line: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [start_line, *(f"{n}: {v}" for n, v in headers), "", ""]
    return "\r\n".join(lines).encode("utf-8")


def _request(where: _Where, entry: dict[str, Any], at: str, notes: set[str]
             ) -> tuple[bytes, bytes, str, str, str | None]:
    """(head, body, method, version, server host) of an entry's request."""
    request = where.get(entry, "request", dict, at)
    at = f"{at}.request"
    method = where.get(request, "method", str, at)
    url = where.get(request, "url", str, at)
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # a '[' that opens no IPv6 address, say
        raise where.error(f"{at}.url", f"not a URL ({exc}): {json.dumps(url)[:60]}") from None
    if method.upper() == "CONNECT":
        target = parts.netloc or parts.path
    else:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    version = _version(where.get(request, "httpVersion", str, at, ""), notes)
    raw_headers = _headers(where, request, at)
    authority = next((v for n, v in raw_headers if n.lower() == ":authority"), None)
    headers = [(n, v) for n, v in raw_headers if not n.startswith(":")]
    if not any(n.lower() == "host" for n, _ in headers):
        host = authority or parts.netloc
        if host:
            headers.insert(0, ("Host", host))
            if authority is None:
                notes.add("Host added from the URL")
    body = b""
    post = where.get(request, "postData", dict, at, None)
    if post is not None:
        text = where.get(post, "text", str, f"{at}.postData", None)
        if text is not None and where.get(post, "encoding", str, f"{at}.postData", "") == "base64":
            # not HAR 1.2, which has no binary request bodies: h11dbg convert writes them so
            try:
                body = base64.b64decode(text, validate=True)
            except ValueError:
                raise where.error(f"{at}.postData.text", "invalid base64") from None
        elif text is not None:
            body = text.encode("utf-8")
        else:
            params = where.get(post, "params", list, f"{at}.postData", [])
            fields = [(where.get(p, "name", str, f"{at}.postData.params[{i}]", ""),
                       where.get(p, "value", str, f"{at}.postData.params[{i}]", ""))
                      for i, p in enumerate(params) if isinstance(p, dict)]
            body = urlencode(fields).encode("ascii")
    has_body = bool(body) or any(n.lower() in ("content-length", "transfer-encoding") for n, _ in headers)
    headers, body = _frame(headers, body, has_body, notes)
    return _head(f"{method} {target} {version}", headers), body, method, version, parts.hostname


def _response(where: _Where, entry: dict[str, Any], at: str, method: str, notes: set[str]
              ) -> tuple[bytes, bytes] | None:
    response = where.get(entry, "response", dict, at)
    at = f"{at}.response"
    status = where.get(response, "status", int, at)
    if status <= 0:
        notes.add("responses that never arrived (status 0) left out")
        return None
    version = _version(where.get(response, "httpVersion", str, at, ""), notes)
    reason = where.get(response, "statusText", str, at, "")
    if not reason:
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
    headers = _headers(where, response, at)
    headers = [(n, v) for n, v in headers if not n.startswith(":")]
    content = where.get(response, "content", dict, at, {})
    text = where.get(content, "text", str, f"{at}.content", None)
    if text is None:
        body = b""
        if where.get(content, "size", int, f"{at}.content", 0) > 0:
            notes.add("bodies the HAR did not keep are empty")
    elif where.get(content, "encoding", str, f"{at}.content", "") == "base64":
        try:
            body = base64.b64decode(text, validate=True)
        except ValueError:
            raise where.error(f"{at}.content.text", "invalid base64") from None
    else:
        body = text.encode("utf-8")
    may_have_body = not (100 <= status < 200 or status in _NO_BODY_STATUS or method.upper() == "HEAD")
    headers, body = _frame(headers, body, may_have_body, notes)
    return _head(f"{version} {status} {reason}", headers), body


def _milliseconds(where: _Where, timings: Any, at: str) -> float:
    if not isinstance(timings, dict):
        return 0.0
    total = 0.0
    for name in ("blocked", "dns", "connect", "send", "wait"):
        value = timings.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if absurd_time(value / 1000.0):
                raise where.error(f"{at}.timings.{name}", absurd_time_message(f"{_shown(value)} ms"))
            if value > 0:
                total += value
    return total


def _server(where: _Where, entry: dict[str, Any], at: str, url: str) -> str | None:
    parts = urlsplit(url)
    ip = where.get(entry, "serverIPAddress", (str, type(None)), at, None)
    host = ip.strip("[]") if ip else parts.hostname
    if host is None:
        return None
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        port = 80
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def read_har(path: str | Path, stream: IO[bytes] | None = None) -> Transcript:
    """A HAR file; the whole JSON is loaded (HAR files are JSON documents, not streams).  ``stream``
    (standard input; ``path`` then only names it) is read instead of the file."""
    path = Path(path)
    where = _Where(path)
    try:
        raw = stream.read() if stream is not None else path.read_bytes()
        document = json.loads(raw.decode("utf-8-sig"), parse_int=_integer)
    except OSError as exc:
        raise TranscriptError(path, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise TranscriptError(path, f"not UTF-8 text ({exc.reason})", offset=exc.start) from None
    except json.JSONDecodeError as exc:
        raise TranscriptError(path, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno) from None
    except RecursionError:
        raise TranscriptError(path, f"JSON nested more than {_MAX_DEPTH} levels deep", offset=_too_deep(raw)) from None
    log = where.get(document, "log", dict, "$")
    entries = where.get(log, "entries", list, "log")
    creator = log.get("creator") if isinstance(log.get("creator"), dict) else {}
    tool = " ".join(where.text(str(creator[k]), f"log.creator.{k}")
                    for k in ("name", "version") if creator.get(k)) or None

    notes: set[str] = set()
    records: list[tuple[float, int, Record]] = []
    conns: dict[str, int] = {}
    starts: list[tuple[datetime | None, int]] = []
    for i, entry in enumerate(entries):
        started = where.get(entry, "startedDateTime", str, f"log.entries[{i}]", "")
        starts.append((_parse_time(started), i))
    known = [t for t, _ in starts if t is not None]
    origin = min(known) if known else None

    sequence = itertools.count()  # keeps each connection's order among records of equal time
    last_time: dict[int, float] = {}
    for (started, i), entry in zip(starts, entries, strict=True):
        at = f"log.entries[{i}]"
        head, body, method, _version, _host = _request(where, entry, at, notes)
        t = (started - origin).total_seconds() if started is not None and origin is not None else 0.0
        if absurd_time(t):
            raise where.error(f"{at}.startedDateTime", absurd_time_message(f"{t:.0f} s"))
        # Chrome's (and our) _connectionId tells connections apart; ``connection`` may be a port that
        # several connections to one server share
        key = next((entry[name] for name in ("_connectionId", "connection")
                    if isinstance(entry.get(name), (str, int)) and str(entry[name])), None)
        key = f"id:{key}" if key is not None else f"entry:{i}"
        if key not in conns:
            conns[key] = len(conns) + 1  # numbered from 1, as in our own transcripts
            url = where.get(entry["request"], "url", str, f"{at}.request")
            records.append((t, next(sequence), Open(conns[key], t, None, _server(where, entry, at, url))))
        conn = conns[key]
        t = max(t, last_time.get(conn, t))  # a connection's messages never overtake each other
        records.append((t, next(sequence), Chunk(conn, "c2s", head, t)))
        if body:
            records.append((t, next(sequence), Chunk(conn, "c2s", body, t)))
        last_time[conn] = t
        answer = _response(where, entry, at, method, notes)
        if answer is not None:
            t_response = t + _milliseconds(where, entry.get("timings"), at) / 1000.0
            if absurd_time(t_response):
                raise where.error(f"{at}.timings", absurd_time_message(f"{t_response:.0f} s"))
            for data in answer:
                if data:
                    records.append((t_response, next(sequence), Chunk(conn, "s2c", data, t_response)))
            last_time[conn] = t_response
    records.sort(key=lambda item: (item[0], item[1]))

    meta = Meta(
        tool=tool,
        recorded_at=origin.isoformat() if origin is not None else None,
        description=f"imported from {path.name}",
        source_format="har",
        lossy="; ".join([LOSSY, *sorted(notes)]),
    )
    return Transcript(meta, [r for _, _, r in records])
