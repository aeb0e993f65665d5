"""A capture's segments joined into the senders' writes (the default), and --segments."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from support.captures import CLIENT, SERVER

from bench.pcapsynth import tcp_frame, write_pcap
from h11dbg.cli import main
from h11dbg.transcript import Chunk, Close, open_transcript
from h11dbg.transcript.importers.tcp import ACK, FIN, PSH, SYN, WRITE_LIMIT

C, S = 1000, 5000  # initial sequence numbers


def c(offset: int, data: bytes, flags: int = ACK, ack: int = 0) -> bytes:
    return tcp_frame(CLIENT, SERVER, C + 1 + offset, S + 1 + ack, flags, data)


def s(offset: int, data: bytes, flags: int = ACK, ack: int = 0) -> bytes:
    return tcp_frame(SERVER, CLIENT, S + 1 + offset, C + 1 + ack, flags, data)


HANDSHAKE = [tcp_frame(CLIENT, SERVER, C, 0, SYN), tcp_frame(SERVER, CLIENT, S, C + 1, SYN | ACK),
             tcp_frame(CLIENT, SERVER, C + 1, S + 1, ACK)]
HEAD = b"POST /upload HTTP/1.1\r\nHost: example\r\nContent-Length: 10\r\n\r\n"


def _capture(tmp_path: Path) -> Path:
    """A request written in two writes (head, then body) that left as five segments; a response
    of 150000 bytes in one write, without PSH until its end; FINs from both sides."""
    frames = list(HANDSHAKE)
    frames += [c(0, HEAD[:20]), c(20, HEAD[20:40]), c(40, HEAD[40:], ACK | PSH)]
    n = len(HEAD)
    frames += [c(n, b"01234"), c(n + 5, b"56789", ACK | PSH)]
    body = bytes(i % 251 for i in range(150_000 - 43))
    response = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    assert len(response) == 150_000
    for at in range(0, len(response), 1448):
        last = at + 1448 >= len(response)
        frames.append(s(at, response[at:at + 1448], ACK | (PSH if last else 0), ack=n + 10))
    frames += [c(n + 10, b"", ACK | FIN, ack=len(response)), s(len(response), b"", ACK | FIN, ack=n + 11)]
    # timestamps 10 ms apart: a joined chunk's time is its last segment's
    return write_pcap(tmp_path / "writes.pcap", [(1000.0 + i * 0.01, f) for i, f in enumerate(frames)])


def test_segments_are_joined_at_psh_and_at_64_kib(tmp_path: Path) -> None:
    path = _capture(tmp_path)
    records = list(open_transcript(path))
    chunks = [(r.direction, len(r.data)) for r in records if isinstance(r, Chunk)]
    requests = [size for direction, size in chunks if direction == "c2s"]
    responses = [size for direction, size in chunks if direction == "s2c"]
    assert requests == [len(HEAD), 10]  # the client's two writes
    assert len(responses) == 3 and sum(responses) == 150_000
    assert WRITE_LIMIT <= responses[0] < WRITE_LIMIT + 1448 and WRITE_LIMIT <= responses[1] < WRITE_LIMIT + 1448
    head = next(r for r in records if isinstance(r, Chunk))
    assert head.data == HEAD and abs(head.time - 0.05) < 1e-6  # the third segment's time
    # the bytes are the bytes of the segments, in the same order, with the FINs after them
    segments = list(open_transcript(path, segments=True))
    assert len([r for r in segments if isinstance(r, Chunk)]) == 5 + 104
    for direction in ("c2s", "s2c"):
        assert b"".join(r.data for r in records if isinstance(r, Chunk) and r.direction == direction) == \
            b"".join(r.data for r in segments if isinstance(r, Chunk) and r.direction == direction)
    assert [type(r).__name__ for r in records[-2:]] == ["Close", "Close"]


def test_a_write_ends_when_the_other_side_speaks_or_closes(tmp_path: Path) -> None:
    frames = list(HANDSHAKE)
    frames += [c(0, b"GET / HTTP/1.1\r\n"), c(16, b"Host: a\r\n")]  # no PSH: still one write
    frames += [s(0, b"HTTP/1.1 400 Bad Request\r\n")]  # ... but the server speaks
    frames += [c(25, b"\r\n"), c(27, b"", ACK | FIN)]  # the client's last bytes, then its FIN
    frames += [s(26, b"Content-Length: 0\r\n\r\n", ACK, ack=27), s(47, b"", ACK | FIN, ack=28)]
    records = list(open_transcript(write_pcap(tmp_path / "t.pcap", frames)))
    shown = [(type(r).__name__, getattr(r, "direction", None), getattr(r, "data", b"")) for r in records[1:]]
    assert shown == [
        ("Chunk", "c2s", b"GET / HTTP/1.1\r\nHost: a\r\n"),
        ("Chunk", "s2c", b"HTTP/1.1 400 Bad Request\r\n"),
        ("Chunk", "c2s", b"\r\n"),
        ("Close", "c2s", b""),
        ("Chunk", "s2c", b"Content-Length: 0\r\n\r\n"),
        ("Close", "s2c", b""),
    ]
    assert all(not isinstance(r, Close) or not r.reset for r in records)


def test_replay_and_convert_take_segments(tmp_path: Path) -> None:
    path = _capture(tmp_path)
    joined = CliRunner().invoke(main, ["replay", str(path), "--no-headers"])
    split = CliRunner().invoke(main, ["replay", str(path), "--no-headers", "--segments"])
    assert joined.exit_code == split.exit_code == 0, joined.output + split.output
    # the body: one write of 10 bytes, or two segments; the response: three writes, or 104 segments
    assert joined.stdout.count(" Data ") == 1 + 3 and split.stdout.count(" Data ") == 2 + 104
    out = tmp_path / "segments.h11t"
    done = CliRunner().invoke(main, ["convert", str(path), str(out), "--segments"])
    assert done.exit_code == 0, done.output
    converted = list(open_transcript(out))
    assert len([r for r in converted if isinstance(r, Chunk)]) == 5 + 104
    assert "one per TCP segment" in out.read_text()

