"""The receive side: a buffer that is never rescanned from its start, and the readers.

A reader turns buffered bytes into the next event (or ``None`` when more bytes
are needed).  Which reader runs depends on the peer's state and, for bodies, on
the message framing (RFC 9112 §6.3).  Every reader keeps its scan position, so
feeding a message one byte at a time costs the same per byte as feeding it
whole.

Readers raise :class:`LocalProtocolError`; the connection re-raises it as
:class:`RemoteProtocolError`, since the bytes came from the peer.  Each error
names the rule, the RFC section, the absolute byte offset in the peer's stream
and the offending bytes.
"""

from __future__ import annotations

import re
from typing import NoReturn, Protocol

from ._abnf import (
    chunk_header_re,
    chunk_line_fast_re,
    field_line_re,
    header_lines_re,
    host_re,
    request_line_re,
    status_line_re,
    token_re,
)
from ._events import Data, EndOfMessage, Event, InformationalResponse, Request, Response
from ._headers import Headers, normalize_and_validate
from ._util import LocalProtocolError, quoted

_head_end_re = re.compile(rb"\n\r?\n")
_crlf_crlf = b"\r\n\r\n"
_bare_lf_re = re.compile(rb"(?<!\r)\n")
# Trailer lines as header_lines_re reads head lines: findall, each match anchored at a line start, so
# the work is linear.  (A fullmatch of "(?:field-line CRLF)*" backtracked exponentially into earlier
# lines whose OWS could go either side of an empty value, "Pragma: ": 145 lines took a minute.)
_trailer_lines_re = re.compile(rb"(?m)^" + field_line_re.pattern + rb"\r\n")
_trailer_line_iter_re = re.compile(field_line_re.pattern + rb"\r\n")
_framing_field_re = re.compile(rb"\n(?:content-length|transfer-encoding):[ \t]*")
_HEX = frozenset(b"0123456789abcdefABCDEF")
_TCHAR = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
# more significant hex digits than this cannot be a real chunk: refuse before int() sees them
MAX_CHUNK_SIZE_DIGITS = 16


class ReceiveBuffer:
    """Bytes received and not yet consumed.

    ``base`` is the absolute offset (in the peer's stream) of ``data[0]`` and
    ``pos`` the first unconsumed index, so ``base + pos`` is where the next
    event starts: error offsets are computed from it.
    """

    __slots__ = ("data", "pos", "base")

    def __init__(self) -> None:
        self.data = bytearray()
        self.pos = 0
        self.base = 0

    def __len__(self) -> int:
        return len(self.data) - self.pos

    def __bool__(self) -> bool:
        return len(self.data) > self.pos

    def __bytes__(self) -> bytes:
        return bytes(self.data[self.pos :])

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def append(self, more: bytes) -> None:
        data = self.data
        pos = self.pos
        if pos:
            if pos == len(data):
                self.base += pos
                data.clear()
                self.pos = 0
            elif pos > 65536 and pos * 2 > len(data):
                # drop consumed bytes now and then, so memory stays bounded for any stream
                del data[:pos]
                self.base += pos
                self.pos = 0
        data += more

    def take(self, end: int) -> bytes:
        """Consume and return ``data[pos:end]``."""
        data = self.data
        if self.pos == 0 and end == len(data):
            # All of it (a head that came in a read of its own): one copy, and the buffer is freed
            # now rather than held until the next read (a 1 MB head would stay resident).
            out = bytes(data)
            data.clear()
            self.base += end
            return out
        out = bytes(data[self.pos : end])
        self.pos = end
        return out

    def take_at_most(self, count: int) -> bytes | None:
        data = self.data
        pos = self.pos
        available = len(data) - pos
        if available <= 0:
            return None
        if pos == 0 and available <= count:
            out = bytes(data)
            data.clear()
            self.base += available
            return out
        end = pos + min(count, available)
        out = bytes(data[pos:end])
        self.pos = end
        return out


def _fail(
    message: str,
    rule: str,
    section: str,
    offset: int | None = None,
    offending: bytes | None = None,
    explanation: str | None = None,
    hint: int = 400,
) -> LocalProtocolError:
    return LocalProtocolError(
        message, hint, rule=rule, section=section, explanation=explanation, offset=offset,
        offending=offending,
    )


