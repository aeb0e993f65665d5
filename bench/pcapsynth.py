"""Synthesised captures: Ethernet/IPv4/TCP frames built with dpkt, written as classic pcap.

The one packet synthesiser in the repository.  bench/replay.py turns its generated traffic into a pcap
with :class:`PcapTraffic` (handshake, MSS-sized segments, delayed ACKs, FINs); the importer tests build
the exact segment sequences they need with :func:`tcp_frame` and :func:`write_pcap`.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import dpkt  # type: ignore[import-untyped]

from h11dbg.transcript.model import Chunk, Open, Record

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
MSS = 1460

Endpoint = tuple[str, int]  # IPv4 address, port


def _mac(address: bytes) -> bytes:
    """A locally administered MAC address per IPv4 address, so each host keeps one."""
    return b"\x02\x00" + address


def tcp_frame(src: Endpoint, dst: Endpoint, seq: int, ack: int, flags: int, data: bytes = b"",
              ip_id: int = 0) -> bytes:
    """One Ethernet frame carrying one TCP segment from ``src`` to ``dst`` (sequence numbers wrap)."""
    src_ip, dst_ip = socket.inet_aton(src[0]), socket.inet_aton(dst[0])
    tcp = dpkt.tcp.TCP(sport=src[1], dport=dst[1], seq=seq % 2**32, ack=ack % 2**32, flags=flags, win=65535,
                       data=data)
    ip = dpkt.ip.IP(src=src_ip, dst=dst_ip, p=dpkt.ip.IP_PROTO_TCP, ttl=64, df=1, id=ip_id & 0xFFFF, data=tcp)
    return bytes(dpkt.ethernet.Ethernet(src=_mac(src_ip), dst=_mac(dst_ip), type=dpkt.ethernet.ETH_TYPE_IP,
                                        data=ip))


def pcap_writer(stream: IO[bytes], linktype: int = dpkt.pcap.DLT_EN10MB) -> dpkt.pcap.Writer:
    return dpkt.pcap.Writer(stream, snaplen=65535, linktype=linktype)


def write_pcap(path: Path, frames: Iterable[bytes | tuple[float, bytes]], linktype: int = dpkt.pcap.DLT_EN10MB
               ) -> Path:
    """Write ``frames`` (bare, 10 ms apart from t=1000 s, or with their own timestamps) to ``path``."""
    with open(path, "wb") as f:
        writer = pcap_writer(f, linktype)
        for i, frame in enumerate(frames):
            ts, data = frame if isinstance(frame, tuple) else (1000.0 + i * 0.01, frame)
            writer.writepkt(data, ts=ts)
    return path


@dataclass
class _Flow:
    client: Endpoint
    server: Endpoint
    seq: dict[str, int]  # next sequence number each direction sends
    unacked: dict[str, int]  # segments sent since the peer last acknowledged
    fins: int = 0


def _endpoint(address: str | None) -> Endpoint:
    host, _, port = (address or "").rpartition(":")
    return host, int(port)


class PcapTraffic:
    """Turns transcript records into packets: handshake, MSS-sized segments, delayed ACKs, FINs.

    Every Open needs IPv4 ``client`` and ``server`` addresses; initial sequence numbers come from ``seed``.
    """

    def __init__(self, stream: IO[bytes], seed: int) -> None:
        self.writer = pcap_writer(stream)
        self.rng = random.Random(seed)
        self.flows: dict[int, _Flow] = {}
        self.packets = 0
        self.ip_id = 0

    def _send(self, flow: _Flow, direction: str, flags: int, payload: bytes, t: float) -> None:
        src, dst = (flow.client, flow.server) if direction == "c2s" else (flow.server, flow.client)
        other = "s2c" if direction == "c2s" else "c2s"
        ack = flow.seq[other] if flags & ACK else 0
        self.ip_id += 1
        self.writer.writepkt(tcp_frame(src, dst, flow.seq[direction], ack, flags, payload, self.ip_id), ts=t)
        self.packets += 1
        flow.seq[direction] += len(payload) + (1 if flags & (SYN | FIN) else 0)
        if payload:
            flow.unacked[direction] += 1
        flow.unacked[other] = 0

    def write(self, record: Record) -> None:
        if isinstance(record, Open):
            flow = _Flow(_endpoint(record.client), _endpoint(record.server),
                         {"c2s": self.rng.getrandbits(32), "s2c": self.rng.getrandbits(32)},
                         {"c2s": 0, "s2c": 0})
            self.flows[record.conn] = flow
            self._send(flow, "c2s", SYN, b"", record.time)
            self._send(flow, "s2c", SYN | ACK, b"", record.time + 0.00002)
            self._send(flow, "c2s", ACK, b"", record.time + 0.00004)
            return
        flow = self.flows[record.conn]
        other = "s2c" if record.direction == "c2s" else "c2s"
        if isinstance(record, Chunk):
            data = record.data
            for start in range(0, len(data), MSS):
                last = start + MSS >= len(data)
                self._send(flow, record.direction, ACK | (PSH if last else 0), data[start:start + MSS],
                           record.time)
                if flow.unacked[record.direction] >= 2:  # delayed ACK: one per two full segments
                    self._send(flow, other, ACK, b"", record.time + 0.00001)
            return
        if flow.unacked[record.direction]:
            self._send(flow, other, ACK, b"", record.time)
        self._send(flow, record.direction, FIN | ACK, b"", record.time)
        self._send(flow, other, ACK, b"", record.time + 0.00001)
        flow.fins += 1
        if flow.fins == 2:
            del self.flows[record.conn]
