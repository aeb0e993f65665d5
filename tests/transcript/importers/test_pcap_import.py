"""The pcap/pcapng importer on real captures made by tests/data/captures/make.sh."""

from __future__ import annotations

from pathlib import Path

import dpkt
import pytest
from support.captures import CAPTURES, expected_streams, normalise, streams

from bench.pcapsynth import write_pcap
from h11dbg.transcript.formats import TranscriptError
from h11dbg.transcript.importers import read_pcap
from h11dbg.transcript.model import Chunk, Close, Open

IPV4_FILES = ["http-lo.pcap", "http-lo.pcapng", "http-any-sll.pcap", "http-any-sll2-nano.pcap"]


def check_traffic(records: list, host: bytes, client_ip: str, server_ip: str) -> None:
    got = {key: normalise(data) for key, data in streams(records).items()}
    assert got == expected_streams(host)

    opens = [r for r in records if isinstance(r, Open)]
    assert [o.conn for o in opens] == [1, 2]
    assert opens[0].server == f"{server_ip}:8765" and opens[1].server == f"{server_ip}:8766"
    assert all(o.client is not None and o.client.startswith(client_ip + ":") for o in opens)

    closes = {(r.conn, r.direction) for r in records if isinstance(r, Close)}
    assert closes == {(1, "c2s"), (1, "s2c"), (2, "c2s"), (2, "s2c")}
    assert not any(r.reset for r in records if isinstance(r, Close))

    # the server wrote each piece of the chunked body separately: one chunk record per segment
    tail = [r.data for r in records if isinstance(r, Chunk) and r.conn == 1 and r.direction == "s2c"][-4:]
    assert tail == [b"6\r\nfirst\n\r\n", b"d\r\nsecond chunk\n\r\n", b"6\r\nthird\n\r\n", b"0\r\n\r\n"]

    times = [r.time for r in records]
    assert times[0] == 0.0 and times == sorted(times) and times[-1] < 5


@pytest.mark.parametrize("name", IPV4_FILES)
def test_real_ipv4_captures(name: str) -> None:
    transcript = read_pcap(CAPTURES / name)
    records = list(transcript)
    check_traffic(records, b"127.0.0.1", "127.0.0.1", "127.0.0.1")
    assert transcript.meta.source_format == ("pcapng" if name.endswith("pcapng") else "pcap")
    assert transcript.meta.lossy is None


def test_real_ipv6_capture() -> None:
    records = list(read_pcap(CAPTURES / "http-ipv6.pcap"))
    check_traffic(records, b"[::1]", "[::1]", "[::1]")


def test_link_types_are_reported() -> None:
    assert read_pcap(CAPTURES / "http-any-sll.pcap").meta.extra["linktype"].startswith("113 ")
    assert read_pcap(CAPTURES / "http-any-sll2-nano.pcap").meta.extra["linktype"].startswith("276 ")


def _ip_packets(path: Path) -> list[tuple[float, bytes]]:
    """The IP packets of an Ethernet capture, to wrap them in other link layers."""
    with open(path, "rb") as f:
        return [(float(ts), frame[14:]) for ts, frame in dpkt.pcap.Reader(f)]


@pytest.mark.parametrize(
    ("linktype", "wrap"),
    [
        (0, lambda ip: (2).to_bytes(4, "little") + ip),  # BSD NULL, little-endian host
        (0, lambda ip: (2).to_bytes(4, "big") + ip),  # BSD NULL, big-endian host
        (108, lambda ip: (2).to_bytes(4, "big") + ip),  # OpenBSD LOOP
        (101, lambda ip: ip),
        (228, lambda ip: ip),
    ],
)
def test_other_link_types_carry_the_same_real_packets(tmp_path: Path, linktype: int, wrap) -> None:
    packets = [(ts, wrap(ip)) for ts, ip in _ip_packets(CAPTURES / "http-lo.pcap")]
    path = write_pcap(tmp_path / "x.pcap", packets, linktype=linktype)
    check_traffic(list(read_pcap(path)), b"127.0.0.1", "127.0.0.1", "127.0.0.1")


def test_raw_ipv6_link_type(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "x.pcap", _ip_packets(CAPTURES / "http-ipv6.pcap"), linktype=229)
    check_traffic(list(read_pcap(path)), b"[::1]", "[::1]", "[::1]")


def test_port_filter_keeps_one_connection() -> None:
    records = list(read_pcap(CAPTURES / "http-lo.pcap", port=8766))
    assert [r.server for r in records if isinstance(r, Open)] == ["127.0.0.1:8766"]
    got = {key: normalise(data) for key, data in streams(records).items()}
    expected = expected_streams(b"127.0.0.1")
    assert got == {(1, "c2s"): expected[(2, "c2s")], (1, "s2c"): expected[(2, "s2c")]}
    nothing = read_pcap(CAPTURES / "http-lo.pcap", port=9)
    assert nothing.meta.extra == {"linktype": "1 (Ethernet)", "port": "9"}  # the filter is in the metadata
    assert list(nothing) == []


