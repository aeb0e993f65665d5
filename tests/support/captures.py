"""Helpers shared by the importer tests: the committed captures' expected bytes and a packet
synthesiser.  (A plain module, not a conftest, so tests can import it by a unique name.)"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable
from pathlib import Path

import dpkt

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
        (0, "c2s"): HELLO_REQUEST % h11 * 2 + POST_REQUEST % h11 + CHUNKED_REQUEST % h11,
        (0, "s2c"): HELLO_RESPONSE * 2 + POST_RESPONSE + CHUNKED_HEAD + b"".join(CHUNKED_PIECES),
        (1, "c2s"): FILE_REQUEST % h10,
        (1, "s2c"): FILE_RESPONSE,
    }


def kinds(records: Iterable[Record]) -> list[str]:
    return [type(r).__name__ for r in records]


# -- synthesised packets (for the reassembler's own tests) ------------------------------------

CLIENT = ("10.0.0.1", 40000)
SERVER = ("10.0.0.2", 80)


def tcp_frame(src: tuple[str, int], dst: tuple[str, int], seq: int, ack: int, flags: int,
              data: bytes = b"") -> bytes:
    tcp = dpkt.tcp.TCP(sport=src[1], dport=dst[1], seq=seq % 2**32, ack=ack % 2**32, flags=flags,
                       data=data)
    ip = dpkt.ip.IP(src=socket.inet_aton(src[0]), dst=socket.inet_aton(dst[0]), p=6, data=tcp)
    ip.len = len(bytes(ip))
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=0x0800, data=ip))


def write_pcap(path: Path, frames: Iterable[bytes | tuple[float, bytes]], linktype: int = 1) -> Path:
    with open(path, "wb") as f:
        writer = dpkt.pcap.Writer(f, snaplen=65535, linktype=linktype)
        for i, frame in enumerate(frames):
            ts, data = frame if isinstance(frame, tuple) else (1000.0 + i * 0.01, frame)
            writer.writepkt(data, ts=ts)
    return path


def lossy_capture(path: Path, connections: int, every: int) -> Path:
    """``connections`` GET exchanges, one after the other; in every ``every``-th one (counting from
    ``every // 2``) the capture missed the first segment of the response: a gap."""
    syn, fin, ack, psh = 0x02, 0x01, 0x10, 0x08
    request = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    response = b"HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n" + b"b" * 20
    first, second = response[:30], response[30:]
    frames = []
    for n in range(connections):
        client, server = ("10.0.0.1", 40000 + n), ("10.0.0.2", 80)
        c, s = 1001, 5001  # the next sequence numbers after the SYNs
        frames += [tcp_frame(client, server, c - 1, 0, syn), tcp_frame(server, client, s - 1, c, syn | ack),
                   tcp_frame(client, server, c, s, ack), tcp_frame(client, server, c, s, ack | psh, request)]
        c += len(request)
        if n % every != every // 2:
            frames.append(tcp_frame(server, client, s, c, ack, first))
        frames += [tcp_frame(server, client, s + len(first), c, ack | psh, second),
                   tcp_frame(client, server, c, s + len(response), ack | fin),
                   tcp_frame(server, client, s + len(response), c + 1, ack | fin)]
    return write_pcap(path, frames)