def _too_big(limit: int, offset: int) -> LocalProtocolError:
    return _fail(
        "Receive buffer too long", "max-incomplete-event-size", "RFC 9112 §2.3", offset,
        explanation=f"an incomplete event (head, chunk-size line or trailers) grew past "
        f"max_incomplete_event_size={limit} bytes",
        hint=431,
    )


def _strip_cr(line: bytes) -> bytes:
    return line[:-1] if line.endswith(b"\r") else line


# ---------------------------------------------------------------------------------------------
# Diagnostics: where exactly a start line or field line goes wrong.  Only run on the error path.

def _diagnose_request_line(line: bytes) -> tuple[int, str, str, str]:
    """(index of the first bad byte, message, rule, section) for an invalid request-line."""
    method = token_re.match(line)
    i = method.end() if method else 0
    if i == 0:
        return 0, "illegal request line: the method must be a token", "method-token", "RFC 9112 §3.1"
    if line[i : i + 1] != b" ":
        return i, "illegal request line: expected one SP after the method", "request-line-syntax", "RFC 9112 §3"
    i += 1
    j = i
    while j < len(line) and 0x21 <= line[j] <= 0x7E:
        j += 1
    if j == i:
        return i, "illegal request line: expected the request-target", "request-target-chars", "RFC 9112 §3.2"
    if j < len(line) and line[j] != 0x20:
        message = "illegal request line: the request-target must be visible ASCII"
        return j, message, "request-target-chars", "RFC 9112 §3.2"
    if line[j : j + 1] != b" ":
        return j, "illegal request line: no HTTP version", "request-line-syntax", "RFC 9112 §3"
    rest = line[j + 1 :]
    if re.fullmatch(rb"HTTP/[0-9]\.[0-9]", rest) is None:
        message = "illegal request line: expected HTTP/<digit>.<digit> after one SP"
        return j + 1, message, "http-version", "RFC 9112 §2.3"
    return 0, "illegal request line", "request-line-syntax", "RFC 9112 §3"  # pragma: no cover


def _diagnose_status_line(line: bytes) -> tuple[int, str, str, str]:
    m = re.match(rb"HTTP/[0-9]\.[0-9]", line)
    if m is None:
        return 0, "illegal status line: expected HTTP/<digit>.<digit>", "http-version", "RFC 9112 §2.3"
    i = m.end()
    if line[i : i + 1] != b" ":
        return i, "illegal status line: expected one SP after the version", "status-line-syntax", "RFC 9112 §4"
    if re.match(rb"[0-9]{3}(?: |$)", line[i + 1 :]) is None:
        return i + 1, "illegal status line: the status code is three digits", "status-code-syntax", "RFC 9112 §4"
    k = i + 5
    for n, byte in enumerate(line[k:]):
        if byte < 0x20 and byte != 0x09 or byte == 0x7F:
            return k + n, "illegal status line: control byte in the reason phrase", "reason-phrase-chars", "RFC 9112 §4"
    return 0, "illegal status line", "status-line-syntax", "RFC 9112 §4"  # pragma: no cover


def _diagnose_field_line(line: bytes) -> tuple[int, str, str, str]:
    name = token_re.match(line)
    i = name.end() if name else 0
    if i == 0:
        if line[:1] in (b" ", b"\t"):
            return 0, "illegal header line: a line may not start with whitespace here", "obs-fold", "RFC 9112 §5.2"
        return 0, "illegal header line: the field name must be a token", "field-name-token", "RFC 9110 §5.1"
    if i == len(line):
        return i, "illegal header line: no colon after the field name", "field-line-syntax", "RFC 9112 §5"
    if line[i] in (0x20, 0x09):
        message = "illegal header line: whitespace between the field name and the colon"
        return i, message, "field-name-whitespace", "RFC 9112 §5.1"
    if line[i] != 0x3A:
        return i, "illegal header line: the field name must be a token", "field-name-token", "RFC 9110 §5.1"
    for n, byte in enumerate(line[i + 1 :]):
        if byte == 0x0D:
            return i + 1 + n, "illegal header value: bare CR", "bare-cr", "RFC 9112 §2.2"
        if (byte < 0x20 and byte != 0x09) or byte == 0x7F:
            return i + 1 + n, "illegal header value: control byte", "field-value-chars", "RFC 9110 §5.5"
    return i, "illegal header line", "field-line-syntax", "RFC 9112 §5"  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# Head parsing


