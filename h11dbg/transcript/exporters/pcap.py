"""Transcripts as pcap and pcapng captures: Ethernet/IP/TCP frames that Wireshark and tshark read.

The repository's one packet synthesiser (bench and the importer tests use it too).  Each connection
becomes a real-looking TCP conversation: a three-way handshake at its ``open``, every chunk as one
or more segments of at most :data:`MSS` bytes (PSH on a chunk's last one, so that a reader that
rebuilds the senders' writes from PSH, as ours does, gets the chunks back), correct sequence and
acknowledgement numbers, an ACK for every two segments, FIN or RST at its ``close``/``reset``.
Frames are built with dpkt (a dependency), which also fills in the IP and TCP checksums.

What is lost (``h11dbg.transcript.formats.OUTPUTS`` says it to the user): the transcript's metadata
(pcapng keeps it in its section comment) and connection numbers; addresses that are not ``IP:PORT``
are replaced (see :attr:`PcapWriter.notes`); times are kept to the microsecond; the handshakes, ACKs
and sequence numbers are made up.
"""

from __future__ import annotations

import calendar
import ipaddress
import random
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any

from h11dbg.transcript.model import Chunk, Direction, Meta, Open, Record, Transcript, other_direction

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
MSS = 1460

Endpoint = tuple[str, int]  # IPv4 or IPv6 address, port


def _dpkt() -> Any:
    import dpkt  # type: ignore[import-untyped]  # (imported on use: replay never needs it)

    return dpkt


def _mac(address: bytes) -> bytes:
    """A locally administered MAC address per IP address, so each host keeps one."""
    return b"\x02\x00" + address[-4:]


def tcp_frame(src: Endpoint, dst: Endpoint, seq: int, ack: int, flags: int, data: bytes = b"",
              ip_id: int = 0) -> bytes:
    """One Ethernet frame carrying one TCP segment from ``src`` to ``dst`` (sequence numbers wrap)."""
    dpkt = _dpkt()
    tcp = dpkt.tcp.TCP(sport=src[1], dport=dst[1], seq=seq % 2**32, ack=ack % 2**32, flags=flags, win=65535,
                       data=data)
    if ":" in src[0]:
        src_ip, dst_ip = socket.inet_pton(socket.AF_INET6, src[0]), socket.inet_pton(socket.AF_INET6, dst[0])
        ip = dpkt.ip6.IP6(src=src_ip, dst=dst_ip, nxt=dpkt.ip.IP_PROTO_TCP, hlim=64, plen=len(tcp), data=tcp)
        ethertype = dpkt.ethernet.ETH_TYPE_IP6
    else:
        src_ip, dst_ip = socket.inet_aton(src[0]), socket.inet_aton(dst[0])
        ip = dpkt.ip.IP(src=src_ip, dst=dst_ip, p=dpkt.ip.IP_PROTO_TCP, ttl=64, df=1, id=ip_id & 0xFFFF, data=tcp)
        ethertype = dpkt.ethernet.ETH_TYPE_IP
    return bytes(dpkt.ethernet.Ethernet(src=_mac(src_ip), dst=_mac(dst_ip), type=ethertype, data=ip))


def pcap_writer(stream: IO[bytes], linktype: int = 1) -> Any:
    """dpkt's classic pcap writer (microsecond time stamps), its header written."""
    return _dpkt().pcap.Writer(stream, snaplen=65535, linktype=linktype)


def pcapng_writer(stream: IO[bytes], comment: str | None = None) -> Any:
    """dpkt's pcapng writer: one Ethernet interface (microsecond time stamps), ``comment`` on the section."""
    dpkt = _dpkt()
    shb = None
    if comment:
        option = dpkt.pcapng.PcapngOptionLE(code=dpkt.pcapng.PCAPNG_OPT_COMMENT, text=comment)
        end = dpkt.pcapng.PcapngOptionLE(code=dpkt.pcapng.PCAPNG_OPT_ENDOFOPT)
        shb = dpkt.pcapng.SectionHeaderBlockLE(opts=[option, end])
    return dpkt.pcapng.Writer(stream, snaplen=65535, linktype=1, shb=shb)


@dataclass
class _Flow:
    client: Endpoint
    server: Endpoint
    seq: dict[Direction, int]  # the next sequence number each direction sends
    unacked: dict[Direction, int]  # segments sent since the peer last acknowledged
    fins: int = 0