def test_records_can_be_iterated_twice() -> None:
    transcript = read_pcap(CAPTURES / "http-lo.pcapng")
    assert list(transcript) == list(transcript)


# -- unreadable files ---------------------------------------------------------------------------

def _pcap_record_ends(data: bytes) -> set[int]:
    ends, pos = {24}, 24
    while pos < len(data):
        pos += 16 + int.from_bytes(data[pos + 8:pos + 12], "little")
        ends.add(pos)
    return ends


@pytest.mark.parametrize("name", ["http-lo.pcap", "http-lo.pcapng"])
def test_truncated_files_give_a_located_error(tmp_path: Path, name: str) -> None:
    data = (CAPTURES / name).read_bytes()
    boundaries = _pcap_record_ends(data) if name.endswith(".pcap") else None
    cut_file = tmp_path / name
    for cut in [*range(1, 120), *range(120, len(data), 37)]:
        cut_file.write_bytes(data[:cut])
        try:
            list(read_pcap(cut_file))
        except TranscriptError as exc:
            message = str(exc)
            assert message.startswith(f"{cut_file}: byte ")
            assert "\n" not in message
            assert exc.offset is not None and 0 <= exc.offset <= cut
        else:
            if boundaries is not None:
                assert cut in boundaries, f"a cut at byte {cut} was not noticed"


def test_a_cut_inside_a_packet_names_its_offset(tmp_path: Path) -> None:
    data = (CAPTURES / "http-lo.pcap").read_bytes()
    second = 24 + 16 + int.from_bytes(data[32:36], "little")  # where packet 2's record starts
    path = tmp_path / "cut.pcap"
    path.write_bytes(data[:second + 20])
    with pytest.raises(TranscriptError) as info:
        list(read_pcap(path))
    assert info.value.offset == second + 16
    assert "ends inside a record" in str(info.value)


def test_corrupt_pcapng_block_length(tmp_path: Path) -> None:
    data = bytearray((CAPTURES / "http-lo.pcapng").read_bytes())
    # walk the blocks to the first enhanced packet block and give it an impossible length
    pos = 0
    while int.from_bytes(data[pos:pos + 4], "little") != 6:
        pos += int.from_bytes(data[pos + 4:pos + 8], "little")
    data[pos + 4:pos + 8] = (4).to_bytes(4, "little")
    path = tmp_path / "bad.pcapng"
    path.write_bytes(bytes(data))
    with pytest.raises(TranscriptError) as info:
        list(read_pcap(path))
    assert info.value.offset == pos
    assert "block length" in str(info.value)


def test_not_a_capture(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(b"GET / HTTP/1.1\r\n")
    with pytest.raises(TranscriptError, match=r"x.pcap: byte 0: not a pcap or pcapng file"):
        read_pcap(path)


def test_unsupported_link_type(tmp_path: Path) -> None:
    path = write_pcap(tmp_path / "wifi.pcap", [b"\x00" * 40], linktype=105)
    with pytest.raises(TranscriptError, match=r"byte 20: unsupported link type 105"):
        read_pcap(path)


def test_pcapng_with_interfaces_of_different_link_types_is_refused() -> None:
    # dumpcap -i lo -i any: Ethernet and Linux cooked packets in one file
    path = CAPTURES / "two-interfaces.pcapng"
    with pytest.raises(TranscriptError) as info:
        list(read_pcap(path))
    assert "different link types (1 and 113)" in str(info.value)
    data = path.read_bytes()
    assert info.value.offset is not None and data[info.value.offset:info.value.offset + 4] == b"\x01\0\0\0"


def test_packets_are_streamed_not_held(tmp_path: Path) -> None:
    import tracemalloc

    from support.captures import CLIENT, SERVER

    from bench.pcapsynth import tcp_frame
    from h11dbg.transcript.importers.tcp import ACK, SYN

    payload = b"x" * 1400
    frames = [tcp_frame(CLIENT, SERVER, 1000, 0, SYN)]
    frames += [tcp_frame(CLIENT, SERVER, 1001 + i * 1400, 0, ACK, payload) for i in range(3000)]
    path = write_pcap(tmp_path / "big.pcap", frames)
    del frames
    assert path.stat().st_size > 4_000_000
    tracemalloc.start()
    try:
        total = sum(len(r.data) for r in read_pcap(path) if isinstance(r, Chunk))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == 3000 * 1400
    assert peak < 500_000, f"{peak} bytes held while reading a {path.stat().st_size}-byte capture"
