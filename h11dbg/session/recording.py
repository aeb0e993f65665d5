"""A live session's traffic as transcript records: kept in memory for ``save``, streamed for ``--record``.

The session calls :meth:`Recorder.open`, :meth:`Recorder.chunk` and :meth:`Recorder.close` at the
socket calls themselves (one chunk per real ``send``/``recv``), so a recording replays with the same
chunk boundaries, and so the same ``NEED_DATA`` points, that the live engine saw.

Formatting is :mod:`h11dbg.transcript.textformat`'s (its :class:`TextWriter` with ``flush=True``):
every record reaches the OS as soon as it happens, so a Ctrl-C or a kill leaves a file that is a
valid transcript up to the last chunk.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from h11dbg.transcript.files import OutputFileError, create_new, replacing
from h11dbg.transcript.model import Chunk, Close, Direction, Meta, Open, Record
from h11dbg.transcript.textformat import TextWriter


class Recorder:
    """Every record of one session, in order, with times counted from the recorder's creation."""

    def __init__(self, on_failure: Callable[[str], object] | None = None) -> None:
        self.started = time.monotonic()
        self._on_failure = on_failure
        self.records: list[Record] = []
        self._closed: set[tuple[int, Direction]] = set()
        self._writer: TextWriter | None = None
        self._stream: IO[bytes] | None = None
        self.path: Path | None = None  # the file being streamed to, if any

    def _now(self) -> float:
        return round(time.monotonic() - self.started, 6)

    def _add(self, record: Record) -> None:
        self.records.append(record)
        if self._writer is not None:
            try:
                self._writer.write(record)
            except OSError as exc:
                # a full disk must not end the debugging session: stop streaming, keep recording
                self._stop_streaming()
                if self._on_failure is not None:
                    self._on_failure(f"{self.path}: writing the recording failed ({exc.strerror or exc}); "
                                     "the file ends here, `save` can still write everything")

    # -------------------------------------------------------------- what the session reports
    def open(self, conn: int, client: str | None, server: str | None) -> None:
        self._add(Open(conn, self._now(), client, server))

    def chunk(self, conn: int, direction: Direction, data: bytes) -> None:
        if data:
            self._add(Chunk(conn, direction, bytes(data), self._now()))

    def close(self, conn: int, direction: Direction, *, reset: bool = False) -> None:
        """A half-close (FIN) or a reset.  Each direction of a connection ends once, and a reset ends
        both: our own close of the socket after the peer reset it is no second end."""
        ends: set[tuple[int, Direction]] = {(conn, "c2s"), (conn, "s2c")} if reset else {(conn, direction)}
        if ends <= self._closed:
            return
        self._closed |= ends
        self._add(Close(conn, direction, self._now(), reset=reset))

    # -------------------------------------------------------------- files
    def stream_to(self, stream: IO[bytes], meta: Meta, path: str | Path) -> None:
        """Write the header and everything so far to ``stream``, then each record as it happens."""
        self.path = Path(path)
        self._stream = stream
        try:
            self._writer = TextWriter(stream, meta, flush=True)
            for record in self.records:
                self._writer.write(record)
        except OSError as exc:
            self._stop_streaming()
            raise OutputFileError(f"{path}: cannot write: {exc.strerror or exc}") from None

    @property
    def streaming(self) -> bool:
        """True while records go to a file as they happen."""
        return self._writer is not None

    def _stop_streaming(self) -> None:
        self._writer = None
        if self._stream is not None:
            with contextlib.suppress(OSError):
                self._stream.close()
            self._stream = None

    def finish(self) -> None:
        """Close the streamed file (idempotent)."""
        self._stop_streaming()

    def save(self, path: str | Path, meta: Meta, *, force: bool = False) -> int:
        """Write every record so far to ``path``; returns how many.

        Without ``force`` an existing file is refused.  With it the new file is written beside the
        old one and moved into place, so a failed write never loses what was there.
        """
        path = Path(path)
        if self.path is not None and self.streaming and _same_file(path, self.path):
            raise OutputFileError(f"{path}: that is the file --record is writing; save to another file")
        with contextlib.ExitStack() as stack:
            target = stack.enter_context(replacing(path)) if force else path
            with create_new(target, force, hint=f"save --force {path}") as stream:
                writer = TextWriter(stream, meta)
                try:
                    for record in self.records:
                        writer.write(record)
                except OSError as exc:
                    raise OutputFileError(f"{path}: cannot write: {exc.strerror or exc}") from None
        return len(self.records)

    def summary(self) -> str:
        """``3 connections, 12 chunks, 4,096 bytes`` (for the one-line result of ``save``)."""
        conns = {record.conn for record in self.records}
        chunks = [record for record in self.records if isinstance(record, Chunk)]
        total = sum(len(chunk.data) for chunk in chunks)
        return (f"{len(conns)} connection{'s' if len(conns) != 1 else ''}, "
                f"{len(chunks)} chunk{'s' if len(chunks) != 1 else ''}, {total:,} bytes")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False
