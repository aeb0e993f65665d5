"""The registry of transcript formats: how a file is recognised and read (or written).

Each format registers a ``sniff`` that looks at the first bytes of a file and a ``read`` that
turns a path into a :class:`~h11dbg.transcript.model.Transcript`.  Our own text format registers
itself here; the importers (pcap, pcapng, curl --trace, HAR) register from
``h11dbg.transcript.importers`` which :func:`h11dbg.transcript.open_transcript` imports lazily.

Every reader reports unreadable input by raising :class:`TranscriptError` so the CLI can print
one ``FILE:LINE: what was expected`` line and exit 2 instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from h11dbg.transcript.model import Meta, Record, Transcript

#: How many leading bytes a sniffer is shown.
SNIFF_BYTES = 4096

Sniff = Callable[[bytes], bool]
Reader = Callable[..., Transcript]  # (path, **options) -> Transcript
Writer = Callable[[Iterable[Record], Path, Meta], None]


class TranscriptError(Exception):
    """A transcript that cannot be read: where (file, line or byte offset) and what was expected."""

    def __init__(
        self, path: str | Path, message: str, *, line: int | None = None, offset: int | None = None
    ) -> None:
        self.path = str(path)
        self.message = message
        self.line = line
        self.offset = offset
        super().__init__(self.location() + ": " + message)

    def location(self) -> str:
        if self.line is not None:
            return f"{self.path}:{self.line}"
        if self.offset is not None:
            return f"{self.path}: byte {self.offset}"
        return self.path


class Format:
    """A registered format (a plain class: a dataclass would cost every command's start-up a millisecond)."""

    __slots__ = ("name", "sniff", "read", "description", "options")

    def __init__(self, name: str, sniff: Sniff, read: Reader, description: str = "",
                 options: tuple[str, ...] = ()) -> None:
        self.name = name
        self.sniff = sniff
        self.read = read
        self.description = description
        #: keyword options ``read`` accepts beyond the path (``segments`` for captures)
        self.options = options

    def __repr__(self) -> str:
        return f"Format({self.name!r})"


_FORMATS: dict[str, Format] = {}
_WRITERS: dict[str, Writer] = {}


def register(name: str, sniff: Sniff, read: Reader, description: str = "", options: tuple[str, ...] = ()) -> None:
    """Make a format known to :func:`h11dbg.transcript.open_transcript` (later registrations win)."""
    _FORMATS[name] = Format(name, sniff, read, description, options)


def register_writer(name: str, write: Writer) -> None:
    """Make ``h11dbg convert`` able to write ``name`` (our text format is always available)."""
    _WRITERS[name] = write


def formats() -> dict[str, Format]:
    return dict(_FORMATS)


def writers() -> dict[str, Writer]:
    return dict(_WRITERS)


def detect(head: bytes) -> Format | None:
    # Our own format first: its header line is unambiguous; then in registration order.
    for fmt in _FORMATS.values():
        try:
            if fmt.sniff(head):
                return fmt
        except Exception:  # a sniffer that trips over odd bytes just does not match
            continue
    return None


_PCAP_MAGICS = (b"\xa1\xb2\xc3\xd4", b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\x3c\x4d", b"\x4d\x3c\xb2\xa1")


def guess_shape(head: bytes) -> str | None:
    """Name the format a file looks like even when no importer for it is registered."""
    if head[:4] in _PCAP_MAGICS:
        return "pcap"
    if head[:4] == b"\x0a\x0d\x0d\x0a":
        return "pcapng"
    stripped = head.lstrip()
    if stripped.startswith((b"== Info:", b"=> Send", b"<= Recv")):
        return "curl trace"
    if stripped.startswith(b"{") and b'"log"' in head:
        return "HAR"
    return None
