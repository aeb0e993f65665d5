"""A live session records what crosses its sockets as transcript records (real sockets on 127.0.0.1)."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from h11dbg.session.commands import execute
from h11dbg.session.core import Session
from h11dbg.transcript import Chunk, Close, Open, open_transcript
from h11dbg.transcript.files import create_new
from h11dbg.transport import NetworkError


def chunks(records: list, direction: str) -> list[bytes]:
    return [r.data for r in records if isinstance(r, Chunk) and r.direction == direction]


def closes(records: list) -> list[tuple[int, str, bool]]:
    return [(r.conn, r.direction, r.reset) for r in records if isinstance(r, Close)]


@pytest.fixture
def loopback(each_engine: str) -> Iterator[Session]:
    s = Session.loopback(each_engine, timeout=0.3)
    yield s
    s.close()


def test_loopback_records_each_write_once_and_save_round_trips(loopback: Session, tmp_path: Path) -> None:
    s = loopback
    for line in ["request POST /up Content-Length: 5", "data hel", "data lo", "eom", "raw \\x00junk"]:
        assert execute(s, line).error is None
    execute(s, "as server")
    execute(s, "run")  # the server reads: in loopback that must not record the bytes a second time
    records = list(s.recorder.records)
    assert records[0] == Open(1, records[0].time, None, None)
    sent = [e.data for e in s.log if e.kind in ("event", "sent") and e.actor == "client" and e.data]
    assert chunks(records, "c2s") == sent  # one chunk per send, in order
    assert chunks(records, "c2s")[1:] == [b"hel", b"lo", b"\x00junk"]
    assert chunks(records, "s2c") == []
    times = [r.time for r in records]
    assert times == sorted(times)

    result = execute(s, f"save {tmp_path / 'lesson.h11t'}")
    assert result.error is None
    assert result.output == [f"saved 1 connection, 4 chunks, {sum(map(len, sent)):,} bytes to "
                             f"{tmp_path / 'lesson.h11t'}"]
    transcript = open_transcript(tmp_path / "lesson.h11t")
    assert list(transcript) == records
    assert transcript.meta.tool == "h11dbg 0.1.0 loopback"
    assert transcript.meta.extra == {"engine": s.engine_name}
    assert transcript.meta.recorded_at and transcript.meta.peers


def test_loopback_half_closes_are_recorded_once(loopback: Session) -> None:
    s = loopback
    execute(s, "close")  # the client's ConnectionClosed: a FIN on c2s
    execute(s, "as server")
    execute(s, "run")  # the server sees EOF; that is the same FIN, not a second record
    execute(s, "close")
    s.close()
    assert closes(s.recorder.records) == [(1, "c2s", False), (1, "s2c", False)]


def test_save_refuses_to_overwrite_without_force(loopback: Session, tmp_path: Path) -> None:
    target = tmp_path / "kept.h11t"
    target.write_bytes(b"precious")
    execute(loopback, "request GET /")
    result = execute(loopback, f"save {target}")
    assert result.error_kind == "usage"
    assert result.error == f"{target}: exists already; refusing to overwrite it (use save --force {target})"
    assert target.read_bytes() == b"precious"
    result = execute(loopback, f"save --force {target}")
    assert result.error is None, result.error
    assert chunks(list(open_transcript(target)), "c2s") == [loopback.log[-1].data]
    assert execute(loopback, "save").error == "usage: save [--force] FILE (quote a name with spaces)"
    assert execute(loopback, f"save {tmp_path}/a {tmp_path}/b").error_kind == "usage"
    assert not (tmp_path / "a").exists()


def test_save_into_a_missing_directory_is_one_line(loopback: Session, tmp_path: Path) -> None:
    result = execute(loopback, f"save {tmp_path}/no/such/dir.h11t")
    assert result.error_kind == "usage"
    assert result.error is not None and "cannot write" in result.error and "\n" not in result.error


def _server(script: list[bytes | float], received: list[bytes], linger_reset: bool = False
            ) -> tuple[int, threading.Thread]:
    """A real socket server: reads a request head, then sends each bytes item (a float pauses)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        listener.close()
        conn.settimeout(5)
        data = b""
        while b"\r\n\r\n" not in data:
            data += conn.recv(4096)
        received.append(data)
        for item in script:
            if isinstance(item, float):
                threading.Event().wait(item)
            else:
                conn.sendall(item)
        if linger_reset:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return port, thread


def test_connect_records_the_real_reads_and_the_peers_fin() -> None:
    pieces = [b"HTTP/1.1 200 OK\r\nContent-Le", b"ngth: 4\r\n\r\nab", b"cd"]
    received: list[bytes] = []
    port, thread = _server([pieces[0], 0.1, pieces[1], 0.1, pieces[2]], received)
    session = Session.connect("h11dbg", "127.0.0.1", port, timeout=3)
    try:
        execute(session, "request GET /")
        execute(session, "eom")
        execute(session, "run")
        thread.join(5)
        session.wait_closed(timeout=3)
        records = session.recorder.records
        local = session.sides["client"].transport.local  # type: ignore[union-attr]
        assert records[0] == Open(1, records[0].time, local, f"127.0.0.1:{port}")
        assert chunks(records, "c2s") == received  # exactly what the server read
        # one chunk per recv: the pauses made three separate reads, as the log shows
        reads = [e.data for e in session.log if e.kind == "received"]
        assert chunks(records, "s2c") == reads == pieces
        assert closes(records) == [(1, "s2c", False)]
        assert session.peers() == f"{local} -> 127.0.0.1:{port}"
    finally:
        session.close()
    assert closes(session.recorder.records) == [(1, "s2c", False), (1, "c2s", False)]


