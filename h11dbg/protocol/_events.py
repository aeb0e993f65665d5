"""Events: the immutable, validated messages that HTTP/1.1 is made of.

Each event validates and normalises its fields when it is built, so an event
that exists is one that may be sent.  ``_parsed=True`` is for the receive
side, whose bytes were already checked against the grammar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._abnf import request_target_re, token_re
from ._headers import HeaderInput, Headers, bytesify, normalize_and_validate
from ._util import LocalProtocolError, quoted

__all__ = [
    "ConnectionClosed",
    "Data",
    "EndOfMessage",
    "Event",
    "InformationalResponse",
    "Request",
    "Response",
]

class Event:
    """Base class of every event; its subclasses are frozen dataclasses."""

    __slots__ = ()


_set = object.__setattr__  # frozen dataclasses: the constructors set fields this way
# RFC 9112 §4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text )
_reason_ok = re.compile(rb"[\t\x20-\x7e\x80-\xff]*").fullmatch


def _check_target(target: bytes) -> None:
    if request_target_re.fullmatch(target) is None:
        raise LocalProtocolError(
            f"illegal request target {quoted(target)}: it must be visible ASCII with no spaces",
            rule="request-target-chars", section="RFC 9112 §3.2", offending=target,
        )


@dataclass(init=False, frozen=True)
class Request(Event):
    """A request head: method, target, headers and HTTP version."""

    __slots__ = ("method", "headers", "target", "http_version")
    __hash__ = None  # type: ignore[assignment]  # as in h11: events are compared, not hashed

    method: bytes
    headers: Headers
    target: bytes
    http_version: bytes

    def __init__(
        self,
        *,
        method: bytes | str,
        headers: HeaderInput = (),
        target: bytes | str,
        http_version: bytes | str = b"1.1",
        _parsed: bool = False,
    ) -> None:
        _set(self, "method", method if type(method) is bytes else bytesify(method))
        _set(self, "target", target if type(target) is bytes else bytesify(target))
        _set(self, "http_version", http_version if type(http_version) is bytes else bytesify(http_version))
        _set(self, "headers", headers if _parsed and type(headers) is Headers
             else normalize_and_validate(headers, _parsed=_parsed))
        if not _parsed:
            if token_re.fullmatch(self.method) is None:
                raise LocalProtocolError(
                    f"illegal method {quoted(self.method)}: a method is a token", rule="method-token",
                    section="RFC 9110 §9.1", offending=self.method,
                )
            _check_target(self.target)
        # RFC 9112 §3.2: an HTTP/1.1 request carries exactly one Host.
        host_count = self.headers._lower_names().count(b"host")
        if self.http_version == b"1.1" and host_count == 0:
            raise LocalProtocolError(
                "Missing mandatory Host: header", rule="host-missing", section="RFC 9112 §3.2",
            )
        if host_count > 1:
            raise LocalProtocolError(
                "Found multiple Host: headers", rule="host-duplicate", section="RFC 9112 §3.2",
            )


@dataclass(init=False, frozen=True)
class _ResponseBase(Event):
    __slots__ = ("headers", "http_version", "reason", "status_code")
    __hash__ = None  # type: ignore[assignment]  # as in h11: events are compared, not hashed

    headers: Headers
    http_version: bytes
    reason: bytes
    status_code: int

    def __init__(
        self,
        *,
        headers: HeaderInput = (),
        status_code: int,
        http_version: bytes | str = b"1.1",
        reason: bytes | str = b"",
        _parsed: bool = False,
    ) -> None:
        _set(self, "headers", headers if _parsed and type(headers) is Headers
             else normalize_and_validate(headers, _parsed=_parsed))
        if type(reason) is not bytes:
            reason = bytesify(reason)
        if reason and not _parsed and _reason_ok(reason) is None:
            raise LocalProtocolError(
                f"illegal reason phrase {quoted(reason)}", rule="reason-phrase-chars",
                section="RFC 9112 §4", offending=reason,
            )
        if type(status_code) is not int:
            if not isinstance(status_code, int):
                raise LocalProtocolError("status code must be integer", rule="status-code-range",
                                         section="RFC 9110 §15")
            status_code = int(status_code)  # an IntEnum such as http.HTTPStatus.OK becomes a plain int
        _set(self, "status_code", status_code)
        _set(self, "reason", reason)
        _set(self, "http_version", http_version if type(http_version) is bytes else bytesify(http_version))
        self._check_status()

    def _check_status(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


@dataclass(init=False, frozen=True)
class InformationalResponse(_ResponseBase):
    """A 1xx interim response: there is more to come before the final response."""

    __slots__ = ()
    __hash__ = None

    def _check_status(self) -> None:
        if not 100 <= self.status_code < 200:
            raise LocalProtocolError(
                f"InformationalResponse status_code should be in range [100, 200), not {self.status_code}",
                rule="status-code-range", section="RFC 9110 §15.2",
            )


@dataclass(init=False, frozen=True)
class Response(_ResponseBase):
    """The final response head (status 200 to 999)."""

    __slots__ = ()
    __hash__ = None

    def _check_status(self) -> None:
        if not 200 <= self.status_code < 1000:
            raise LocalProtocolError(
                f"Response status_code should be in range [200, 1000), not {self.status_code}",
                rule="status-code-range", section="RFC 9110 §15",
            )


@dataclass(init=False, frozen=True)
class Data(Event):
    """Part of a message body.  ``chunk_start``/``chunk_end`` mark chunked-encoding boundaries."""

    __slots__ = ("data", "chunk_start", "chunk_end")
    __hash__ = None  # type: ignore[assignment]  # as in h11: events are compared, not hashed

    data: bytes
    chunk_start: bool
    chunk_end: bool

    def __init__(self, data: bytes, chunk_start: bool = False, chunk_end: bool = False) -> None:
        _set(self, "data", data)
        _set(self, "chunk_start", chunk_start)
        _set(self, "chunk_end", chunk_end)


@dataclass(init=False, frozen=True)
class EndOfMessage(Event):
    """The end of a message, with the trailer fields of a chunked body (if any)."""

    __slots__ = ("headers",)
    __hash__ = None  # type: ignore[assignment]  # as in h11: events are compared, not hashed

    headers: Headers

    def __init__(self, *, headers: HeaderInput | None = None, _parsed: bool = False) -> None:
        if headers is None:
            headers = Headers([])
        elif not (_parsed and type(headers) is Headers):
            headers = normalize_and_validate(headers, _parsed=_parsed)
        _set(self, "headers", headers)


@dataclass(frozen=True)
class ConnectionClosed(Event):
    """The sender closed its side of the connection (EOF)."""

    __slots__ = ()
