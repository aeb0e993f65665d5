"""Our TCP reassembly, on packet sequences synthesised with dpkt and read back through read_pcap
(one chunk per segment, ``segments=True``, unless a test is about joining them into writes).

Synthesised packets are right here: these tests are about the algorithm (ordering, overlaps,
wraparound, resets, gaps), and real captures rarely contain those cases on demand.
"""

from __future__ import annotations

from pathlib import Path

from support.captures import CLIENT, SERVER, streams

from bench.pcapsynth import tcp_frame, write_pcap
from h11dbg.transcript.importers import read_pcap
from h11dbg.transcript.importers.tcp import ACK, FIN, RST, SYN, Reassembler, Segment
from h11dbg.transcript.model import Chunk, Close, Open

C_ISN, S_ISN = 1000, 5000


def handshake(c_isn: int = C_ISN, s_isn: int = S_ISN, client=CLIENT, server=SERVER) -> list[bytes]:
    return [
        tcp_frame(client, server, c_isn, 0, SYN),
        tcp_frame(server, client, s_isn, c_isn + 1, SYN | ACK),
        tcp_frame(client, server, c_isn + 1, s_isn + 1, ACK),
    ]


def c(offset: int, data: bytes, flags: int = ACK, ack: int = 0) -> bytes:
    """A client segment at stream offset ``offset``."""
    return tcp_frame(CLIENT, SERVER, C_ISN + 1 + offset, S_ISN + 1 + ack, flags, data)


def s(offset: int, data: bytes, flags: int = ACK, ack: int = 0) -> bytes:
    return tcp_frame(SERVER, CLIENT, S_ISN + 1 + offset, C_ISN + 1 + ack, flags, data)


def read(tmp_path: Path, frames: list) -> tuple[list, str | None]:
    transcript = read_pcap(write_pcap(tmp_path / "t.pcap", frames), segments=True)
    records = list(transcript)
    return records, transcript.meta.lossy


def chunks(records: list, direction: str = "c2s") -> list[bytes]:
    return [r.data for r in records if isinstance(r, Chunk) and r.direction == direction]


def test_in_order_with_fin_from_both_sides(tmp_path: Path) -> None:
    records, lossy = read(tmp_path, [
        *handshake(),
        c(0, b"GET / HTTP/1.1\r\n"),
        c(16, b"\r\n"),
        s(0, b"HTTP/1.1 204 No Content\r\n\r\n", ack=18),
        c(18, b"", FIN | ACK, ack=27),
        s(27, b"", FIN | ACK, ack=19),
        c(19, b"", ACK, ack=28),
    ])
    assert lossy is None
    assert records[0] == Open(1, 0.0, "10.0.0.1:40000", "10.0.0.2:80")
    assert chunks(records) == [b"GET / HTTP/1.1\r\n", b"\r\n"]
    assert chunks(records, "s2c") == [b"HTTP/1.1 204 No Content\r\n\r\n"]
    assert [(type(r).__name__, r.direction) for r in records if isinstance(r, Close)] == [
        ("Close", "c2s"), ("Close", "s2c")]


def test_out_of_order_segments_wait_for_the_hole(tmp_path: Path) -> None:
    frames = [*handshake(), (2000.0, c(4, b"/ HTTP/1.1\r\n\r\n")), (2000.5, c(0, b"GET "))]
    records, lossy = read(tmp_path, frames)
    assert lossy is None
    assert chunks(records) == [b"GET ", b"/ HTTP/1.1\r\n\r\n"]
    released = [r for r in records if isinstance(r, Chunk)]
    # both are readable only once the hole filled: both carry that moment's time
    assert released[0].time == released[1].time == records[-1].time


def test_retransmissions_are_dropped(tmp_path: Path) -> None:
    records, _ = read(tmp_path, [*handshake(), c(0, b"abc"), c(0, b"abc"), c(3, b"def"), c(0, b"abcdef")])
    assert chunks(records) == [b"abc", b"def"]