class PcapWriter:
    """Turns transcript records into packets, one record at a time (see the module's docstring).

    ``kind`` is "pcap" or "pcapng"; ``start`` the capture's clock at the transcript's time 0 (seconds
    since the epoch); ``seed`` makes the initial sequence numbers (the same input, the same file).
    :attr:`notes` says what had to be made up (an address that is not ``IP:PORT``, a connection
    without an ``open``).
    """

    def __init__(self, stream: IO[bytes], kind: str = "pcap", *, start: float = 0.0, seed: int = 0,
                 comment: str | None = None) -> None:
        self.writer = pcapng_writer(stream, comment) if kind == "pcapng" else pcap_writer(stream)
        self.start = start
        self.rng = random.Random(seed)
        self.flows: dict[int, _Flow] = {}
        self.packets = 0
        self.ip_id = 0
        self.last = 0.0
        self.notes: list[str] = []

    def _send(self, flow: _Flow, direction: Direction, flags: int, payload: bytes, t: float) -> None:
        src, dst = (flow.client, flow.server) if direction == "c2s" else (flow.server, flow.client)
        other = other_direction(direction)
        ack = flow.seq[other] if flags & ACK else 0
        self.ip_id += 1
        # a capture's clock never runs backwards (a hand-written transcript's may)
        self.last = t = max(t, self.last)
        self.writer.writepkt(tcp_frame(src, dst, flow.seq[direction], ack, flags, payload, self.ip_id),
                             ts=self.start + t)
        self.packets += 1
        flow.seq[direction] += len(payload) + (1 if flags & (SYN | FIN) else 0)
        if payload:
            flow.unacked[direction] += 1
        flow.unacked[other] = 0

    def _endpoint(self, conn: int, address: str | None, role: str) -> Endpoint:
        host, _, port = (address or "").rpartition(":")
        host = host.strip("[]")
        # ASCII digits, and few (int() refuses other scripts' digits and more than 4300)
        valid_port = port.isascii() and port.isdigit() and len(port) <= 5 and 0 < int(port) < 65536
        try:
            ipaddress.ip_address(host)
            if valid_port:
                return host, int(port)
        except ValueError:
            pass
        made: Endpoint = ("10.0.0.1", 49152 + conn % 16384) if role == "client" else (
            "10.0.0.2", int(port) if valid_port else 80)
        self.notes.append(f"connection {conn}: {role} {address or '(no address)'} written as {made[0]}:{made[1]}")
        return made

    def _open(self, conn: int, time: float, client: str | None, server: str | None) -> _Flow:
        flow = _Flow(self._endpoint(conn, client, "client"), self._endpoint(conn, server, "server"),
                     {"c2s": self.rng.getrandbits(32), "s2c": self.rng.getrandbits(32)}, {"c2s": 0, "s2c": 0})
        if ":" in flow.client[0] and ":" not in flow.server[0] or ":" in flow.server[0] and ":" not in flow.client[0]:
            # one IPv6 and one IPv4 address cannot share a packet: both made up, as IPv4
            self.notes.append(f"connection {conn}: {client} and {server} mix IPv4 and IPv6; written as "
                              "10.0.0.1 and 10.0.0.2")
            flow.client, flow.server = ("10.0.0.1", flow.client[1]), ("10.0.0.2", flow.server[1])
        self.flows[conn] = flow
        self._send(flow, "c2s", SYN, b"", time)
        self._send(flow, "s2c", SYN | ACK, b"", time)
        self._send(flow, "c2s", ACK, b"", time)
        return flow

    def write(self, record: Record) -> None:
        if isinstance(record, Open):
            self._open(record.conn, record.time, record.client, record.server)
            return
        flow = self.flows.get(record.conn)
        if flow is None:
            self.notes.append(f"connection {record.conn}: no 'open' record; a handshake was made up")
            flow = self._open(record.conn, record.time, None, None)
        other = other_direction(record.direction)
        if isinstance(record, Chunk):
            data = record.data
            for start in range(0, len(data), MSS):
                last = start + MSS >= len(data)
                self._send(flow, record.direction, ACK | (PSH if last else 0), data[start:start + MSS], record.time)
                if flow.unacked[record.direction] >= 2:  # delayed ACK: one per two full segments
                    self._send(flow, other, ACK, b"", record.time)
            return
        if flow.unacked[record.direction]:
            self._send(flow, other, ACK, b"", record.time)
        if record.reset:
            self._send(flow, record.direction, RST | ACK, b"", record.time)
            del self.flows[record.conn]
            return
        self._send(flow, record.direction, FIN | ACK, b"", record.time)
        self._send(flow, other, ACK, b"", record.time)
        flow.fins += 1
        if flow.fins == 2:
            del self.flows[record.conn]


def epoch(recorded_at: str | None) -> float:
    """Seconds since the epoch for a recording's ISO 8601 ``recorded_at`` (0.0 when there is none)."""
    if not recorded_at:
        return 0.0
    try:
        moment = datetime.fromisoformat(recorded_at.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if moment.tzinfo is None:
        return float(calendar.timegm(moment.timetuple())) + moment.microsecond / 1e6
    return moment.timestamp()


def _comment(meta: Meta) -> str:
    fields = [("tool", meta.tool), ("peers", meta.peers), ("recorded_at", meta.recorded_at),
              ("description", meta.description), ("source_format", meta.source_format), ("lossy", meta.lossy),
              *sorted(meta.extra.items())]
    return "\n".join(f"{key}: {value}" for key, value in fields if value)


def _write(kind: str, transcript: Transcript, stream: IO[bytes]) -> list[str]:
    meta = transcript.meta
    writer = PcapWriter(stream, kind, start=epoch(meta.recorded_at), comment=_comment(meta))
    records: Iterable[Record] = transcript.records
    for record in records:
        writer.write(record)
    return writer.notes


def write_pcap(transcript: Transcript, stream: IO[bytes]) -> list[str]:
    return _write("pcap", transcript, stream)


def write_pcapng(transcript: Transcript, stream: IO[bytes]) -> list[str]:
    return _write("pcapng", transcript, stream)


__all__ = ["ACK", "FIN", "MSS", "PSH", "RST", "SYN", "PcapWriter", "epoch", "pcap_writer",
           "pcapng_writer", "tcp_frame", "write_pcap", "write_pcapng"]