def _split_fields(head: bytes, start: int, end: int, base: int, is_request: bool) -> list[tuple[bytes, bytes]]:
    """Field lines of a header section, ``head[start:end]`` (each ending in LF).  ``base``: offset of
    ``head[start]``.  Read in place: a copy of the section would double a large head's memory."""
    found: list[tuple[bytes, bytes]] = header_lines_re.findall(head, start, end)
    if len(found) == head.count(b"\n", start, end):
        return found
    block = head[start:end]
    # The slow path: walk the lines to apply obs-fold rules and to point at the bad byte.
    # Each field: [name, value, the whitespace after the value so far] (kept for a fold).
    fields: list[list[bytes]] = []
    start = 0
    while start < len(block):
        nl = block.index(b"\n", start)
        line = _strip_cr(block[start:nl])
        if line[:1] in (b" ", b"\t"):
            if not fields:
                raise _fail(
                    "whitespace before the first header line", "whitespace-after-start-line",
                    "RFC 9112 §2.2", base + start, line,
                    "a line that starts with whitespace right after the start line could hide a "
                    "header from some parsers; it is refused",
                )
            if is_request:
                raise _fail(
                    "obsolete line folding (obs-fold) in a request", "obs-fold", "RFC 9112 §5.2",
                    base + start, line,
                    "a header value continued on a line starting with whitespace is refused in "
                    "requests",
                )
            rest = line.lstrip(b" \t")
            folded = rest.rstrip(b" \t")
            if field_line_re.fullmatch(b"x:" + folded) is None:
                index, message, rule, section = _diagnose_field_line(b"x: " + folded)
                raise _fail(message, rule, section, base + start, line)
            # RFC 9112 §5.2: a user agent replaces each obs-fold with one or more SP.  As h11
            # does: the fold's line end and leading whitespace become one SP, the whitespace
            # before the line end stays (so each fold is at least one SP, and values match h11's).
            field = fields[-1]
            field[2] += b" "
            if folded:
                field[1] = field[1] + field[2] + folded if field[1] else folded
                field[2] = rest[len(folded) :]
        else:
            match = field_line_re.fullmatch(line)
            if match is None:
                index, message, rule, section = _diagnose_field_line(line)
                raise _fail(message, rule, section, base + start + index, line)
            fields.append([match.group(1), match.group(2), line[match.end(2) :]])
        start = nl + 1
    return [(name, value) for name, value, _ in fields]