def test_overlapping_segments_keep_the_first_seen_bytes(tmp_path: Path) -> None:
    records, lossy = read(tmp_path, [
        *handshake(),
        c(0, b"AAAAAAAAAA"),  # 0..10
        c(5, b"bbbbbBBBBB"),  # 5..15: only 10..15 is new
        c(20, b"DDDDD"),  # 20..25, waits
        c(15, b"ccccccccXX"),  # 15..25: 15..20 new, 20..25 already seen as D
    ])
    assert lossy is None
    assert chunks(records) == [b"AAAAAAAAAA", b"BBBBB", b"ccccc", b"DDDDD"]


def test_sequence_numbers_wrap_around(tmp_path: Path) -> None:
    isn = 2**32 - 6  # the first data byte is 2**32 - 5: the stream crosses zero after 5 bytes

    def cw(offset: int, data: bytes, flags: int = ACK) -> bytes:
        return tcp_frame(CLIENT, SERVER, isn + 1 + offset, S_ISN + 1, flags, data)

    records, lossy = read(tmp_path, [
        *handshake(c_isn=isn), cw(0, b"01234"), cw(10, b"abcde"), cw(5, b"56789"), cw(15, b"", FIN | ACK)])
    assert lossy is None
    assert chunks(records) == [b"01234", b"56789", b"abcde"]
    assert isinstance(records[-1], Close) and records[-1].direction == "c2s"


def test_reset_closes_and_later_segments_are_ignored(tmp_path: Path) -> None:
    records, _ = read(tmp_path, [
        *handshake(), c(0, b"GET / HTTP/1.1\r\n\r\n"), s(0, b"", RST | ACK, ack=18), c(18, b"more")])
    assert records[-1] == Close(1, "s2c", records[-1].time, reset=True)
    assert chunks(records) == [b"GET / HTTP/1.1\r\n\r\n"]
    assert sum(isinstance(r, Open) for r in records) == 1


def test_a_gap_stops_that_direction_and_marks_the_transcript_lossy(tmp_path: Path) -> None:
    head = b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n"
    n = len(head)
    records, lossy = read(tmp_path, [
        *handshake(),
        c(0, head),
        c(n + 5, b"67890"),  # the body's first 5 bytes were never captured
        c(n + 10, b"", FIN | ACK),
        s(0, b"HTTP/1.1 200 OK\r\n", ack=n + 11),
    ])
    assert chunks(records) == [head]
    assert chunks(records, "s2c") == [b"HTTP/1.1 200 OK\r\n"]
    assert not any(isinstance(r, Close) and r.direction == "c2s" for r in records)
    assert lossy == (f"connection 1 client→server: bytes missing at stream offset {n} (5 bytes): the peer "
                     "acknowledged bytes the capture does not contain; that direction stops there")


def test_a_gap_is_noticed_when_the_peer_acknowledges_unseen_bytes(tmp_path: Path) -> None:
    records, lossy = read(tmp_path, [*handshake(), c(0, b"abc"), s(0, b"", ACK, ack=9), c(9, b"xyz")])
    assert chunks(records) == [b"abc"]
    assert lossy is not None and "acknowledged" in lossy and "offset 3" in lossy


def test_a_hole_still_open_at_the_end_is_a_gap(tmp_path: Path) -> None:
    records, lossy = read(tmp_path, [*handshake(), c(0, b"abc"), c(6, b"ghi")])
    assert chunks(records) == [b"abc"]
    assert lossy is not None and "offset 3 (3 bytes)" in lossy


def test_a_segment_cut_by_the_snap_length_is_a_gap(tmp_path: Path) -> None:
    frame = c(0, b"0123456789")
    records, lossy = read(tmp_path, [*handshake(), frame[:-4], c(10, b"next")])
    assert chunks(records) == [b"012345"]
    assert lossy is not None and "snap length" in lossy and "offset 6" in lossy


