"""Network failures, each reduced to one line a person can act on."""

from __future__ import annotations

import socket
import ssl


class NetworkError(Exception):
    """A connection could not be made or broke (refused, reset, DNS, TLS, timeout)."""


class NotTLS(NetworkError):
    """A TLS handshake failed the way it does against a port that speaks plain text."""


class HandshakeFailed(NetworkError):
    """A client connected to a TLS listener but the handshake failed (the listener goes on)."""


class ReceiveTimeout(NetworkError):
    """Nothing arrived within the timeout; the connection itself may still be fine."""


def describe_os_error(exc: BaseException, what: str) -> str:
    """One line for an OSError raised while doing ``what`` (e.g. "connecting to 127.0.0.1:80")."""
    if isinstance(exc, socket.gaierror):
        return f"{what}: name resolution failed ({exc.strerror or exc})"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"{what}: TLS certificate verification failed ({exc.verify_message or exc.reason})"
    if isinstance(exc, ssl.SSLError):
        return f"{what}: TLS error ({exc.reason or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return f"{what}: connection refused"
    if isinstance(exc, ConnectionResetError):
        return f"{what}: connection reset by peer"
    if isinstance(exc, BrokenPipeError):
        return f"{what}: the peer closed the connection (broken pipe)"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"{what}: timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{what}: {exc.strerror}"
    return f"{what}: {exc}"