class _HeadReader:
    """Reads a request head (CLIENT in IDLE) or a response head (SERVER's replies)."""

    __slots__ = ("is_request", "limit", "request_method", "scan", "line_scan", "first_line_checked")

    def __init__(self, is_request: bool, limit: int, request_method: bytes | None = None) -> None:
        self.is_request = is_request
        self.limit = limit
        # for responses: the method of the request they answer (framing depends on it)
        self.request_method = request_method
        # Where the searches resume, as absolute stream offsets (the buffer may compact between
        # calls): the end-of-head search and the search for the end of the start line.
        self.scan = 0
        self.line_scan = 0
        self.first_line_checked = False

    def __call__(self, buf: ReceiveBuffer) -> Event | None:
        data = buf.data
        start = buf.pos
        if self.is_request and not self.first_line_checked and data.startswith((b"\r", b"\n"), start):
            # RFC 9112 §2.2: a server SHOULD ignore at least one empty line before a request
            # line (clients send one after a body, between pipelined requests).
            while True:
                if data.startswith(b"\r\n", start):
                    start += 2
                elif data.startswith(b"\n", start):
                    start += 1
                else:
                    break
            buf.pos = start
        base = buf.base
        resume = self.scan - base
        match = _head_end_re.search(data, resume if resume > start else start)
        if match is None:
            end = len(data) - 2
            self.scan = base + (end if end > start else start)
            if not self.first_line_checked:
                resume = self.line_scan - base
                # only within the first limit+1 bytes: past them the size limit has already been
                # broken, and which error wins must not depend on how the bytes were split
                newline = data.find(b"\n", resume if resume > start else start, start + self.limit + 1)
                if newline >= 0:
                    self.first_line_checked = True
                    self._check_start_line(bytes(data[start:newline]), base + start)
                else:
                    self.line_scan = base + len(data)
                    self._check_start_line_prefix(data, start, base)
            return None
        end = match.end()
        if end - start > self.limit:
            if not self.first_line_checked:
                # Refuse exactly as if the bytes had come one at a time: the start-line checks that
                # would have run on the first limit+1 bytes come before the size limit.
                window = start + self.limit + 1
                newline = data.find(b"\n", start, window)
                if newline >= 0:
                    self._check_start_line(bytes(data[start:newline]), base + start)
                else:
                    self._check_start_line_prefix(data[:window], start, base)
            raise _too_big(self.limit, base + start)
        offset = base + start
        head = buf.take(end)
        self.scan = self.line_scan = 0
        self.first_line_checked = False
        return self._parse(head, offset)

    def _check_start_line_prefix(self, data: bytearray, start: int, base: int) -> None:
        """Refuse at once what cannot begin a start line (a TLS ClientHello sent to a plain-text
        port, say) instead of waiting for a line end that may never come."""
        if len(data) <= start:
            return
        if self.is_request:
            first = data[start]
            if first not in _TCHAR:
                if first == 0x0D and len(data) == start + 1:
                    return  # perhaps the CR of an empty line
                self._start_line_error(bytes(data[start : start + 16]), base + start)
        else:
            prefix = bytes(data[start : start + 5])
            if not b"HTTP/".startswith(prefix):
                self._start_line_error(prefix, base + start)

    def _check_start_line(self, raw_line: bytes, offset: int) -> None:
        """``raw_line``: the line without its LF (its CR, if any, is still there)."""
        line = _strip_cr(raw_line)
        regex = request_line_re if self.is_request else status_line_re
        if regex.fullmatch(line) is None:
            # a line that is only a CR is refused for that CR, as when it arrived alone
            self._start_line_error(line or raw_line, offset)

    def _start_line_error(self, line: bytes, offset: int) -> NoReturn:
        if self.is_request:
            index, message, rule, section = _diagnose_request_line(line)
        else:
            index, message, rule, section = _diagnose_status_line(line)
        bad = line[index : index + 1]
        if bad == b"\r":
            message, rule, section = message + " (bare CR)", "bare-cr", "RFC 9112 §2.2"
        raise _fail(message, rule, section, offset + index, line)

    def _parse(self, head: bytes, base: int) -> Event:
        first_end = head.index(b"\n")
        raw_line = head[:first_end]
        line = _strip_cr(raw_line)
        # the head ends with an empty line (CRLF, or LF): the field block stops before it
        block_end = len(head) - (2 if head.endswith(b"\r\n") and len(head) - first_end > 2 else 1)
        if self.is_request:
            match = request_line_re.fullmatch(line)
            if match is None:
                self._start_line_error(line or raw_line, base)
            method, target, version = match.groups()
            fields = _split_fields(head, first_end + 1, block_end, base + first_end + 1, True)
            try:
                headers = normalize_and_validate(fields, _parsed=True)
            except LocalProtocolError as exc:
                raise _located(exc, head, base, first_end) from None
            _check_received_framing(headers, version, base)
            _check_host(headers, version, base)
            return Request(method=method, target=target, headers=headers, http_version=version,
                           _parsed=True)
        match = status_line_re.fullmatch(line)
        if match is None:
            self._start_line_error(line or raw_line, base)
        version, status, reason = match.groups()
        fields = _split_fields(head, first_end + 1, block_end, base + first_end + 1, False)
        try:
            headers = normalize_and_validate(fields, _parsed=True)
        except LocalProtocolError as exc:
            raise _located(exc, head, base, first_end) from None
        status_code = int(status)
        method = self.request_method
        # RFC 9112 §6.3 rules 1-2: these responses have no body whatever their framing fields say
        # (a client MUST ignore them on a 2xx to CONNECT), so only the others are checked.
        if not (
            status_code < 200 or status_code in (204, 304) or method == b"HEAD"
            or (method == b"CONNECT" and status_code < 300)
        ):
            _check_received_framing(headers, version, base)
        if status_code < 100:
            raise _fail(
                f"status code {status_code} is out of range", "status-code-range", "RFC 9110 §15",
                base + 9, status,
            )
        cls = InformationalResponse if status_code < 200 else Response
        return cls(headers=headers, status_code=status_code, http_version=version,
                   reason=reason or b"", _parsed=True)


