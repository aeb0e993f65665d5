"""curl --trace / --trace-ascii files made by tests/data/captures/make.sh, and hand-made variants."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support.captures import CAPTURES, expected_streams, normalise, streams

from h11dbg.transcript import formats
from h11dbg.transcript.formats import TranscriptError
from h11dbg.transcript.importers import read_curl_trace, read_pcap
from h11dbg.transcript.model import Chunk, Close, Open


def ascii_view(data: bytes) -> bytes:
    """What --trace-ascii keeps of ``data``: CRLF, printable ASCII, and '.' for everything else."""
    parts = data.split(b"\r\n")
    return b"\r\n".join(re.sub(rb"[^\x20-\x7e]", b".", p) for p in parts)


def test_hex_trace_gives_the_exact_bytes() -> None:
    transcript = read_curl_trace(CAPTURES / "http-trace.txt")
    records = list(transcript)
    assert transcript.meta.source_format == "curl-trace" and transcript.meta.lossy is None
    assert {k: normalise(v) for k, v in streams(records).items()} == expected_streams(b"127.0.0.1")
    assert [(r.conn, r.server) for r in records if isinstance(r, Open)] == [
        (1, "127.0.0.1:8765"), (2, "127.0.0.1:8766")]
    # curl logged "Closing connection 1" only; connection 0 was "left intact"
    assert [(r.conn, r.direction) for r in records if isinstance(r, Close)] == [(2, "s2c"), (2, "c2s")]
    # curl reports response headers one line at a time
    first_response = [r.data for r in records if isinstance(r, Chunk) and r.direction == "s2c"][:2]
    assert first_response == [b"HTTP/1.1 200 OK\r\n", b"Server: capture-server/1 \r\n"]


def test_hex_trace_matches_the_capture_of_the_same_run() -> None:
    # make.sh recorded http-trace.txt and http-lo.pcap from one curl run: same bytes, no normalising
    from_trace = streams(read_curl_trace(CAPTURES / "http-trace.txt"))
    from_pcap = streams(read_pcap(CAPTURES / "http-lo.pcap"))
    assert from_trace == from_pcap


def test_ascii_trace_is_lossy_but_keeps_line_breaks() -> None:
    transcript = read_curl_trace(CAPTURES / "http-trace-ascii.txt")
    records = list(transcript)
    assert transcript.meta.source_format == "curl-trace-ascii"
    assert transcript.meta.lossy is not None and "'.'" in transcript.meta.lossy
    got = {k: normalise(v) for k, v in streams(records).items()}
    assert got == {k: ascii_view(v) for k, v in expected_streams(b"127.0.0.1").items()}


def test_ascii_trace_times_come_from_trace_time() -> None:
    records = list(read_curl_trace(CAPTURES / "http-trace-ascii.txt"))
    times = [r.time for r in records]
    assert 0.0 <= times[0] < 1.0 and times == sorted(times)  # 0.0 is curl's first line ("Trying")
    # the server sleeps 50 ms before each piece of the chunked body
    assert 0.15 < times[-1] < 10


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("http-trace.txt", "curl-trace"), ("http-trace-ascii.txt", "curl-trace-ascii"),
     ("http-lo.pcap", "pcap"), ("http-lo.pcapng", "pcapng")],
)
def test_files_are_recognised_by_their_first_bytes(name: str, fmt: str) -> None:
    import h11dbg.transcript.importers  # noqa: F401  (registers the formats)

    head = (CAPTURES / name).read_bytes()[: formats.SNIFF_BYTES]
    found = formats.detect(head)
    assert found is not None and found.name == fmt


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trace.txt"
    path.write_bytes(text.encode("latin-1"))
    return path


def hexdump(data: bytes) -> str:
    lines = []
    for i in range(0, len(data), 16):
        part = data[i:i + 16]
        hexes = "".join(f"{b:02x} " for b in part).ljust(48)
        lines.append(f"{i:04x}: {hexes}{''.join(chr(b) if 32 <= b < 127 else '.' for b in part)}\n")
    return "".join(lines)


def block(arrow: str, kind: str, data: bytes, prefix: str = "") -> str:
    verb = "Send" if arrow == "=>" else "Recv"
    return f"{prefix}{arrow} {verb} {kind}, {len(data)} bytes ({len(data):#x})\n" + hexdump(data)


def test_curl8_style_reuse_ids_and_ssl_blocks(tmp_path: Path) -> None:
    req = b"GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n"
    text = (
        "[0-0] == Info: Connected to example.com (93.184.215.14) port 443\n"
        + block("=>", "SSL data", b"\x16\x03\x01\x00\x05hello", "[0-0] ")
        + block("=>", "header", req, "[0-0] ")
        + block("<=", "header", b"HTTP/1.1 204 No Content\r\n\r\n", "[0-0] ")
        + "[1-0] == Info: Connected to other.org (2001:db8::1) port 80\n"
        + block("=>", "header", b"GET / HTTP/1.1\r\nHost: other.org\r\n\r\n", "[1-0] ")
        + "[2-0] == Info: Re-using existing connection with host example.com\n"
        + block("=>", "header", req, "[2-0] ")
        + "[2-0] == Info: shutting down connection #0\n"
    )
    records = list(read_curl_trace(write(tmp_path, text)))
    assert [(r.conn, r.server) for r in records if isinstance(r, Open)] == [
        (1, "93.184.215.14:443"), (2, "[2001:db8::1]:80")]
    assert streams(records) == {
        (1, "c2s"): req * 2, (1, "s2c"): b"HTTP/1.1 204 No Content\r\n\r\n",
        (2, "c2s"): b"GET / HTTP/1.1\r\nHost: other.org\r\n\r\n",
    }
    assert isinstance(records[-1], Close) and records[-1].conn == 1


def test_ascii_lines_wrapped_at_64_characters(tmp_path: Path) -> None:
    body = b"x" * 70 + b"\r\n" + b"y" * 64 + b"\r\n\tz"
    lines = ["0000: " + "x" * 64, "0040: xxxxxx", "0048: " + "y" * 64, "008a: .z"]
    text = f"<= Recv data, {len(body)} bytes ({len(body):#x})\n" + "\n".join(lines) + "\n"
    records = list(read_curl_trace(write(tmp_path, text)))
    assert streams(records) == {(1, "s2c"): body.replace(b"\t", b".")}


def test_a_trace_without_connection_lines_gets_one_connection(tmp_path: Path) -> None:
    text = block("=>", "header", b"GET / HTTP/1.1\r\n\r\n")
    records = list(read_curl_trace(write(tmp_path, text)))
    assert records[0] == Open(1, 0.0, None, None)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("=> Send header, 4 bytes (0x4)\n0000: 47 45 54                                        GET\n",
         2, "expected 4 hex bytes"),
        ("=> Send header, 20 bytes (0x14)\n" + hexdump(b"GET " * 5).replace("0010:", "0020:"),
         3, "dump offset 0x20, expected 0x10"),
        ("== Info: hi\n0000: 47 45 54\n", 2, "a dump line outside a Send/Recv block"),
        ("=> Send header, 2 bytes (0x2)\n== Info: x\n", 1, "announces 2 bytes but its dump holds 0"),
        ("=> Send header, 9 bytes (0x9)\n0000: GET / \n0009: \n", 2, "does not fit the next offset"),
    ],
)
def test_malformed_traces_name_the_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TranscriptError) as info:
        list(read_curl_trace(path))
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ") and message in str(info.value)
    assert "\n" not in str(info.value)


def test_not_a_trace(tmp_path: Path) -> None:
    with pytest.raises(TranscriptError, match=r"trace.txt:1: not a curl trace"):
        read_curl_trace(write(tmp_path, "hello\n"))


def test_truncated_trace_is_reported(tmp_path: Path) -> None:
    text = (CAPTURES / "http-trace.txt").read_text("latin-1")
    cut = text[: text.index("0010: 31 2e 31 0d 0a 48 6f 73")]  # inside the first request's dump
    with pytest.raises(TranscriptError, match=r"trace.txt:3: the block announces 83 bytes"):
        list(read_curl_trace(write(tmp_path, cut)))
