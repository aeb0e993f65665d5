"""Real I/O: TCP and TLS client sockets, a one-at-a-time listener, loopback socket pairs."""

from h11dbg.transport.address import (
    AddressError,
    format_address,
    host_header,
    parse_connect_address,
    parse_listen_address,
)
from h11dbg.transport.errors import HandshakeFailed, NetworkError, NotTLS, ReceiveTimeout
from h11dbg.transport.sockets import (
    ConnectPhases,
    Listener,
    LoopbackPair,
    SocketTransport,
    connect_tcp,
    connect_tls,
    loopback_pair,
)
from h11dbg.transport.timeouts import MAX_SECONDS, SecondsError, parse_seconds

__all__ = [
    "AddressError",
    "ConnectPhases",
    "HandshakeFailed",
    "Listener",
    "LoopbackPair",
    "MAX_SECONDS",
    "NetworkError",
    "NotTLS",
    "ReceiveTimeout",
    "SecondsError",
    "SocketTransport",
    "connect_tcp",
    "connect_tls",
    "format_address",
    "host_header",
    "loopback_pair",
    "parse_connect_address",
    "parse_listen_address",
    "parse_seconds",
]