def test_a_reused_four_tuple_gives_a_new_connection(tmp_path: Path) -> None:
    first = [*handshake(), c(0, b"one"), c(3, b"", FIN | ACK), s(0, b"", FIN | ACK, ack=4),
             c(4, b"", ACK, ack=1)]
    second = [
        *handshake(c_isn=90000, s_isn=70000),
        tcp_frame(CLIENT, SERVER, 90001, 70001, ACK, b"two"),
    ]
    records, lossy = read(tmp_path, [*first, *second])
    assert lossy is None
    assert [r.conn for r in records if isinstance(r, Open)] == [1, 2]
    assert streams(records) == {(1, "c2s"): b"one", (2, "c2s"): b"two"}


def test_a_retransmitted_syn_is_not_a_new_connection(tmp_path: Path) -> None:
    frames = [tcp_frame(CLIENT, SERVER, C_ISN, 0, SYN), *handshake(), c(0, b"x")]
    records, _ = read(tmp_path, frames)
    assert sum(isinstance(r, Open) for r in records) == 1


def test_without_a_handshake_the_lower_port_is_the_server(tmp_path: Path) -> None:
    # the capture starts mid-connection, with the server's reply
    records, lossy = read(tmp_path, [s(0, b"HTTP/1.1 200 OK\r\n"), c(0, b"GET /next HTTP/1.1\r\n")])
    assert records[0] == Open(1, 0.0, "10.0.0.1:40000", "10.0.0.2:80")
    assert chunks(records, "s2c") == [b"HTTP/1.1 200 OK\r\n"]
    assert chunks(records) == [b"GET /next HTTP/1.1\r\n"]
    assert lossy is not None and "no SYN seen" in lossy


def test_a_syn_ack_alone_names_the_client(tmp_path: Path) -> None:
    records, _ = read(tmp_path, [
        tcp_frame(SERVER, CLIENT, S_ISN, C_ISN + 1, SYN | ACK), c(0, b"hi"), s(0, b"yo", ack=2)])
    assert records[0] == Open(1, 0.0, "10.0.0.1:40000", "10.0.0.2:80")
    assert streams(records) == {(1, "c2s"): b"hi", (1, "s2c"): b"yo"}


def test_bytes_on_a_syn_are_stream_data() -> None:
    r = Reassembler()
    out = r.feed(Segment(0.0, CLIENT, SERVER, C_ISN, 0, SYN, b"early"))
    assert out[1:] == [Chunk(1, "c2s", b"early", 0.0)]


def test_buffering_is_bounded_behind_a_hole() -> None:
    r = Reassembler(max_buffered=100)
    r.feed(Segment(0.0, CLIENT, SERVER, C_ISN, 0, SYN))
    for i in range(1, 5):
        r.feed(Segment(0.1 * i, CLIENT, SERVER, C_ISN + 1 + 10 + 50 * i, 0, ACK, b"x" * 50))
    assert any("more than 100 bytes" in note for note in r.notes)
    assert r.feed(Segment(1.0, CLIENT, SERVER, C_ISN + 1, 0, ACK, b"y" * 10)) == []


def test_losses_are_noted_as_they_are_found(tmp_path: Path) -> None:
    transcript = read_pcap(write_pcap(tmp_path / "t.pcap", [
        *handshake(), c(0, b"abc"), s(0, b"", ACK, ack=9), s(0, b"ok"), c(9, b"xyz")]), segments=True)
    notes = transcript.notes
    assert notes == [] and transcript.meta.lossy is None  # nothing is read before the records
    seen = []
    for record in transcript:
        seen.append((record, list(notes)))
    # the gap (the server acknowledged 6 unseen bytes) is noted before the server's next chunk
    before_ok = next(found for record, found in seen if isinstance(record, Chunk) and record.data == b"ok")
    assert len(before_ok) == 1 and "acknowledged" in before_ok[0] and "offset 3" in before_ok[0]
    assert [found for record, found in seen if isinstance(record, Chunk) and record.data == b"abc"] == [[]]
    assert transcript.meta.lossy == before_ok[0]  # joined once the records were read


