"""Exporters: transcripts as other tools' files (pcap, pcapng; HAR is written by h11dbg.replay.convert,
which parses the HTTP the bytes hold).  Importing this package registers the writers with
:mod:`h11dbg.transcript.formats`."""

from __future__ import annotations

from h11dbg.transcript import formats
from h11dbg.transcript.exporters.pcap import write_pcap, write_pcapng

formats.register_writer("pcap", write_pcap)
formats.register_writer("pcapng", write_pcapng)
