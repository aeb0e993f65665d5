"""pcap and pcapng captures (tcpdump, tshark, Wireshark) as transcripts.

dpkt reads the pcapng format (blocks, options, interfaces).  A classic pcap file is a 24-byte
header and then 16 bytes before every packet: this module reads those itself, from large blocks of
the file (so that replaying a pcap never pays for importing dpkt, nor for two reads per packet).
It peels the link and IP headers itself too (so a packet the snap length cut short is noticed, not
silently parsed) and hands TCP segments to our reassembler (:mod:`.tcp`).  Packets are streamed:
the file is never held in memory.

Link types: Ethernet (1, with 802.1Q/802.1ad tags), BSD loopback NULL (0) and LOOP (108), raw IP
(101, 228 IPv4, 229 IPv6), Linux cooked SLL (113) and SLL2 (276).  IPv4 and IPv6 (extension
headers skipped).  IP fragments are not reassembled: they are skipped and the bytes they carried
become a gap.  pcapng files use the link type of their first interface for every packet (dpkt's
reader does the same).
"""

from __future__ import annotations

import os
import struct
from _socket import AF_INET, AF_INET6, inet_ntop  # socket's C core: the package adds start-up, nothing used
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, cast

from h11dbg.transcript.escaping import escape
from h11dbg.transcript.formats import STDIN_NAME, TranscriptError
from h11dbg.transcript.importers.tcp import PSH, Endpoint, Reassembler, Segment, Writes
from h11dbg.transcript.model import MAX_TIME, Chunk, Meta, Record, Transcript, absurd_time, absurd_time_message

if TYPE_CHECKING:
    import io
    from decimal import Decimal
    from typing import Protocol

    class _PcapngReader(Protocol):
        """What is used of dpkt's pcapng reader (dpkt has no types)."""

        def datalink(self) -> int: ...
        def __iter__(self) -> Iterator[tuple[float | Decimal, bytes]]: ...  # (time stamp, frame)