def _located(exc: LocalProtocolError, head: bytes, base: int, first_end: int) -> LocalProtocolError:
    """A framing-field error (Content-Length, Transfer-Encoding) located at the value it names,
    which the header rules cannot know.  Only on the error path: the parse itself makes no call."""
    if exc.offset is None and exc.offending:
        lowered, needle = head.lower(), exc.offending.lower()
        for field in _framing_field_re.finditer(lowered, first_end):
            found = lowered.find(needle, field.end(), lowered.find(b"\n", field.end()))
            if found >= 0:
                exc.offset = base + found
                break
    return exc


def _check_received_framing(headers: Headers, version: bytes, offset: int) -> None:
    """Refuse the framing shapes that request smuggling is made of (RFC 9112 §6)."""
    names = headers._lower_names()
    has_te = b"transfer-encoding" in names
    has_cl = b"content-length" in names
    if has_te and has_cl:
        raise _fail(
            "both Content-Length and Transfer-Encoding", "content-length-and-transfer-encoding",
            "RFC 9112 §6.3", offset,
            explanation="a message with both framing headers may be read differently by two "
            "parsers (request smuggling); it is refused",
        )
    if has_te and version < b"1.1":
        raise _fail(
            "Transfer-Encoding in an HTTP/1.0 message", "transfer-encoding-http10", "RFC 9112 §6.1",
            offset, explanation="HTTP/1.0 has no chunked coding, so such framing is faulty",
        )


# Host values already found valid: a connection, or a whole capture, names the same few hosts.
_VALID_HOSTS: set[bytes] = set()


def _check_host(headers: Headers, version: bytes, offset: int) -> None:
    names = headers._lower_names()
    if b"host" not in names:
        return
    items = headers._items
    if names.count(b"host") == 1:
        values = [items[names.index(b"host")][2]]
    else:
        values = [value for _, name, value in items if name == b"host"]
    for value in values:
        if value in _VALID_HOSTS:
            continue
        if host_re.fullmatch(value) is None:
            raise _fail(
                f"invalid Host header {quoted(value)}", "host-invalid", "RFC 9112 §3.2", offset, value,
                "Host must be uri-host [ \":\" port ]",
            )
        if len(_VALID_HOSTS) >= 4096:
            _VALID_HOSTS.clear()
        _VALID_HOSTS.add(value)


# ---------------------------------------------------------------------------------------------
# Body readers


class _ContentLengthReader:
    __slots__ = ("remaining", "length")

    def __init__(self, length: int) -> None:
        self.length = length
        self.remaining = length

    def __call__(self, buf: ReceiveBuffer) -> Event | None:
        if self.remaining == 0:
            return EndOfMessage()
        data = buf.take_at_most(self.remaining)
        if data is None:
            return None
        self.remaining -= len(data)
        return Data(data)

    def read_eof(self) -> Event:
        raise _fail(
            "peer closed connection without sending complete message body: received "
            f"{self.length - self.remaining} bytes, expected {self.length}",
            "incomplete-body", "RFC 9112 §8",
            explanation="the connection closed before Content-Length bytes arrived",
        )


_SIZE, _DATA, _DATA_END, _TRAILER, _DATA_END_LF = range(5)


