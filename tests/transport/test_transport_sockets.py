"""Transports over real sockets: address parsing, TCP, TLS (SNI, ALPN, verification), listener, loopback."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from h11dbg.transport import (
    AddressError,
    Listener,
    NetworkError,
    ReceiveTimeout,
    connect_tcp,
    connect_tls,
    host_header,
    loopback_pair,
    parse_connect_address,
    parse_listen_address,
)


def test_connect_addresses() -> None:
    assert parse_connect_address("example.com:8080", 80) == ("example.com", 8080)
    assert parse_connect_address("example.com", 443) == ("example.com", 443)
    assert parse_connect_address("[::1]:8080", 80) == ("::1", 8080)
    assert parse_connect_address("[::1]", 80) == ("::1", 80)
    with pytest.raises(AddressError, match=r"not a URL \(try: connect example.com:443 --tls\)"):
        parse_connect_address("https://example.com/path", 80)
    with pytest.raises(AddressError, match=r"try: connect example.com:8080\)"):
        parse_connect_address("http://example.com:8080/", 80)
    for bad in ("::1:80", "[::1", "[::1]x", ":80", "host:99999", "host:"):
        with pytest.raises(AddressError):
            parse_connect_address(bad, 80)


def test_listen_addresses_and_host_header() -> None:
    assert parse_listen_address("8080") == ("127.0.0.1", 8080)
    assert parse_listen_address("0.0.0.0:0") == ("0.0.0.0", 0)
    assert parse_listen_address("[::1]:9") == ("::1", 9)
    with pytest.raises(AddressError):
        parse_listen_address("localhost")
    assert host_header("example.com", 80, tls=False) == "example.com"
    assert host_header("example.com", 443, tls=True) == "example.com"
    assert host_header("example.com", 80, tls=True) == "example.com:80"
    assert host_header("::1", 8080, tls=False) == "[::1]:8080"


def test_listener_accepts_one_client_at_a_time_and_tcp_round_trip() -> None:
    listener = Listener("127.0.0.1", 0, timeout=2)
    try:
        client = connect_tcp("127.0.0.1", listener.port, timeout=2)
        server = listener.accept(timeout=2)
        client.send(b"ping")
        assert server.recv() == b"ping"
        assert server.peer == client.local
        assert client.shutdown_write()
        assert server.recv() == b"" and server.eof
        server.send(b"pong after half-close")
        assert client.recv() == b"pong after half-close"
        server.close()
        client.close()
        with pytest.raises(ReceiveTimeout, match="no client connected"):
            listener.accept(timeout=0.1)
    finally:
        listener.close()


def test_recv_timeout_and_refused() -> None:
    pair = loopback_pair(timeout=0.1)
    with pytest.raises(ReceiveTimeout, match="within 0.1 s"):
        pair.server.recv()
    pair.client.close()
    pair.server.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(NetworkError, match="connection refused"):
        connect_tcp("127.0.0.1", port, timeout=2)


@dataclass
class TLSPeer:
    port: int
    cafile: Path
    seen: dict[str, object] = field(default_factory=dict)


@pytest.fixture
def tls_peer(tmp_path: Path) -> Iterator[TLSPeer]:
    """A one-shot TLS echo server (trustme certificate) that records the SNI and ALPN it saw."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("example.test")
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    context.set_alpn_protocols(["h2", "http/1.1"])
    sock = socket.create_server(("127.0.0.1", 0))
    peer = TLSPeer(sock.getsockname()[1], cafile)

    def sni(ssl_sock: ssl.SSLSocket, name: str | None, ctx: ssl.SSLContext) -> None:
        peer.seen["sni"] = name

    context.sni_callback = sni

    def serve() -> None:
        sock.settimeout(5)
        try:
            raw, _ = sock.accept()
            with context.wrap_socket(raw, server_side=True) as conn:
                peer.seen["alpn"] = conn.selected_alpn_protocol()
                conn.sendall(conn.recv(100).upper())
        except (OSError, ssl.SSLError) as exc:
            peer.seen["error"] = exc

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield peer
    thread.join(5)
    sock.close()


def test_tls_sends_sni_and_offers_only_http11(tls_peer: TLSPeer) -> None:
    transport = connect_tls("127.0.0.1", tls_peer.port, timeout=3, cafile=str(tls_peer.cafile),
                            server_hostname="example.test")
    try:
        transport.send(b"hello")
        assert transport.recv() == b"HELLO"
        assert transport.tls_info is not None
        assert "ALPN http/1.1, SNI example.test" in transport.tls_info.summary()
        assert transport.tls_info.verified is True
    finally:
        transport.close()
    assert tls_peer.seen == {"sni": "example.test", "alpn": "http/1.1"}


def test_tls_half_close_is_a_close_notify_and_reading_goes_on(tmp_path: Path) -> None:
    """Under TLS a half-close is a close_notify (RFC 8446 §6.1); the peer may still answer after it."""
    import trustme

    ca = trustme.CA()
    cafile = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    seen: list[bytes] = []

    def serve() -> None:
        raw, _ = listener.accept()
        with context.wrap_socket(raw, server_side=True) as conn:
            conn.settimeout(5)
            while data := conn.recv(100):  # to our close_notify
                seen.append(data)
            conn.sendall(b"after your close")
            conn.unwrap()  # its own close_notify (ours came first: no wait)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    transport = connect_tls("127.0.0.1", listener.getsockname()[1], timeout=5, cafile=str(cafile),
                            server_hostname="localhost")
    try:
        transport.send(b"hello")
        assert transport.shutdown_write() is True
        assert transport.write_closed
        received = b""
        while data := transport.recv():
            received += data
        assert received == b"after your close"
    finally:
        transport.close()
        thread.join(5)
        listener.close()
    assert b"".join(seen) == b"hello"


def test_tls_wrong_name_fails_verification(tls_peer: TLSPeer) -> None:
    with pytest.raises(NetworkError, match="certificate verification failed"):
        connect_tls("127.0.0.1", tls_peer.port, timeout=3, cafile=str(tls_peer.cafile))
