"""Importers: other tools' captures (pcap, pcapng, curl --trace, HAR) as transcripts.

Importing this package registers each format with :mod:`h11dbg.transcript.formats`, which is
how :func:`~h11dbg.transcript.open_transcript` finds them (it imports this package lazily).
The readers can also be called directly; ``read_pcap`` takes a ``port`` filter.
"""

from __future__ import annotations

from h11dbg.transcript.importers.curl_trace import read_curl_trace, sniff_trace, sniff_trace_ascii
from h11dbg.transcript.importers.har import read_har, sniff_har
from h11dbg.transcript.importers.pcap import read_pcap, sniff_pcap, sniff_pcapng

__all__ = ["read_curl_trace", "read_har", "read_pcap", "register_all"]


def register_all() -> None:
    try:
        from h11dbg.transcript import formats
    except ImportError:  # the registry has not landed yet: the readers still work when called directly
        return
    formats.register("pcap", sniff_pcap, read_pcap, "tcpdump / libpcap capture (TCP reassembled)",
                     options=("segments",))
    formats.register("pcapng", sniff_pcapng, read_pcap, "pcapng capture: tshark, Wireshark (TCP reassembled)",
                     options=("segments",))
    formats.register("curl-trace", sniff_trace, read_curl_trace, "curl --trace FILE (exact hex dump)")
    formats.register("curl-trace-ascii", sniff_trace_ascii, read_curl_trace,
                     "curl --trace-ascii FILE (lossy: non-printable bytes shown as '.')")
    formats.register("har", sniff_har, read_har, "HAR 1.2 from browser devtools (lossy: bytes rebuilt)")


register_all()
