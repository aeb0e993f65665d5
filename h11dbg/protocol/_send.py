"""The send side: events to bytes.

Heads are written in one piece; body writers enforce the framing that the
head announced (no more and no less than Content-Length, chunk-size lines for
chunked, nothing to mark the end for read-until-close).
"""

from __future__ import annotations

from typing import Any

from ._events import Data, EndOfMessage, Event, InformationalResponse, Request, Response
from ._headers import Headers
from ._util import LocalProtocolError

# A writer turns one event into the pieces to send, in order.  A Data payload is passed
# through as the very object the caller gave (send_with_data_passthrough's promise).
Pieces = list[Any]


def _head_fields(headers: Headers, out: list[bytes]) -> None:
    # RFC 9110 §7.2: a user agent SHOULD generate Host as the first field line.
    items = headers._items
    for raw, name, value in items:
        if name == b"host":
            out.append(raw + b": " + value + b"\r\n")
    for raw, name, value in items:
        if name != b"host":
            out.append(raw + b": " + value + b"\r\n")
    out.append(b"\r\n")


def check_request(event: Request) -> None:
    """What writing a request head can refuse (the event itself was validated when it was made)."""
    if event.http_version not in (b"1.1", b"1.0"):
        raise LocalProtocolError(
            "I only send HTTP/1.1 (and HTTP/1.0 requests)", rule="send-version",
            section="RFC 9112 §2.3",
        )


def check_response(event: InformationalResponse | Response) -> None:
    """What writing a response head can refuse."""
    if event.http_version != b"1.1":
        raise LocalProtocolError("I only send HTTP/1.1", rule="send-version", section="RFC 9112 §2.3")


def write_request(event: Request) -> Pieces:
    check_request(event)
    out = [event.method + b" " + event.target + b" HTTP/" + event.http_version + b"\r\n"]
    _head_fields(event.headers, out)
    return [b"".join(out)]


def write_response(event: InformationalResponse | Response) -> Pieces:
    check_response(event)
    out = [b"HTTP/1.1 %d %s\r\n" % (event.status_code, event.reason)]
    _head_fields(event.headers, out)
    return [b"".join(out)]


class ContentLengthWriter:
    __slots__ = ("remaining", "length")

    def __init__(self, length: int) -> None:
        self.length = length
        self.remaining = length

    def __call__(self, event: Event) -> Pieces:
        if type(event) is Data:
            self.remaining -= len(event.data)
            if self.remaining < 0:
                raise LocalProtocolError(
                    "Too much data for declared Content-Length", rule="content-length-exceeded",
                    section="RFC 9112 §6.2",
                    explanation=f"the head allows {self.length} body bytes"
                    + ("; a request with neither Content-Length nor Transfer-Encoding has no body: "
                       "declare one of them to send data" if self.length == 0 else ""),
                )
            return [event.data]
        if type(event) is EndOfMessage:
            if self.remaining:
                raise LocalProtocolError(
                    "Too little data for declared Content-Length", rule="content-length-short",
                    section="RFC 9112 §6.2",
                )
            if event.headers:
                raise LocalProtocolError(
                    "Content-Length and trailers don't mix", rule="trailers-need-chunked",
                    section="RFC 9112 §7.1.2",
                )
            return []
        raise LocalProtocolError(f"unexpected {type(event).__name__} in a body")  # pragma: no cover


class ChunkedWriter:
    __slots__ = ()

    def __call__(self, event: Event) -> Pieces:
        if type(event) is Data:
            # an empty chunk would be the last-chunk: send nothing for empty data
            if event.data:
                return [b"%x\r\n" % len(event.data), event.data, b"\r\n"]
            return []
        if type(event) is EndOfMessage:
            out = [b"0\r\n"]
            _head_fields(event.headers, out)
            return [b"".join(out)]
        raise LocalProtocolError(f"unexpected {type(event).__name__} in a body")  # pragma: no cover


class UntilCloseWriter:
    """HTTP/1.0-style body: the end is marked by closing the connection."""

    __slots__ = ()

    def __call__(self, event: Event) -> Pieces:
        if type(event) is Data:
            return [event.data]
        if type(event) is EndOfMessage:
            if event.headers:
                raise LocalProtocolError(
                    "can't send trailers to HTTP/1.0 client", rule="trailers-need-chunked",
                    section="RFC 9112 §7.1.2",
                )
            return []
        raise LocalProtocolError(f"unexpected {type(event).__name__} in a body")  # pragma: no cover
