"""Session.connect and Session.listen over real TCP on 127.0.0.1, with a plain socket as the peer."""

from __future__ import annotations

import socket
import threading

import pytest

from h11dbg.engines import ENGINE_NAMES
from h11dbg.session.commands import execute
from h11dbg.session.core import Session
from h11dbg.transport import NetworkError


@pytest.mark.parametrize("engine", ENGINE_NAMES)
def test_listen_session_serves_a_socket_client(engine: str) -> None:
    session = Session.listen(engine, "127.0.0.1", 0, timeout=3)
    assert session.listener is not None
    client = socket.create_connection(("127.0.0.1", session.listener.port), timeout=3)
    try:
        [note] = session.accept(timeout=3)
        assert note.conn == 1 and note.text == f"connection 1 from 127.0.0.1:{client.getsockname()[1]}"
        client.sendall(b"GET /tcp HTTP/1.1\r\nHost: t\r\n\r\n")
        events = [type(e.event).__name__ for e in session.run() if e.kind == "event"]
        assert events == ["Request", "EndOfMessage"]
        for line in ["response 200 Content-Length: 2", "data ok", "eom"]:
            assert execute(session, line).error is None
        reply = b""
        while not reply.endswith(b"ok"):
            reply += client.recv(1024)
        assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
        assert session.toolbar()["their_state"] == "DONE"
        client.close()
        entries = session.wait_closed(timeout=3)
        assert [e.kind for e in entries][-1] == "event"
        assert type(entries[-1].event).__name__ == "ConnectionClosed"
    finally:
        client.close()
        session.close()


def test_connect_session_reads_a_response_split_across_reads() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer_in_pieces() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(1024)
            for piece in (b"HTTP/1.1 200 OK\r\nContent-Le", b"ngth: 4\r\n\r\nab", b"cd"):
                conn.sendall(piece)
                threading.Event().wait(0.05)  # separate reads: NEED_DATA shows between them

    thread = threading.Thread(target=answer_in_pieces, daemon=True)
    thread.start()
    session = Session.connect("h11dbg", "127.0.0.1", port, timeout=3)
    try:
        assert session.host == f"127.0.0.1:{port}"
        execute(session, "request GET /")
        execute(session, "eom")
        entries = session.run()
        received = [e.data for e in entries if e.kind == "received"]
        assert b"".join(received) == b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd"
        assert len(received) >= 2
        data = b"".join(e.event.data for e in entries if type(e.event).__name__ == "Data")
        assert data == b"abcd"
        assert session.states() == {"client": "DONE", "server": "DONE"}
    finally:
        session.close()
        thread.join(5)
        server.close()


def test_connect_refused_raises_one_line_network_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(NetworkError) as info:
        Session.connect("h11", "127.0.0.1", port, timeout=2)
    assert str(info.value) == f"connecting to 127.0.0.1:{port}: connection refused"