def test_holes_open_at_the_end_are_noted_when_the_capture_ends(tmp_path: Path) -> None:
    transcript = read_pcap(write_pcap(tmp_path / "t.pcap", [*handshake(), c(0, b"abc"), c(6, b"ghi")]), segments=True)
    records = iter(transcript)
    assert [r for r in records if isinstance(r, Chunk)] and transcript.notes
    assert "offset 3 (3 bytes)" in transcript.notes[0]


def test_complete_meta_finds_the_gaps_before_the_first_record(tmp_path: Path) -> None:
    transcript = read_pcap(write_pcap(tmp_path / "t.pcap", [*handshake(), c(0, b"abc"), c(6, b"ghi")]), segments=True)
    transcript.complete_meta()
    assert transcript.meta.lossy is not None and "offset 3" in transcript.meta.lossy
    lossy = transcript.meta.lossy
    first = next(iter(transcript))
    assert isinstance(first, Open) and transcript.meta.lossy == lossy  # still known at the first record
    assert chunks(list(transcript)) == [b"abc"]
    assert transcript.meta.lossy == lossy == "; ".join(transcript.notes)  # iterating again finds the same gap


def test_a_capture_without_losses_has_no_notes(tmp_path: Path) -> None:
    frames = [*handshake(), c(0, b"abc"), s(0, b"def", ack=3)]
    transcript = read_pcap(write_pcap(tmp_path / "t.pcap", frames), segments=True)
    transcript.complete_meta()
    assert transcript.meta.lossy is None and transcript.notes == []
    assert streams(transcript) == {(1, "c2s"): b"abc", (1, "s2c"): b"def"}


def _vlan_tagged(frame: bytes) -> bytes:
    return frame[:12] + b"\x81\x00\x00\x07" + frame[12:]


def _with_ip_options(frame: bytes) -> bytes:
    ip = frame[14:]
    total = int.from_bytes(ip[2:4], "big") + 4
    return frame[:14] + b"\x46" + ip[1:2] + total.to_bytes(2, "big") + ip[4:20] + b"\x01\x01\x01\x00" + ip[20:]


def test_frames_off_the_fast_path_give_the_same_records(tmp_path: Path) -> None:
    # Plain IPv4 segments of a known connection skip Reassembler.feed; VLAN-tagged frames and IP
    # options take the general way.  Mixing both ways on one connection changes nothing.
    frames = list(handshake())
    for i in range(40):
        frames.append(c(i * 10, b"%010d" % i, ack=max(0, i - 1) * 7))
        if i % 4 == 3:
            frames.append(s(i * 7, b"", ack=(i + 1) * 10))  # a bare ACK
        frames.append(s(i * 7, b"r%06d" % i, ack=(i + 1) * 10))
    frames[60:62] = frames[61:59:-1]  # out of order
    frames.insert(90, frames[85])  # a retransmission
    frames.append(s(280, b"", ACK, ack=408))  # acknowledges 8 bytes nobody sent: a gap
    mixed = [_vlan_tagged(f) if i % 3 == 0 else _with_ip_options(f) if i % 5 == 0 else f
             for i, f in enumerate(frames)]
    plain_pcap, mixed_pcap = write_pcap(tmp_path / "plain.pcap", frames), write_pcap(tmp_path / "mixed.pcap", mixed)
    assert list(read_pcap(plain_pcap)) == list(read_pcap(mixed_pcap))  # joined into writes
    plain = read_pcap(plain_pcap, segments=True)
    other = read_pcap(mixed_pcap, segments=True)
    records = list(plain)
    assert records == list(other) and plain.notes == other.notes
    assert streams(records)[(1, "c2s")] == b"".join(b"%010d" % i for i in range(40))
    assert len(chunks(records)) == 40 and len(plain.notes) == 1 and "offset 400" in plain.notes[0]