def test_a_reset_by_the_peer_is_recorded_as_a_reset() -> None:
    received: list[bytes] = []
    port, thread = _server([b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial"], received,
                           linger_reset=True)
    session = Session.connect("h11", "127.0.0.1", port, timeout=3)
    try:
        execute(session, "request GET /")
        execute(session, "eom")
        thread.join(5)
        result = execute(session, "run")
        # the bytes may or may not be read before the RST discards them; the reset is always seen
        assert result.error_kind == "network", result
        assert closes(session.recorder.records) == [(1, "s2c", True)]
    finally:
        session.close()
    assert closes(session.recorder.records) == [(1, "s2c", True)]  # the reset ended both directions


def test_listen_gives_each_client_its_own_connection_and_streams_to_a_file(tmp_path: Path) -> None:
    path = tmp_path / "served.h11t"
    session = Session.listen("h11dbg", "127.0.0.1", 0, timeout=3)
    assert session.listener is not None
    try:
        note = session.start_recording(create_new(path, force=False), path)
        assert note.text == f"recording to {path}"
        ports = []
        for n in (1, 2):
            client = socket.create_connection(("127.0.0.1", session.listener.port), timeout=3)
            ports.append(client.getsockname()[1])
            session.accept(timeout=3)
            client.sendall(f"GET /{n} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            execute(session, "run")
            for line in ["response 200 Content-Length: 1", f"data {n}", "eom"]:
                assert execute(session, line).error is None
            reply = b""
            while not reply.endswith(str(n).encode()):
                reply += client.recv(1024)
            client.close()
            # streamed and flushed: the file already holds this connection, the session still open
            on_disk = list(open_transcript(path))
            assert on_disk == session.recorder.records
            assert chunks([r for r in on_disk if r.conn == n], "s2c") == [
                b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n", str(n).encode()]
        # saving onto the file being streamed would clobber it
        result = execute(session, f"save --force {path}")
        assert result.error == f"{path}: that is the file --record is writing; save to another file"
    finally:
        session.close()
    records = list(open_transcript(path))
    opens = [r for r in records if isinstance(r, Open)]
    listening = session.address
    assert [(o.conn, o.client, o.server) for o in opens] == [
        (1, f"127.0.0.1:{ports[0]}", listening), (2, f"127.0.0.1:{ports[1]}", listening)]
    assert chunks([r for r in records if r.conn == 1], "c2s") == [b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n"]
    # connection 1 ended when accept waited for the next client: the client's FIN, then ours
    assert [c for c in closes(records) if c[0] == 1] == [(1, "c2s", False), (1, "s2c", False)]
    meta = open_transcript(path).meta
    assert meta.tool == "h11dbg 0.1.0 listen" and meta.peers == f"clients -> {listening}"


def test_a_failed_send_is_recorded_as_the_peers_reset() -> None:
    received: list[bytes] = []
    port, thread = _server([], received, linger_reset=True)
    session = Session.connect("h11dbg", "127.0.0.1", port, timeout=3)
    try:
        execute(session, "raw GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        thread.join(5)
        with pytest.raises(NetworkError):
            for _ in range(50):  # the first write after an RST may still succeed; a later one fails
                session.send_raw(b"x" * 65536)
                threading.Event().wait(0.01)
        assert closes(session.recorder.records) == [(1, "s2c", True)]
    finally:
        session.close()


def test_a_recording_file_that_breaks_mid_session_stops_streaming_but_not_the_session(tmp_path: Path) -> None:
    import os

    read_end, write_end = os.pipe()
    session = Session.loopback("h11dbg", timeout=0.3)
    try:
        session.start_recording(os.fdopen(write_end, "wb"), "pipe")
        os.close(read_end)  # the reader goes away: the next write fails with EPIPE
        entries = execute(session, "request GET /after").entries
        assert execute(session, "eom").error is None
        notes = [e.text for e in session.log if e.kind == "note"]
        assert "pipe: writing the recording failed (Broken pipe); the file ends here, `save` can still " \
               "write everything" in notes
        assert entries[-1].kind == "event"  # the request itself went out and was logged
        assert execute(session, f"save {tmp_path / 'all.h11t'}").error is None
        assert chunks(list(open_transcript(tmp_path / "all.h11t")), "c2s") == [entries[-1].data]
    finally:
        session.close()


def test_save_expands_a_home_directory(loopback: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    result = execute(loopback, "save ~/home.h11t")
    assert result.error is None and result.output == [f"saved 1 connection, 0 chunks, 0 bytes to {tmp_path}/home.h11t"]
    assert list(open_transcript(tmp_path / "home.h11t")) == loopback.recorder.records


def test_every_byte_value_and_a_large_binary_body_round_trip_through_save(tmp_path: Path) -> None:
    import os

    body = bytes(range(256)) * 4 + os.urandom(1 << 20)
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    received: list[bytes] = []
    port, thread = _server([head + body], received)
    session = Session.connect("h11dbg", "127.0.0.1", port, timeout=5)
    try:
        execute(session, "request GET /big")
        execute(session, "eom")
        execute(session, "run")
        thread.join(5)
        assert execute(session, f"save {tmp_path / 'big.h11t'}").error is None
    finally:
        session.close()
    reads = [e.data for e in session.log if e.kind == "received"]
    assert len(reads) > 1  # a megabyte takes many reads, and each is its own chunk
    on_disk = list(open_transcript(tmp_path / "big.h11t"))
    assert chunks(on_disk, "s2c") == reads
    assert b"".join(reads) == head + body
    assert chunks(on_disk, "c2s") == received
