"""The registry of transcript formats: how a file is recognised and read (or written).

Each format registers a ``sniff`` that looks at the first bytes of a file and a ``read`` that
turns a path into a :class:`~h11dbg.transcript.model.Transcript`.  Our own text format registers
itself here; the importers (pcap, pcapng, curl --trace, HAR) register from
``h11dbg.transcript.importers`` which :func:`h11dbg.transcript.open_transcript` imports lazily.

Every reader reports unreadable input by raising :class:`TranscriptError` so the CLI can print
one ``FILE:LINE: what was expected`` line and exit 2 instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO

from h11dbg.transcript.model import Transcript

#: The file name that means standard input (``h11dbg replay -``), and what messages call it then.
STDIN = "-"
STDIN_NAME = "<stdin>"

#: How many leading bytes a sniffer is shown.
SNIFF_BYTES = 4096

Sniff = Callable[[bytes], bool]
Reader = Callable[..., Transcript]  # (path, **options) -> Transcript
Writer = Callable[[Transcript, IO[bytes]], list[str]]  # (transcript, stream) -> what had to be made up

#: The formats ``h11dbg convert`` writes: the file name suffix that asks for each, and what each loses
#: (docs/cli.md says the same; convert says it on stderr).
OUTPUTS: dict[str, tuple[str, str]] = {
    "h11dbg": (".h11t", ""),
    "pcap": (".pcap", "the recording's metadata (tool, description, lossy notes) and connection numbers; "
                      "addresses that are not IP:PORT are made up; times kept to the microsecond; TCP "
                      "handshakes, ACKs and sequence numbers synthesised (every byte, the end of each write "
                      "(PSH), FIN and RST kept)"),
    "pcapng": (".pcapng", "connection numbers (the metadata is kept in the section comment); addresses that "
                          "are not IP:PORT are made up; times kept to the microsecond; TCP handshakes, ACKs "
                          "and sequence numbers synthesised (every byte, the end of each write (PSH), FIN and "
                          "RST kept)"),
    "har": (".har", "everything that is not an HTTP/1.1 request and its response: the exact bytes (header "
                    "whitespace, chunk sizes, obsolete line folding), interim 1xx responses, each read and "
                    "its time (HAR has one set of timings per exchange), closes and resets, bytes after a "
                    "protocol error or a protocol switch; content-coded (gzip, deflate) bodies are stored "
                    "decoded; a request body that is not UTF-8 is base64 with postData.encoding (our "
                    "importer reads it back; Chromium's DevTools shows the base64 text)"),
}


def output_format(target: str) -> str:
    """The output format ``convert`` writes to ``target`` by its suffix (our text format otherwise)."""
    suffix = Path(target).suffix.lower()
    return next((name for name, (known, _) in OUTPUTS.items() if known == suffix), "h11dbg")


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
    """Make :func:`h11dbg.transcript.write_transcript` able to write ``name`` (HAR is written by
    :mod:`h11dbg.replay.convert`, which parses the HTTP it holds)."""
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