class _ChunkedReader:
    """RFC 9112 §7.1, strictly: CRLF and only CRLF around chunk sizes and after chunk data."""

    __slots__ = ("limit", "phase", "remaining", "chunk_start", "scan")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.phase = _SIZE
        self.remaining = 0
        self.chunk_start = False
        self.scan = 0

    def __call__(self, buf: ReceiveBuffer) -> Event | None:
        data = buf.data
        while True:
            phase = self.phase
            if phase == _DATA:
                got = buf.take_at_most(self.remaining)
                if got is None:
                    return None
                self.remaining -= len(got)
                start = self.chunk_start
                self.chunk_start = False
                if self.remaining == 0:
                    self.phase = _DATA_END
                    return Data(got, start, True)
                return Data(got, start, False)
            pos = buf.pos
            if phase == _DATA_END:
                if len(data) - pos < 2:
                    if len(data) > pos:
                        if data[pos] != 0x0D:
                            raise self._bad_data_end(buf)
                        # The CR of a CRLF split after it is consumed at once, as h11 does: a
                        # program reading trailing_data mid-body sees the same bytes with either.
                        buf.pos = pos + 1
                        self.phase = _DATA_END_LF
                    return None
                if data[pos] != 0x0D or data[pos + 1] != 0x0A:
                    raise self._bad_data_end(buf)
                buf.pos = pos + 2
                self.phase = _SIZE
                continue
            if phase == _DATA_END_LF:
                if len(data) == pos:
                    return None
                if data[pos] != 0x0A:
                    raise self._bad_data_end(buf, after_cr=True)
                buf.pos = pos + 1
                self.phase = _SIZE
                continue
            if phase == _SIZE:
                # A fresh line (no earlier partial scan): try the whole well-formed line at once,
                # within the size limit (a longer one takes the path below, which refuses it).
                match = (chunk_line_fast_re.match(data, pos, pos + self.limit)
                         if self.scan <= buf.base + pos else None)
                if match is not None:
                    # the common case, a well-formed chunk-size line, in one C-level step
                    buf.pos = match.end()
                    size = int(match.group(1), 16)
                    if size:
                        self.remaining = size
                        self.chunk_start = True
                        self.phase = _DATA
                    else:
                        self.phase = _TRAILER
                    continue
                newline = data.find(b"\n", max(pos, self.scan - buf.base))
                if newline < 0:
                    self.scan = buf.base + len(data)
                    if len(data) - pos > self.limit:
                        raise _too_big(self.limit, buf.offset)
                    return None
                self.scan = 0
                if newline + 1 - pos > self.limit:
                    # as if it had come a byte at a time: a line is an incomplete event until its LF
                    raise _too_big(self.limit, buf.offset)
                self._read_size(buf, bytes(data[pos:newline]))
                buf.pos = newline + 1
                continue
            return self._read_trailer(buf)

    def _bad_data_end(self, buf: ReceiveBuffer, after_cr: bool = False) -> LocalProtocolError:
        """``after_cr``: the CR was consumed already; the error is located at it all the same."""
        if after_cr:
            found, offset = b"\r" + bytes(buf.data[buf.pos : buf.pos + 1]), buf.offset - 1
        else:
            found, offset = bytes(buf.data[buf.pos : buf.pos + 2]), buf.offset
        return _fail(
            "chunk data not followed by CRLF", "chunk-data-crlf", "RFC 9112 §7.1", offset, found,
            "after the chunk-size bytes of data the next two bytes must be CR LF; anything else "
            "means the two ends disagree on where the chunk ends (request smuggling)",
        )

    def _read_size(self, buf: ReceiveBuffer, line: bytes) -> None:
        offset = buf.offset
        if not line.endswith(b"\r"):
            raise _fail(
                "chunk-size line ends in a bare LF", "chunk-line-crlf", "RFC 9112 §7.1",
                offset + len(line), line + b"\n",
                "lines of the chunked framing must end in CR LF",
            )
        line = line[:-1]
        match = chunk_header_re.fullmatch(line)
        if match is None:
            raise self._bad_size_line(line, offset)
        digits = match.group(1).lstrip(b"0")
        if len(digits) > MAX_CHUNK_SIZE_DIGITS:
            raise _fail(
                "chunk size too large", "chunk-size-overflow", "RFC 9112 §7.1", offset, line,
                f"more than {MAX_CHUNK_SIZE_DIGITS} significant hex digits cannot be a real chunk",
            )
        size = int(digits or b"0", 16)
        if size:
            self.remaining = size
            self.chunk_start = True
            self.phase = _DATA
        else:
            self.phase = _TRAILER

    def _bad_size_line(self, line: bytes, offset: int) -> LocalProtocolError:
        i = 0
        while i < len(line) and line[i] in _HEX:
            i += 1
        if i == 0:
            return _fail(
                "illegal chunk size: expected hex digits", "chunk-size-hex", "RFC 9112 §7.1",
                offset, line, "a chunk-size is 1*HEXDIG: no 0x, sign, underscore or whitespace first",
            )
        rest = line[i:]
        if b"\r" in rest:
            return _fail("bare CR in the chunk-size line", "bare-cr", "RFC 9112 §2.2",
                         offset + i + rest.index(b"\r"), line)
        if rest.strip(b" \t") == b"" or (rest[:1] not in (b";", b" ", b"\t")):
            return _fail(
                "illegal chunk size: unexpected bytes after the hex digits", "chunk-size-hex",
                "RFC 9112 §7.1", offset + i, line,
                "only `;` chunk extensions may follow the chunk size",
            )
        return _fail(
            "illegal chunk extension", "chunk-extension-syntax", "RFC 9112 §7.1.1", offset + i, line,
            "chunk-ext = *( BWS \";\" BWS name [ BWS \"=\" BWS ( token / quoted-string ) ] )",
        )

    def _read_trailer(self, buf: ReceiveBuffer) -> Event | None:
        data = buf.data
        pos = buf.pos
        if len(data) - pos < 2:
            if len(data) > pos and data[pos] == 0x0A:
                raise self._bad_trailer_line(buf, b"\n", 0)
            return None
        if data[pos] == 0x0D and data[pos + 1] == 0x0A:
            buf.pos = pos + 2
            return EndOfMessage()
        resume = max(pos, self.scan - buf.base)
        end = data.find(_crlf_crlf, resume)
        # Judged as if the bytes came one at a time, however they were split: a bare LF is
        # refused when it arrives, unless the section has already grown past the limit by then.
        section_end = len(data) if end < 0 else end + 4
        bare = _bare_lf_re.search(data, max(pos, resume - 1), min(section_end, pos + self.limit + 1))
        if bare is not None:
            raise self._bad_trailer_line(buf, bytes(data[pos : bare.end()]), 0)
        if section_end - pos > self.limit:
            raise _too_big(self.limit, buf.offset)
        if end < 0:
            self.scan = buf.base + max(pos, len(data) - 3)
            return None
        block = bytes(data[pos : end + 2])
        fields = _trailer_lines_re.findall(block)
        if len(fields) != block.count(b"\n"):  # some line did not match whole: say which
            start = 0
            while True:
                crlf = block.find(b"\r\n", start)
                line = block[start:crlf]
                if b"\n" in line or _trailer_line_iter_re.fullmatch(line + b"\r\n") is None:
                    raise self._bad_trailer_line(buf, line, start)
                start = crlf + 2
        buf.pos = end + 4
        self.scan = 0
        return EndOfMessage(headers=normalize_and_validate(fields, _parsed=True), _parsed=True)

    def _bad_trailer_line(self, buf: ReceiveBuffer, line: bytes, start: int) -> LocalProtocolError:
        if b"\n" in line:
            return _fail("bare LF in the trailer section", "chunk-line-crlf", "RFC 9112 §7.1.2",
                         buf.offset + start + line.index(b"\n"), line)
        index, message, rule, section = _diagnose_field_line(line)
        return _fail(message.replace("header", "trailer"), rule, section,
                     buf.offset + start + index, line)

    def read_eof(self) -> Event:
        raise _fail(
            "peer closed connection without sending complete message body: incomplete chunked read",
            "incomplete-body", "RFC 9112 §8",
            explanation="the connection closed before the last chunk (size 0) and the trailer "
            "section arrived",
        )


