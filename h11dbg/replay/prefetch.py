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

import itertools
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import fields
from pathlib import Path

from h11dbg.replay import forked
from h11dbg.transcript.formats import STDIN, TranscriptError
from h11dbg.transcript.model import Meta, Record, Transcript

#: Files smaller than this are read in-process: a fork costs more than reading them does.
MIN_PREFETCH_BYTES = 4 * 1024 * 1024
#: A batch is sent once it holds this many payload bytes or this many records.
BATCH_BYTES = 256 * 1024
BATCH_RECORDS = 256


def worth_it(path: str | Path) -> bool:
    """Whether reading ``path`` in a second process can speed a replay up here."""
    if not forked.available() or str(path) == STDIN:  # standard input is read as it comes, once
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


def meta_state(meta: Meta) -> dict[str, object]:
    return {f.name: getattr(meta, f.name) for f in fields(meta)}


def apply_meta(meta: Meta, changes: Mapping[str, object]) -> None:
    for name, value in changes.items():
        setattr(meta, name, value)


class NoteTracker:
    """What a reader process found since it last looked: new loss notes, changed meta fields."""

    def __init__(self, meta: Meta, notes: list[str] | None) -> None:
        self.meta = meta
        self.notes = notes
        self.seen = 0
        self.known = meta_state(meta)

    def new_notes(self) -> list[str]:
        notes = self.notes
        if notes is None or len(notes) == self.seen:
            return []
        found = notes[self.seen:]
        self.seen = len(notes)
        return found

    def meta_changes(self) -> dict[str, object]:
        state = meta_state(self.meta)
        changes = {name: value for name, value in state.items() if self.known.get(name) != value}
        self.known = state
        return changes


def _records(records: Iterable[Record], meta: Meta, notes: list[str] | None, path: Path) -> Iterator[Record]:
    stream = forked.from_child(lambda send: _read(records, NoteTracker(meta, notes), send))
    try:
        first = next(stream, None)
    except forked.CannotFork:  # read here after all
        yield from records
        return
    except forked.ChildDied:
        raise TranscriptError(path, "the reader process ended unexpectedly") from None
    try:
        for kind, payload, found, meta_changes in itertools.chain((first,) if first else (), stream):
            apply_meta(meta, meta_changes)
            if kind == "records":
                start = 0
                for index, lines in found:  # losses found before payload[index] was read
                    yield from payload[start:index]
                    notes.extend(lines)  # type: ignore[union-attr]
                    start = index
                yield from payload[start:]
                continue
            if found:
                notes.extend(found[0][1])  # type: ignore[union-attr]
            if kind == "error":  # what the reader met, raised where it met it
                message, line, offset = payload
                raise TranscriptError(path, message, line=line, offset=offset)
    except forked.ChildDied:
        raise TranscriptError(path, "the reader process ended unexpectedly") from None
    finally:
        stream.close()  # the reader is stopped and waited for now, not when this frame is collected


def _read(records: Iterable[Record], tracker: NoteTracker, send: forked.Send) -> None:
    """In the reader process: iterate, batch, send."""
    found: list[tuple[int, list[str]]] = []  # (index in the batch, notes found before it)

    def take_notes(index: int) -> None:
        lines = tracker.new_notes()
        if lines:
            found.append((index, lines))

    def flush(kind: str, payload: object) -> None:
        send((kind, payload, list(found), tracker.meta_changes()))
        found.clear()

    batch: list[Record] = []
    size = 0
    try:
        for record in records:
            take_notes(len(batch))
            batch.append(record)
            size += len(getattr(record, "data", b""))
            if size >= BATCH_BYTES or len(batch) >= BATCH_RECORDS:
                flush("records", batch)
                batch, size = [], 0
    except TranscriptError as exc:
        if batch:
            flush("records", batch)
        take_notes(0)
        flush("error", (exc.message, exc.line, exc.offset))
        return
    if batch:
        flush("records", batch)
    take_notes(0)
    flush("end", None)
