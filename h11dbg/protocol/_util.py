"""Sentinels and the protocol error classes.

Errors carry, besides h11's ``error_status_hint``, the explanation a debugger
wants: which rule was broken, where RFC 9112/9110 states it, the byte offset in
that peer's stream and the offending bytes.
"""

from __future__ import annotations

from typing import Any, NoReturn

__all__ = [
    "LocalProtocolError",
    "ProtocolError",
    "RemoteProtocolError",
    "Sentinel",
]


class Sentinel(type):
    """A class that is its own type, so ``type(NEED_DATA) is NEED_DATA``.

    Sentinels compare by identity, print as their name and cannot be
    confused with any value a caller might pass.
    """

    def __new__(
        mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kwds: Any
    ) -> Sentinel:
        if bases != (Sentinel,):
            raise TypeError("a sentinel must be declared as `class NAME(Sentinel, metaclass=Sentinel)`")
        made = super().__new__(mcls, name, bases, namespace, **kwds)
        made.__class__ = made  # type: ignore[assignment]
        return made

    def __repr__(cls) -> str:
        return cls.__name__

    __str__ = __repr__


#: How many bytes of a peer's (or a program's) value an error message quotes.
QUOTED_BYTES = 64


def quoted(value: bytes) -> str:
    """``value`` as an error message quotes it (``b'...'``, as h11 does), cut after :data:`QUOTED_BYTES` with
    "…" and its length: a 4300-byte Content-Length keeps the message one readable line.  (The rest of
    h11dbg escapes bytes its own way, h11dbg.transcript.escaping.excerpt, with the same cut.)"""
    if len(value) <= QUOTED_BYTES:
        return repr(value)
    return f"{value[:QUOTED_BYTES]!r}… ({len(value)} bytes)"


class ProtocolError(Exception):
    """Base class for errors in what was sent or received; never raised itself.

    ``error_status_hint`` is the status code a server would answer with.  The
    explanation attributes are ``None`` when there is nothing more to say.
    """

    error_status_hint: int
    rule: str | None
    section: str | None
    explanation: str | None
    offset: int | None
    offending: bytes | None

    def __init__(
        self,
        msg: str,
        error_status_hint: int = 400,
        *,
        rule: str | None = None,
        section: str | None = None,
        explanation: str | None = None,
        offset: int | None = None,
        offending: bytes | None = None,
    ) -> None:
        if type(self) is ProtocolError:
            raise TypeError("ProtocolError is abstract: raise LocalProtocolError or RemoteProtocolError")
        super().__init__(msg)
        self.error_status_hint = error_status_hint
        self.rule = rule
        self.section = section
        self.explanation = explanation
        self.offset = offset
        self.offending = offending


class LocalProtocolError(ProtocolError):
    """We tried to do something HTTP/1.1 forbids (or our parser refused the peer's bytes)."""

    def _reraise_as_remote_protocol_error(self) -> NoReturn:
        # The readers raise LocalProtocolError; the connection knows the bytes came
        # from the peer.  Changing the class in place keeps the traceback and identity.
        self.__class__ = RemoteProtocolError  # type: ignore[assignment]
        raise self


class RemoteProtocolError(ProtocolError):
    """The peer did something HTTP/1.1 forbids."""