class _UntilCloseReader:
    """RFC 9112 §6.3 rule 8: a response without framing ends when the connection closes."""

    __slots__ = ()

    def __call__(self, buf: ReceiveBuffer) -> Event | None:
        data = buf.take_at_most(len(buf))
        return None if data is None else Data(data)

    def read_eof(self) -> Event:
        return EndOfMessage()


class _NothingReader:
    """The peer's message is complete and the connection cannot carry another: only EOF may come."""

    __slots__ = ()

    def __call__(self, buf: ReceiveBuffer) -> Event | None:
        if buf:
            raise _fail(
                "Got data when expecting EOF", "data-after-close", "RFC 9112 §9.6", buf.offset,
                bytes(buf.data[buf.pos : buf.pos + 16]),
                "this side's message is complete and the connection will not be reused, so "
                "nothing but the close may follow",
            )
        return None


class Reader(Protocol):
    def __call__(self, buf: ReceiveBuffer) -> Event | None: ...


def head_reader(is_request: bool, limit: int, request_method: bytes | None = None) -> Reader:
    return _HeadReader(is_request, limit, request_method)


def content_length_reader(length: int) -> Reader:
    return _ContentLengthReader(length)


def chunked_reader(limit: int) -> Reader:
    return _ChunkedReader(limit)


def until_close_reader() -> Reader:
    return _UntilCloseReader()


def nothing_reader() -> Reader:
    return _NothingReader()