PCAP_MAGICS = (b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1")
_LITTLE_ENDIAN_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")  # written by a little-endian host
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"

LINKTYPES = {
    0: "BSD loopback (NULL)",
    1: "Ethernet",
    101: "raw IP",
    108: "OpenBSD loopback (LOOP)",
    113: "Linux cooked (SLL)",
    228: "raw IPv4",
    229: "raw IPv6",
    276: "Linux cooked v2 (SLL2)",
}

_ETH_IPV4, _ETH_IPV6 = 0x0800, 0x86DD
_VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
_AF_INET6 = (10, 24, 28, 30)  # Linux, NetBSD/OpenBSD, FreeBSD, macOS
_IPV6_EXTENSIONS = (0, 43, 60)  # hop-by-hop, routing, destination options


def sniff_pcap(head: bytes) -> bool:
    return head[:4] in PCAP_MAGICS


def sniff_pcapng(head: bytes) -> bool:
    return head[:4] == PCAPNG_MAGIC


class _Tracked:
    """A file wrapper that knows its offset and turns short reads into located errors.

    dpkt reads a record header, then its body; a read that returns some but not all of what was
    asked for, or nothing when a body was expected, means the file was cut.
    """

    def __init__(self, f: IO[bytes], path: Path, size: int | None, first_record_reads: int) -> None:
        self.f = f
        self.path = path
        self.size = size  # None: a stream (standard input), whose end shows only when it comes
        self.offset = 0
        self.record_start = 0
        self._reads = 0
        self._first = first_record_reads  # reads that make up the file header
        self.pcapng = first_record_reads == 0
        self._order: Literal["little", "big"] = "little"
        self._interface_next = False
        self.linktype: int | None = None
        self.magic = b""  # a pcap file's first four bytes (byte order, micro- or nanoseconds)

    @property
    def name(self) -> str:
        return str(self.path)

    def read(self, n: int = -1) -> bytes:
        at_record_start = self._reads >= self._first and (self._reads - self._first) % 2 == 0
        self._reads += 1
        if at_record_start:
            self.record_start = self.offset
        if n is None or n < 0:
            raise TranscriptError(self.path, "corrupt block length (smaller than its header)",
                                  offset=self.record_start)
        if self.size is not None and n > self.size - self.offset:
            if at_record_start and self.offset == self.size:
                return b""
            raise _cut(self.path, n, self.size - self.offset, self.offset)
        data = self.f.read(n)
        if len(data) < n:  # a stream that ended (a file's size was checked above)
            if at_record_start and not data:
                return b""
            raise _cut(self.path, n, len(data), self.offset)
        self.offset += len(data)
        if self.pcapng:
            self._watch_interfaces(data, at_record_start)
        return data

    def _watch_interfaces(self, data: bytes, at_record_start: bool) -> None:
        # dpkt decodes every packet with the first interface's link type; refuse, rather than
        # misread, a file whose interfaces differ (tshark/dumpcap with several -i options)
        if at_record_start:
            if data[:4] == PCAPNG_MAGIC and len(data) >= 12:
                self._order = "little" if data[8:12] == b"\x4d\x3c\x2b\x1a" else "big"
            self._interface_next = len(data) >= 4 and int.from_bytes(data[:4], self._order) == 1
            return
        if self._interface_next and len(data) >= 2:
            linktype = int.from_bytes(data[:2], self._order)
            if self.linktype is None:
                self.linktype = linktype
            elif linktype != self.linktype:
                raise TranscriptError(
                    self.path,
                    f"interfaces with different link types ({self.linktype} and {linktype}) are not "
                    "supported: capture one interface, or split the file (editcap, tshark -Y)",
                    offset=self.record_start,
                )
        self._interface_next = False


def _dpkt() -> Any:
    # Imported on first use: every replay loads the importers to recognise its file, and dpkt
    # takes longer to import than replaying a small transcript.
    import dpkt  # type: ignore[import-untyped]

    return dpkt


class _PcapHeader:
    """A classic pcap file's header, read without dpkt (it is 24 bytes; see :meth:`_PcapRecords._pcap`)."""

    def __init__(self, tracked: _Tracked) -> None:
        data = tracked.read(24)  # a file shorter than this: a located "ends inside a record" error
        order = "<" if tracked.magic in _LITTLE_ENDIAN_MAGICS else ">"
        # magic, version, time zone, accuracy, snap length, link type; only the last matters here
        self.linktype: int = struct.unpack(order + "IHHiIII", data)[6]

    def datalink(self) -> int:
        return self.linktype


def _open_reader(path: Path, f: IO[bytes], *, stream: bool = False
                 ) -> tuple[_PcapHeader | _PcapngReader, str, _Tracked]:
    """The file's header read: (its reader, "pcap" or "pcapng", the tracked file).

    For pcap the reader only holds the header (the records are read by :meth:`_PcapRecords._pcap`);
    for pcapng it is dpkt's reader.  A ``stream`` (standard input, an ``io.BufferedReader``) is
    read forward only: its size is unknown and it is never seeked.
    """
    size: int | None
    if stream:
        size = None
        head = cast("io.BufferedReader", f).peek(4)[:4]
    else:
        size = os.fstat(f.fileno()).st_size
        head = f.read(4)
        f.seek(0)
    if head in PCAP_MAGICS:
        tracked = _Tracked(f, path, size, first_record_reads=1)
        tracked.magic = head
        reader: _PcapHeader | _PcapngReader = _PcapHeader(tracked)
        kind = "pcap"
    elif head == PCAPNG_MAGIC:
        dpkt = _dpkt()
        # the section header is read as header + body, then blocks pair up the same way
        tracked = _Tracked(f, path, size, first_record_reads=0)
        kind = "pcapng"
        try:
            reader = dpkt.pcapng.Reader(tracked)
        except TranscriptError:
            raise
        except (dpkt.UnpackError, ValueError, struct.error) as exc:
            raise TranscriptError(path, f"unreadable {kind} header: {exc}", offset=tracked.record_start) from None
    else:
        raise TranscriptError(path, f"not a pcap or pcapng file (starts with {escape(head)})", offset=0)
    linktype = reader.datalink()
    if linktype not in LINKTYPES:
        raise TranscriptError(
            path,
            f"unsupported link type {linktype} (supported: "
            + ", ".join(f"{k} {v}" for k, v in sorted(LINKTYPES.items())) + ")",
            offset=20 if kind == "pcap" else tracked.record_start,
        )
    return reader, kind, tracked


def _ip_payload(linktype: int, frame: bytes) -> bytes | None:
    """The IP packet inside a frame, or None when it carries something else."""
    if linktype == 1:
        if len(frame) < 14:
            return None
        pos, ethertype = 14, int.from_bytes(frame[12:14], "big")
        while ethertype in _VLAN_TAGS and len(frame) >= pos + 4:
            ethertype = int.from_bytes(frame[pos + 2:pos + 4], "big")
            pos += 4
        return frame[pos:] if ethertype in (_ETH_IPV4, _ETH_IPV6) else None
    if linktype == 113:
        ok = len(frame) >= 16 and int.from_bytes(frame[14:16], "big") in (_ETH_IPV4, _ETH_IPV6)
        return frame[16:] if ok else None
    if linktype == 276:
        ok = len(frame) >= 20 and int.from_bytes(frame[0:2], "big") in (_ETH_IPV4, _ETH_IPV6)
        return frame[20:] if ok else None
    if linktype in (0, 108):
        if len(frame) < 4:
            return None
        # NULL stores the family in the capturing host's byte order; LOOP in network order
        families = {int.from_bytes(frame[:4], "big"), int.from_bytes(frame[:4], "little")}
        return frame[4:] if families & {2, *_AF_INET6} else None
    return frame  # raw IP (101, 228, 229)


_IPV4_HEADER = struct.Struct("!BxHxxHxBxx4s4s")  # version/ihl, total length, flags/offset, protocol, addresses
_TCP_HEADER = struct.Struct("!HHIIBB")  # ports, seq, ack, data offset, flags
_ADDRESS_TEXT: dict[bytes, str] = {}  # a capture holds few hosts and many packets


def _address(family: int, raw: bytes) -> str:
    text = _ADDRESS_TEXT.get(raw)
    if text is None:
        text = inet_ntop(family, raw)
        if len(_ADDRESS_TEXT) >= 4096:
            _ADDRESS_TEXT.clear()
        _ADDRESS_TEXT[raw] = text
    return text


def _segment(ip: bytes, time: float) -> tuple[Segment | None, str | None]:
    """Parse IPv4/IPv6 + TCP; returns (segment, None) or (None, why it was skipped or None)."""
    if not ip:
        return None, None
    version = ip[0] >> 4
    if version == 4:
        if len(ip) < 20:
            return None, "an IPv4 header was cut short by the capture"
        first, total, fragment, protocol, src_raw, dst_raw = _IPV4_HEADER.unpack_from(ip)
        ihl = (first & 0x0F) * 4
        total = total or len(ip)  # 0: segmentation offload, trust the capture
        if protocol != 6:
            return None, None
        if fragment & 0x3FFF:
            return None, "IPv4 fragments are not reassembled"
        # the 4- and 16-byte keys cannot collide, so one cache serves both families
        src = _address(AF_INET, src_raw)
        dst = _address(AF_INET, dst_raw)
        body, promised = ip[ihl:total], total - ihl
    elif version == 6:
        if len(ip) < 40:
            return None, "an IPv6 header was cut short by the capture"
        payload_length = int.from_bytes(ip[4:6], "big") or (len(ip) - 40)
        next_header, pos = ip[6], 40
        end = 40 + payload_length
        while next_header in (*_IPV6_EXTENSIONS, 44, 51):
            if len(ip) < pos + 8:
                return None, "an IPv6 extension header was cut short by the capture"
            if next_header == 44:
                return None, "IPv6 fragments are not reassembled"
            size = (ip[pos + 1] + 2) * 4 if next_header == 51 else (ip[pos + 1] + 1) * 8
            next_header, pos = ip[pos], pos + size
        if next_header != 6:
            return None, None
        src = _address(AF_INET6, ip[8:24])
        dst = _address(AF_INET6, ip[24:40])
        body, promised = ip[pos:end], end - pos
    else:
        return None, None
    if len(body) < 20 or len(body) < (body[12] >> 4) * 4:
        return None, "a TCP header was cut short by the capture"
    sport, dport, seq, ack, data_offset, flags = _TCP_HEADER.unpack_from(body)
    source: Endpoint = (src, sport)
    destination: Endpoint = (dst, dport)
    missing = promised - len(body)
    return Segment(time, source, destination, seq, ack, flags, body[(data_offset >> 4) * 4:],
                   missing if missing > 0 else 0), None


_NANO_MAGICS = (b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1")
_BLOCK = 1 << 16  # large enough to amortise reads, small enough to keep memory flat

# The fast path's view of a frame: the link header's protocol field (b"" for raw IP), then an
# IPv4 header without options or a fixed IPv6 header, then TCP up to its flags.  Addresses and
# ports come out as one bytes object: together they name the 4-tuple and direction.
_LINKS: dict[int, tuple[str, int, frozenset[bytes]]] = {
    # link type: (struct format up to the IP header, IP offset, IPv4 and IPv6 protocol values)
    1: ("12x2s", 14, frozenset({b"\x08\x00", b"\x86\xdd"})),
    113: ("14x2s", 16, frozenset({b"\x08\x00", b"\x86\xdd"})),
    276: ("2s18x", 20, frozenset({b"\x08\x00", b"\x86\xdd"})),
    0: ("4s", 4, frozenset(n.to_bytes(4, order) for n in (2, *_AF_INET6) for order in ("big", "little"))),
    108: ("4s", 4, frozenset(n.to_bytes(4, order) for n in (2, *_AF_INET6) for order in ("big", "little"))),
    101: ("0s", 0, frozenset({b""})),
    228: ("0s", 0, frozenset({b""})),
    229: ("0s", 0, frozenset({b""})),
}
_FAST_IPV4 = "BxHxxHxB2x12sIIBB"  # version/ihl, total length, flags/offset, protocol, 4-tuple, TCP
_FAST_IPV6 = "B3xHBx36sIIBB"  # version, payload length, next header, 4-tuple, TCP
_SKIP = object()  # a flow the port filter drops


def _cut(path: Path, needed: int, left: int, offset: int) -> TranscriptError:
    return TranscriptError(
        path, f"the file ends inside a record: {needed} bytes needed, {left} left (truncated capture?)",
        offset=offset)


def _absurd(path: Path, elapsed: float, offset: int) -> TranscriptError:
    shown = f"{elapsed:.0f} s after the first packet"
    return TranscriptError(path, "corrupt time stamp: " + absurd_time_message(shown), offset=offset)


class _PcapRecords:
    """Re-iterable: each iteration streams the file again and refills ``notes`` as it goes."""

    def __init__(self, path: Path, port: int | None, meta: Meta, notes: list[str], segments: bool,
                 opened: tuple[_PcapHeader | _PcapngReader, str, _Tracked] | None = None) -> None:
        self.path = path
        self.opened = opened  # a stream's reader, its header read: it can be iterated once
        self.port = port
        self.meta = meta
        self.notes = notes
        self.segments = segments  # one chunk per segment, rather than the senders' writes
        self.segment: Segment | None = None  # the last segment _slow parsed

    def _dated(self, first: float) -> None:
        """The capture's first packet dates the recording (its records' times count from it): a
        writer that reads ``Meta.recorded_at`` once the records are read (HAR's dates) has it."""
        if self.meta.recorded_at is None:
            import datetime

            try:
                moment = datetime.datetime.fromtimestamp(first, datetime.timezone.utc)
            except (ValueError, OverflowError, OSError):  # a damaged time stamp dates nothing
                return
            self.meta.recorded_at = moment.isoformat()

    def __iter__(self) -> Iterator[Record]:
        notes = self.notes
        notes.clear()
        reassembler = Reassembler(server_port=self.port)
        reassembler.notes = notes
        writes = None if self.segments else Writes()
        if self.opened is not None:
            reader, kind, tracked = self.opened
            self.opened = None
            yield from self._packets(reader, tracked, reassembler, writes)
        elif self.path.name == STDIN_NAME:
            raise TranscriptError(self.path, "standard input can be read only once")
        else:
            with open(self.path, "rb") as f:
                reader, kind, tracked = _open_reader(self.path, f)
                yield from self._packets(reader, tracked, reassembler, writes)
        yield from reassembler.finish()
        if writes is not None:
            yield from writes.finish()
        self.meta.lossy = "; ".join(notes) or None

    def _packets(self, reader: _PcapHeader | _PcapngReader, tracked: _Tracked, reassembler: Reassembler,
                 writes: Writes | None) -> Iterator[Record]:
        if isinstance(reader, _PcapHeader):  # kind == "pcap", in a way the type checker follows
            yield from self._pcap(tracked, reader.datalink(), reassembler, writes)
        else:
            yield from self._pcapng(reader, tracked, reassembler, writes)

    def _slow(self, linktype: int, reassembler: Reassembler, skipped: set[str], frame: bytes,
              time: float, at: int, writes: Writes | None) -> Iterator[Record]:
        """The general way: any frame, through ``Reassembler.feed``; ``at`` is its record's offset.

        A generator (the segment, or None, is left in ``self.segment``), so that the writes a loss
        note must follow can be passed on before the note shows.
        """
        self.segment = None
        ip = _ip_payload(linktype, frame)
        if ip is None:
            return
        segment, why = _segment(ip, time)
        if segment is None:
            if why and why not in skipped:
                skipped.add(why)
                self.notes.append(f"packets skipped ({why}; first at byte {at})")
            return
        if self.port is not None and self.port not in (segment.src[1], segment.dst[1]):
            return
        self.segment = segment
        if writes is None:
            yield from reassembler.feed(segment)
            return
        conn = reassembler.connection_id(segment) if writes.runs else None
        notes = self.notes
        noted = len(notes)
        records = reassembler.feed(segment)
        if conn is not None and len(notes) > noted:
            # A loss this segment revealed (a gap) comes after the writes before it: hold the new
            # notes back until those are passed on (the reader looks at the notes between records).
            held = notes[noted:]
            del notes[noted:]
            yield from writes.flush(conn)
            notes += held
        for record in records:
            if type(record) is Chunk:
                # the segment's own bytes, in order: its PSH counts; bytes released after a hole
                # (not this segment's alone) end the write
                own = len(records) == 1 and record.data is segment.payload
                yield from writes.chunk(record, segment.flags & PSH if own else True)
            else:
                yield from writes.flush(record.conn)
                yield record

    def _pcapng(self, reader: _PcapngReader, tracked: _Tracked, reassembler: Reassembler,
                writes: Writes | None) -> Iterator[Record]:
        dpkt = _dpkt()
        linktype = reader.datalink()
        first: float | None = None
        skipped: set[str] = set()
        packets = iter(reader)
        while True:
            try:
                stamp, frame = next(packets)
            except StopIteration:
                break
            except TranscriptError:
                raise
            except (dpkt.UnpackError, ValueError, struct.error) as exc:
                raise TranscriptError(self.path, f"corrupt record: {exc}", offset=tracked.record_start) from None
            t = stamp if type(stamp) is float else float(stamp)  # dpkt gives a Decimal for some resolutions
            if first is None:
                first = t
                self._dated(t)
            t -= first
            if absurd_time(t):
                raise _absurd(self.path, t, tracked.record_start)
            yield from self._slow(linktype, reassembler, skipped, frame, t, tracked.record_start, writes)

    def _pcap(self, tracked: _Tracked, linktype: int, reassembler: Reassembler,
              writes: Writes | None) -> Iterator[Record]:
        """The records of a pcap file whose header dpkt has read.

        One loop reads the records (from large blocks of the file rather than two reads per
        packet, as dpkt's reader would), decodes the usual link, IP and TCP headers with one
        struct, and hands plain segments of known flows to their :class:`Flow`; every other
        frame takes the general way (:meth:`_slow`).  A cut file gives the error, at the offset,
        that reading it through ``tracked`` would.
        """
        path, size, read, port = self.path, tracked.size, tracked.f.read, self.port
        read_block = read if size is not None else _block_reader(cast("io.BufferedReader", tracked.f))
        record_header = struct.Struct("<IIII" if tracked.magic in _LITTLE_ENDIAN_MAGICS else ">IIII").unpack_from
        nano = tracked.magic in _NANO_MAGICS
        if nano:  # nanoseconds: summed exactly, then rounded once (as a float has too few digits)
            from decimal import Decimal

            billion = Decimal(1_000_000_000)
        link_format, ip_at, ip_protocols = _LINKS[linktype]
        v4 = struct.Struct("!" + link_format + _FAST_IPV4)
        v6 = struct.Struct("!" + link_format + _FAST_IPV6)
        unpack_v4, v4_size, unpack_v6, v6_size = v4.unpack_from, v4.size, v6.unpack_from, v6.size
        flows: dict[bytes, Any] = {}  # 4-tuple and direction as raw bytes -> its Flow, or _SKIP
        skipped: set[str] = set()
        first: float | None = None
        buf = b""
        pos = end = 0
        base = tracked.offset  # file offset of buf[0]
        while True:
            if end - pos < 16:
                # A new block starts at a record (reading the next one whole), or a record that
                # straddles two blocks is put together from the bytes it needs (reading only those):
                # either way no block is copied into another.
                offset = base + pos
                buf = read_block(_BLOCK) if pos == end else buf[pos:] + read(16 - (end - pos))
                base, pos, end = offset, 0, len(buf)
                if end < 16:
                    if not end:  # the end of the file, between two records
                        return
                    raise _cut(path, 16, end, offset)
            seconds, fraction, caplen, _ = record_header(buf, pos)
            at = pos  # where the record starts, in buf
            pos += 16
            if end - pos < caplen:
                offset = base + pos
                if size is None:
                    if caplen > _MAX_STREAMED_RECORD:
                        raise TranscriptError(path, f"corrupt record: {caplen} bytes captured", offset=offset - 16)
                elif caplen > size - offset:
                    raise _cut(path, caplen, size - offset, offset)
                buf = buf[pos:] + read(caplen - (end - pos))
                base, at, pos, end = offset, -16, 0, len(buf)
                if end < caplen:  # a stream that ended
                    raise _cut(path, caplen, end, offset)
            start = pos
            pos += caplen
            t = float(seconds + fraction / billion) if nano else seconds + fraction / 1e6
            if first is None:
                first = t
                self._dated(t)
            t -= first
            if not -MAX_TIME < t < MAX_TIME:  # absurd_time, inline: this runs once per packet
                raise _absurd(path, t, base + at)

            # The fast path: an IPv4 (no options) or IPv6 (no extension headers) TCP segment,
            # complete in the capture; ``key`` stays None for anything else.
            key = None
            if caplen >= v4_size:
                link, version, total, fragment, protocol, key, seq, ack, data_offset, flags = unpack_v4(buf, start)
                if version == 0x45:
                    hl = (data_offset >> 4) * 4
                    if (protocol != 6 or link not in ip_protocols or fragment & 0x3FFF or hl < 20
                            or not 20 + hl <= total <= caplen - ip_at):
                        key = None
                    else:
                        payload_start, payload_end = start + ip_at + 20 + hl, start + ip_at + total
                elif version >> 4 == 6 and caplen >= v6_size:
                    link, _, length, protocol, key, seq, ack, data_offset, flags = unpack_v6(buf, start)
                    hl = (data_offset >> 4) * 4
                    if protocol != 6 or link not in ip_protocols or hl < 20 or not hl <= length <= caplen - ip_at - 40:
                        key = None
                    else:
                        payload_start, payload_end = start + ip_at + 40 + hl, start + ip_at + 40 + length
                else:
                    key = None
            if key is not None:
                flow = flows.get(key)
                if flow is _SKIP:
                    continue
                if flow is None:
                    if port is not None and port not in (int.from_bytes(key[-4:-2], "big"),
                                                         int.from_bytes(key[-2:], "big")):
                        _remember(flows, key, _SKIP)
                        continue
                # ACK, and no SYN, FIN or RST: the plain case when the flow says so
                elif flags & 0x17 == 0x10 and flow.take(seq, ack, payload_end - payload_start):
                    if payload_end > payload_start:
                        payload = buf[payload_start:payload_end]
                        if writes is None:
                            yield Chunk(flow.conn, flow.direction, payload, t)
                        else:
                            joined = writes.add(flow.conn, flow.direction, payload, t, flags & PSH)
                            if joined:
                                yield from joined
                    continue

            yield from self._slow(linktype, reassembler, skipped, buf[start:pos], t, base + at, writes)
            segment = self.segment
            if key is not None and segment is not None:
                flow = reassembler.flow(segment)
                if flow is None:
                    flows.pop(key, None)
                else:
                    _remember(flows, key, flow)


#: A streamed record claiming more than this is corrupt (a file's is checked against the file's size).
_MAX_STREAMED_RECORD = 1 << 24


def _block_reader(stream: io.BufferedReader) -> Callable[[int], bytes]:
    """``read`` for a stream's blocks: what has arrived (a live capture's packets are replayed as they
    come, not once 64 KiB have), but always a whole record header (16 bytes) unless the stream ends."""
    read1, read = stream.read1, stream.read

    def read_block(size: int) -> bytes:
        data = read1(size)
        if 0 < len(data) < 16:
            data += read(16 - len(data))
        return data

    return read_block


def _remember(flows: dict[bytes, Any], key: bytes, flow: Any) -> None:
    if len(flows) >= _MAX_FLOWS:
        flows.clear()  # only a cache: a capture of many connections keeps memory flat
    flows[key] = flow


_MAX_FLOWS = 4096


def read_pcap(path: str | Path, port: int | None = None, *, segments: bool = False,
              stream: io.BufferedReader | None = None) -> Transcript:
    """A capture as a transcript; ``port`` keeps only TCP connections with that port on one side.

    Chunks are the senders' writes, joined from their segments (see :class:`.tcp.Writes`);
    ``segments`` keeps one chunk per TCP segment instead.

    The file header is read now; the packets are streamed, once per iteration of the records.
    Losses are found as the packets are reassembled: they are appended to the transcript's live
    ``notes`` as found (see :class:`~h11dbg.transcript.model.Transcript`), and ``Meta.lossy``
    joins them once the records have been read; ``Transcript.complete_meta`` reads the capture
    once more beforehand for a reader that needs ``Meta.lossy`` first.  Unreadable input raises
    :class:`~h11dbg.transcript.formats.TranscriptError` with the byte offset, here for the file
    header and while iterating for the packets.

    ``stream`` (standard input; ``path`` then only names it) is read forward once, as it arrives.
    """
    path = Path(path)
    opened = None
    try:
        if stream is not None:
            opened = reader, kind, _tracked = _open_reader(path, stream, stream=True)
        else:
            with open(path, "rb") as f:
                reader, kind, _tracked = _open_reader(path, f)
        linktype = reader.datalink()
    except OSError as exc:
        raise TranscriptError(path, f"cannot read: {exc.strerror or exc}") from None
    extra = {"linktype": f"{linktype} ({LINKTYPES[linktype]})"}
    if port is not None:
        extra["port"] = str(port)
    meta = Meta(tool=None, description=f"imported from {path.name}", source_format=kind, extra=extra)
    notes: list[str] = []
    if segments:
        extra["chunks"] = "one per TCP segment"
    return Transcript(meta, _PcapRecords(path, port, meta, notes, segments, opened), notes)
