"""Shared by the capture tests: the committed captures' expected bytes, and synthesised captures
built with bench/pcapsynth.py (the repository's one packet synthesiser)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from bench.pcapsynth import ACK, FIN, PSH, SYN, tcp_frame, write_pcap
from h11dbg.transcript.model import Chunk, Record

CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures"


def streams(records: Iterable[Record]) -> dict[tuple[int, str], bytes]:
    """Each (connection, direction)'s bytes, concatenated."""
    out: dict[tuple[int, str], bytes] = {}
    for r in records:
        if isinstance(r, Chunk):
            out[(r.conn, r.direction)] = out.get((r.conn, r.direction), b"") + r.data
    return out


def normalise(data: bytes) -> bytes:
    """Blank out what differs each time make.sh re-makes the captures (dates, Python's version)."""
    data = re.sub(rb"(Date|Last-Modified): [^\r]*", rb"\1: *", data)
    return re.sub(rb"Python/[0-9.]+", b"Python/*", data)


# The traffic of make.sh, byte for byte (after normalise), as both peers saw it.
HELLO_REQUEST = b"GET /hello HTTP/1.1\r\nHost: %s\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
HELLO_RESPONSE = (b"HTTP/1.1 200 OK\r\nServer: capture-server/1 \r\nDate: *\r\nContent-Type: text/plain\r\n"
                  b"Content-Length: 13\r\n\r\nhello, world\n")
POST_BODY = b"line one\r\nline two\nNUL:\x00:end"
POST_REQUEST = (b"POST /echo HTTP/1.1\r\nHost: %s\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n"
                b"Content-Type: application/octet-stream\r\nContent-Length: 28\r\n\r\n" + POST_BODY)
POST_RESPONSE = (b"HTTP/1.1 201 Created\r\nServer: capture-server/1 \r\nDate: *\r\n"
                 b"Content-Type: application/octet-stream\r\nContent-Length: 28\r\n\r\n" + POST_BODY)
CHUNKED_REQUEST = b"GET /chunked HTTP/1.1\r\nHost: %s\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
CHUNKED_HEAD = (b"HTTP/1.1 200 OK\r\nServer: capture-server/1 \r\nDate: *\r\nContent-Type: text/plain\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
CHUNKED_PIECES = [b"6\r\nfirst\n\r\n", b"d\r\nsecond chunk\n\r\n", b"6\r\nthird\n\r\n", b"0\r\n\r\n"]
FILE_REQUEST = b"GET /file.txt HTTP/1.1\r\nHost: %s\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
FILE_RESPONSE = (b"HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/*\r\nDate: *\r\nContent-type: text/plain\r\n"
                 b"Content-Length: 14\r\nLast-Modified: *\r\n\r\na static file\n")


def expected_streams(host: bytes) -> dict[tuple[int, str], bytes]:
    h11, h10 = host + b":8765", host + b":8766"
    return {
        (1, "c2s"): HELLO_REQUEST % h11 * 2 + POST_REQUEST % h11 + CHUNKED_REQUEST % h11,
        (1, "s2c"): HELLO_RESPONSE * 2 + POST_RESPONSE + CHUNKED_HEAD + b"".join(CHUNKED_PIECES),
        (2, "c2s"): FILE_REQUEST % h10,
        (2, "s2c"): FILE_RESPONSE,
    }


def kinds(records: Iterable[Record]) -> list[str]:
    return [type(r).__name__ for r in records]


# -- synthesised captures ----------------------------------------------------------------------

CLIENT = ("10.0.0.1", 40000)
SERVER = ("10.0.0.2", 80)


def lossy_capture(path: Path, connections: int, every: int) -> Path:
    """``connections`` GET exchanges, one after the other; in every ``every``-th one (counting from
    ``every // 2``) the capture missed the first segment of the response: a gap."""
    request = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n" + b"b" * 20
    first, second = response[:30], response[30:]
    frames = []
    for n in range(connections):
        client, server = ("10.0.0.1", 40000 + n), ("10.0.0.2", 80)
        c, s = 1001, 5001  # the next sequence numbers after the SYNs
        frames += [tcp_frame(client, server, c - 1, 0, SYN), tcp_frame(server, client, s - 1, c, SYN | ACK),
                   tcp_frame(client, server, c, s, ACK), tcp_frame(client, server, c, s, ACK | PSH, request)]
        c += len(request)
        if n % every != every // 2:
            frames.append(tcp_frame(server, client, s, c, ACK, first))
        frames += [tcp_frame(server, client, s + len(first), c, ACK | PSH, second),
                   tcp_frame(client, server, c, s + len(response), ACK | FIN),
                   tcp_frame(server, client, s + len(response), c + 1, ACK | FIN)]
    return write_pcap(path, frames)
