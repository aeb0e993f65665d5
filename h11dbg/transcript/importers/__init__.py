"""Importers: other tools' captures (pcap, pcapng, curl --trace, HAR) as transcripts.

Importing this package registers each format with :mod:`h11dbg.transcript.formats`, which is
how :func:`~h11dbg.transcript.open_transcript` finds them (it imports this package lazily).
The readers can also be called directly; ``read_pcap`` takes a ``port`` filter.

The curl and HAR importers are imported only when a file gets as far as their sniffers (formats
are tried in the order they are registered, captures first) or when their readers are used: a
pcap replay does not pay for their modules at start-up.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from h11dbg.transcript.importers.pcap import read_pcap, sniff_pcap, sniff_pcapng

__all__ = ["read_curl_trace", "read_har", "read_pcap", "register_all"]

_LAZY = {"read_curl_trace": "curl_trace", "read_har": "har"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


def _lazy(module: str, name: str) -> Callable[..., Any]:
    """``module.name``, the module imported on the first call."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    return call


def register_all() -> None:
    try:
        from h11dbg.transcript import formats
    except ImportError:  # the registry has not landed yet: the readers still work when called directly
        return
    formats.register("pcap", sniff_pcap, read_pcap, "tcpdump / libpcap capture (TCP reassembled)",
                     options=("segments",))
    formats.register("pcapng", sniff_pcapng, read_pcap, "pcapng capture: tshark, Wireshark (TCP reassembled)",
                     options=("segments",))
    read_curl_trace = _lazy("curl_trace", "read_curl_trace")
    formats.register("curl-trace", _lazy("curl_trace", "sniff_trace"), read_curl_trace,
                     "curl --trace FILE (exact hex dump)")
    formats.register("curl-trace-ascii", _lazy("curl_trace", "sniff_trace_ascii"), read_curl_trace,
                     "curl --trace-ascii FILE (lossy: non-printable bytes shown as '.')")
    formats.register("har", _lazy("har", "sniff_har"), _lazy("har", "read_har"),
                     "HAR 1.2 from browser devtools (lossy: bytes rebuilt)")


register_all()
