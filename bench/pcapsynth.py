"""Captures made to order for the importer tests: the frames they craft (with the package's
:func:`~h11dbg.transcript.exporters.pcap.tcp_frame`), written as a classic pcap.

The packet synthesiser itself is the package's (h11dbg.transcript.exporters.pcap: ``h11dbg convert``
writes pcap and pcapng with it, and bench/replay.py builds its pcap corpus with its PcapWriter).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from h11dbg.transcript.exporters.pcap import ACK, FIN, MSS, PSH, RST, SYN, pcap_writer, tcp_frame

__all__ = ["ACK", "FIN", "MSS", "PSH", "RST", "SYN", "tcp_frame", "write_pcap"]


def write_pcap(path: Path, frames: Iterable[bytes | tuple[float, bytes]], linktype: int = 1) -> Path:
    """Write ``frames`` (bare, 10 ms apart from t=1000 s, or with their own timestamps) to ``path``."""
    with open(path, "wb") as f:
        writer = pcap_writer(f, linktype)
        for i, frame in enumerate(frames):
            ts, data = frame if isinstance(frame, tuple) else (1000.0 + i * 0.01, frame)
            writer.writepkt(data, ts=ts)
    return path
