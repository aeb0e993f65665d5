"""Read a transcript's records in a second process, so that reading and replaying overlap.

Replaying a large file is two jobs of similar size: turning the file into records (unescaping our
text format, reassembling TCP from a pcap) and running both state machines over them.  On a machine
with two or more CPUs, :func:`prefetch` forks a reader that iterates the records and sends them
down a pipe in batches while this process replays the ones it already has.  Nothing changes for the
caller: the same records, in the same order, lazily, and a :class:`TranscriptError` met by the
reader is raised here, after the records before it, with its location.

Memory stays flat: the reader runs at most one pipe's worth (a few batches) ahead.  Without
``os.fork`` (Windows), on a single CPU, or for small files (where starting a process costs more than
it saves), :func:`prefetch` hands the transcript back unchanged.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
from collections.abc import Iterable, Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

from h11dbg.transcript.formats import TranscriptError
from h11dbg.transcript.model import Record, Transcript

#: Files smaller than this are read in-process: a fork costs more than reading them does.
MIN_PREFETCH_BYTES = 4 * 1024 * 1024
#: A batch is sent once it holds this many payload bytes or this many records.
BATCH_BYTES = 256 * 1024
BATCH_RECORDS = 256
_PIPE_BYTES = 1 << 20  # asked of the kernel; the default (64 KiB) would stall on every batch
_HEADER = struct.Struct("!I")


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def worth_it(path: str | Path) -> bool:
    """Whether reading ``path`` in a second process can speed a replay up here."""
    if not hasattr(os, "fork") or _cpus() < 2:
        return False
    try:
        return os.path.getsize(path) >= MIN_PREFETCH_BYTES
    except OSError:
        return False


def prefetch(transcript: Transcript, path: str | Path) -> Transcript:
    """``transcript`` with its records read by a forked reader process (when that is worth it).

    ``transcript.meta`` and the live ``transcript.notes`` are kept up to date: what the reader
    changes or finds while reading (a capture's losses, found as it is reassembled) arrives just
    before the records that followed it in the reader, so ``len(notes)`` between records tells where
    each loss was found, as it does without prefetching.
    """
    if not worth_it(path):
        return transcript
    transcript.records = _records(transcript.records, transcript.meta, transcript.notes, Path(path))
    return transcript


def _meta_state(meta: Any) -> dict[str, Any]:
    return {f.name: getattr(meta, f.name) for f in fields(meta)}


def _records(records: Iterable[Record], meta: Any, notes: list[str] | None, path: Path) -> Iterator[Record]:
    read_fd, write_fd = os.pipe()
    with contextlib.suppress(AttributeError, OSError):  # Linux only; elsewhere the default size
        import fcntl

        fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)  # type: ignore[attr-defined]
    pid = os.fork()
    if pid == 0:  # the reader
        os.close(read_fd)
        _reader(records, meta, notes, write_fd)  # never returns
    os.close(write_fd)
    source = os.fdopen(read_fd, "rb", buffering=_PIPE_BYTES)
    try:
        while True:
            header = source.read(_HEADER.size)
            if len(header) < _HEADER.size:
                raise TranscriptError(path, "the reader process ended unexpectedly")
            (size,) = _HEADER.unpack(header)
            blob = source.read(size)
            if len(blob) < size:
                raise TranscriptError(path, "the reader process ended unexpectedly")
            kind, payload, found, meta_changes = pickle.loads(blob)
            if meta_changes:
                for name, value in meta_changes.items():
                    setattr(meta, name, value)
            if kind == "records":
                if not found:
                    yield from payload
                    continue
                start = 0
                for index, lines in found:  # losses found before payload[index] was read
                    yield from payload[start:index]
                    notes.extend(lines)  # type: ignore[union-attr]
                    start = index
                yield from payload[start:]
                continue
            if found:
                notes.extend(found[0][1])  # type: ignore[union-attr]
            if kind == "end":
                return
            else:  # "error": what the reader met, raised where it met it
                message, line, offset = payload
                raise TranscriptError(path, message, line=line, offset=offset)
    finally:
        source.close()  # a reader still writing gets EPIPE and stops
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _reader(records: Iterable[Record], meta: Any, notes: list[str] | None, fd: int) -> None:
    """The forked reader: iterate, batch, send; always leaves with os._exit (no atexit, no flush
    of buffers inherited from the parent)."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the replaying process's to handle
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        out = os.fdopen(fd, "wb", buffering=_PIPE_BYTES)
        known = _meta_state(meta)

        seen = 0  # notes sent so far
        found: list[tuple[int, list[str]]] = []  # (index in the batch, notes found before it)

        def take_notes(index: int) -> None:
            nonlocal seen
            if notes is not None and len(notes) != seen:
                found.append((index, notes[seen:]))
                seen = len(notes)

        def send(kind: str, payload: Any) -> None:
            nonlocal known
            state = _meta_state(meta)
            changes = {name: value for name, value in state.items() if known.get(name) != value}
            known = state
            blob = pickle.dumps((kind, payload, list(found), changes), protocol=pickle.HIGHEST_PROTOCOL)
            found.clear()
            out.write(_HEADER.pack(len(blob)))
            out.write(blob)

        batch: list[Record] = []
        size = 0
        try:
            for record in records:
                take_notes(len(batch))
                batch.append(record)
                size += len(getattr(record, "data", b""))
                if size >= BATCH_BYTES or len(batch) >= BATCH_RECORDS:
                    send("records", batch)
                    batch, size = [], 0
        except TranscriptError as exc:
            if batch:
                send("records", batch)
            take_notes(0)
            send("error", (exc.message, exc.line, exc.offset))
        else:
            if batch:
                send("records", batch)
            take_notes(0)
            send("end", None)
        out.flush()
    except BrokenPipeError:  # the replay stopped reading (it ended early, or its output closed)
        code = 0
    except BaseException:  # noqa: BLE001 - a reader that fails says so through the pipe's early end
        code = 1
    finally:
        os._exit(code)
