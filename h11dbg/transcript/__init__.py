"""Transcripts: what crossed one or more TCP connections, byte for byte.

:func:`open_transcript` recognises a file by its content (our text format, and whatever the
importers register: pcap, pcapng, curl --trace, HAR) and returns a lazily read
:class:`~h11dbg.transcript.model.Transcript`; :func:`write_transcript` writes one.
"""

from __future__ import annotations

import contextlib
import io
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from h11dbg.transcript import formats, textformat
from h11dbg.transcript.formats import STDIN, STDIN_NAME, TranscriptError
from h11dbg.transcript.model import Chunk, Close, Meta, Open, Record, Transcript

__all__ = [
    "Chunk",
    "Close",
    "Meta",
    "Open",
    "Record",
    "Transcript",
    "TranscriptError",
    "open_transcript",
    "write_stream",
    "write_transcript",
]

formats.register("h11dbg", textformat.sniff, textformat.read_text, "h11dbg's text transcript format")
formats.register_writer("h11dbg", textformat.write_text)

_importers_loaded = False


def _load_importers() -> None:
    global _importers_loaded
    if _importers_loaded:
        return
    _importers_loaded = True
    # The importers package registers pcap, curl --trace, HAR ...; without it only our format reads.
    with contextlib.suppress(ImportError):
        import h11dbg.transcript.importers  # noqa: F401


def available_formats() -> list[str]:
    _load_importers()
    return list(formats.formats())


def open_transcript(path: str | Path, format: str | None = None, *, segments: bool = False) -> Transcript:
    """Open ``path`` as a transcript; ``format`` forces a registered format instead of detecting it.

    ``segments``: a capture's chunks are its TCP segments rather than the senders' writes (other
    formats hold reads already, and ignore it).

    Raises :class:`TranscriptError` (also later, while its records are iterated) for unreadable input.
    """
    stream: io.BufferedReader | None = None
    if str(path) == STDIN:
        path = Path(STDIN_NAME)
        head, stream = _stdin()
    path = Path(path)
    if format is not None:
        _load_importers()
        known = formats.formats()
        fmt = known.get(format)
        if fmt is None:
            raise TranscriptError(path, f"unknown format {format!r}: choose one of {', '.join(known)}")
    else:
        if stream is None:
            try:
                with open(path, "rb") as opened:
                    head = opened.read(formats.SNIFF_BYTES)
            except OSError as exc:
                raise TranscriptError(path, f"cannot open: {exc.strerror or exc}") from None
        # Our own format is recognised (and detected first) without importing the importers:
        # pcap's, HAR's and curl's modules are most of a small replay's start-up.
        if textformat.sniff(head):
            detected: formats.Format | None = formats.formats()["h11dbg"]
        else:
            _load_importers()
            detected = formats.detect(head)
        if detected is None:
            shape = formats.guess_shape(head)
            if shape is not None:
                raise TranscriptError(path, f"looks like {shape}, but no {shape} importer is available")
            raise TranscriptError(
                path,
                f"not a transcript: expected '{textformat.MAGIC.decode()} {textformat.VERSION}' as the "
                "first line, a pcap or pcapng file, curl --trace/--trace-ascii output or a HAR file",
                line=1,
            )
        fmt = detected
    options: dict[str, object] = {} if stream is None else {"stream": stream}
    if segments and "segments" in fmt.options:
        options["segments"] = True
    try:
        transcript = fmt.read(path, **options)
    except TranscriptError:
        raise
    except Exception as exc:
        raise _reader_bug(path, fmt.name, exc) from None
    if transcript.notes is None:
        transcript.records = _guarded(path, fmt.name, transcript.records)
    else:
        transcript.records = _Guarded(path, fmt.name, transcript.records)
    return transcript


class _Prefixed(io.RawIOBase):
    """Standard input with the bytes already read to recognise it put back in front."""

    def __init__(self, head: bytes, rest: io.BufferedReader) -> None:
        self.head = memoryview(head)
        self.rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.head:
            size = min(len(buffer), len(self.head))
            buffer[:size] = self.head[:size]
            self.head = self.head[size:]
            return size
        data = self.rest.read1(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def _stdin() -> tuple[bytes, io.BufferedReader]:
    """The first bytes of standard input (to recognise its format) and a stream of all of it.

    A capture shows itself in four bytes, and a live one (``tshark -w - | h11dbg replay -``) must
    not wait for more; the other formats are files piped whole, shown as much as a sniffer sees.
    """
    if sys.stdin is None:  # started without one (a service, pythonw)
        raise TranscriptError(STDIN_NAME, "there is no standard input to read")
    stdin = sys.stdin.buffer
    head = stdin.read(4)
    if not (formats.guess_shape(head) or "").startswith("pcap"):
        head += stdin.read(formats.SNIFF_BYTES - len(head))
    return head, io.BufferedReader(_Prefixed(head, stdin), 1 << 16)  # type: ignore[arg-type]


def _reader_bug(path: Path, name: str, exc: Exception) -> TranscriptError:
    """The last resort for what a reader raised that is not a TranscriptError: every error a reader
    knows of says where it is; one that does not is a bug in the reader (an OSError is the system's)."""
    if isinstance(exc, OSError) and exc.strerror:
        return TranscriptError(path, f"cannot read as {name}: {exc.strerror}")
    return TranscriptError(path, f"cannot read as {name}: {type(exc).__name__}: {exc} (a bug in h11dbg's {name} "
                                 "reader: please report it with this file)")


def _guarded(path: Path, name: str, records: Iterable[Record]) -> Iterator[Record]:
    # Importers read lazily too; whatever they raise mid-file still ends as one located line.
    try:
        yield from records
    except TranscriptError:
        raise
    except Exception as exc:
        raise _reader_bug(path, name, exc) from None


class _Guarded:
    """``_guarded`` afresh for each iteration: a transcript with live notes can be read twice
    (``Transcript.complete_meta``)."""

    def __init__(self, path: Path, name: str, records: Iterable[Record]) -> None:
        self.path = path
        self.name = name
        self.records = records

    def __iter__(self) -> Iterator[Record]:
        return _guarded(self.path, self.name, self.records)


def write_transcript(
    records: Transcript | Iterable[Record],
    path: str | Path,
    meta: Meta | None = None,
    *,
    format: str = "h11dbg",
    overwrite: bool = False,
) -> list[str]:
    """Write ``records`` (a Transcript, or records plus ``meta``) to ``path`` in ``format`` (h11dbg,
    pcap, pcapng); refuses to replace an existing file unless ``overwrite``
    (:class:`h11dbg.transcript.files.OutputFileError`).  Returns what the writer had to make up."""
    path = Path(path)
    if not overwrite:
        from h11dbg.transcript.files import refuse_existing

        refuse_existing(path)
    with open(path, "wb") as stream:
        return write_stream(records, stream, meta, format=format, name=str(path))


def write_stream(records: Transcript | Iterable[Record], stream: IO[bytes], meta: Meta | None = None, *,
                 format: str = "h11dbg", name: str = "-") -> list[str]:
    """:func:`write_transcript` to an open binary stream (standard output for ``convert IN -``)."""
    if not isinstance(records, Transcript):
        records = Transcript(meta or Meta(), records)
    elif meta is not None:
        records = Transcript(meta, records.records, records.notes)
    _load_exporters()
    writer = formats.writers().get(format)
    if writer is None:
        raise TranscriptError(name, f"cannot write format {format!r}: choose one of {', '.join(formats.writers())}")
    return writer(records, stream)


def _load_exporters() -> None:
    import h11dbg.transcript.exporters  # noqa: F401  (registers pcap and pcapng)
