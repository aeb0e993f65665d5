"""Replay a large transcript on two CPUs, with exactly the output of a replay on one.

Connections are independent: what one connection's bytes do to its two state machines never
depends on another connection.  So a forked worker reads the file (the other half of the work:
unescaping text, reassembling TCP) and, as each connection first appears, either replays and
renders that connection itself or leaves it to this process; it streams back, in record order,
the records of this process's connections and the rendered text of its own.  This process replays
its records, writes its text and the worker's in that same order: the output is byte for byte the
output of :func:`replay` run in one process (tests compare them).

Who takes a new connection: whichever side has had less work so far.  The worker measures its own
CPU time (reading plus replaying); this process reports its own, and how many records it has
replayed, in a few bytes of memory the two share.  A transcript of one huge connection gets no
help, but no harm either.

The end of the replay keeps one-process order too: connections the transcript left open end in
the order they began, whichever side replayed them, at the transcript's last time.
"""

from __future__ import annotations

import mmap
import struct
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from h11dbg.replay import forked
from h11dbg.replay.machines import Replayer, slowest_exchanges
from h11dbg.replay.prefetch import NoteTracker, apply_meta
from h11dbg.replay.run import Outcome
from h11dbg.replay.steps import ReplayStep
from h11dbg.transcript.formats import TranscriptError
from h11dbg.transcript.model import DIRECTIONS, Chunk, Close, Direction, Meta, Record

if TYPE_CHECKING:
    from h11dbg.engines import Engine

#: Items per message from the worker; a message also ends once it holds this many payload bytes.
BATCH_ITEMS = 256
BATCH_BYTES = 128 * 1024
#: What a record costs this side before the worker has replayed any itself (seconds; a guess
#: that the worker's own measurements replace as soon as it has some).
_FIRST_GUESS = 30e-6
_PROGRESS = struct.Struct("dq")  # the parent's CPU seconds and records replayed, shared with the worker


def replay_split(
    records: Iterable[Record], path: str, notes: list[str] | None, meta: Meta, engine: Engine,
    render: Callable[[ReplayStep], str], note: Callable[[str], str], write: Callable[[str], object],
) -> Outcome:
    """Replay ``records`` with a worker process; ``write`` gets the text in order.

    ``render`` turns a step into its text (lines with their line ends), ``note`` a loss note found
    while reading (appended to ``notes`` as well, as reading in-process would).  A
    :class:`TranscriptError` met while reading is raised after the text of every record before it;
    :class:`h11dbg.replay.forked.CannotFork`, before anything was written, when no worker can be started.
    """
    outcome = Outcome(0, 0)
    replayer = Replayer(engine)
    feed = replayer.feed
    end: tuple[Any, ...] | None = None  # the worker's last message, unpickled
    progress = mmap.mmap(-1, _PROGRESS.size)  # shared with the worker, which forks from here
    clock = time.process_time
    started = clock()
    done = 0
    stream = forked.from_child(lambda send: _work(records, NoteTracker(meta, notes), engine, render, progress, send))
    try:
        for message in stream:
            kind = message[0]
            if kind == "items":
                for item in message[1]:
                    what = type(item)
                    if what is str:
                        write(item)
                    elif what is tuple and len(item) == 2:  # ("note", why)
                        if notes is not None:
                            notes.append(item[1])
                        write(note(item[1]))
                    else:
                        for step in feed(Chunk(*item) if what is tuple else item):
                            write(render(step))
                        done += 1
                _PROGRESS.pack_into(progress, 0, clock() - started, done)
                continue
            apply_meta(meta, message[-1])
            if kind == "error":
                _, text, line, offset, _ = message
                raise TranscriptError(path, text, line=line, offset=offset)
            end = message
    except forked.ChildDied:
        raise TranscriptError(path, "the replay's reader process ended unexpectedly") from None
    finally:
        stream.close()  # the worker is stopped and waited for now, whatever ended the loop
    assert end is not None
    _, connections, errors, last_time, worker_ends, mine, slowest, _ = end
    # Connections left open end in the order they began, whoever replayed them.
    ends = list(worker_ends)
    ends += [(mine[step.conn], render(step)) for step in replayer.finish(last_time)]
    for _, text in sorted(ends, key=lambda pair: pair[0]):
        write(text)
    outcome.connections = replayer.connections + connections
    outcome.errors = replayer.errors + errors
    outcome.slowest = slowest_exchanges(replayer.slowest, slowest)
    return outcome


def takes_it(conn: int, worked: float, parent_worked: float, parent_done: int, handed: int) -> bool:
    """Whether the worker replays a new connection itself: when it has done less than the parent.

    ``worked``: the worker's CPU seconds so far (reading and replaying); ``parent_worked`` and
    ``parent_done``: the parent's CPU seconds and the records it has replayed, as it last reported
    them; ``handed``: the records the worker has left to it.  The records still on their way will
    cost the parent what its records have cost it so far.
    """
    cost = parent_worked / parent_done if parent_done else _FIRST_GUESS
    return worked < parent_worked + (handed - parent_done) * cost


def _work(records: Iterable[Record], tracker: NoteTracker, engine: Engine,
          render: Callable[[ReplayStep], str], progress: mmap.mmap, send: forked.Send) -> None:
    """The worker: read every record; replay its own connections, hand the others over."""
    takes_it_ = takes_it  # (a local: it is called once per connection)
    replayer = Replayer(engine)
    feed = replayer.feed
    clock = time.process_time
    mine: dict[int, bool] = {}  # open connection -> replayed here (True) or by the parent
    begun: dict[int, int] = {}  # open connection -> when it began (for the order of its end)
    closed: dict[int, set[Direction]] = {}
    sequence = 0
    handed = 0  # records handed over
    last_time = 0.0
    batch: list[object] = []  # text, ("note", why), a chunk as a tuple, or another record
    size = 0
    texts: list[str] = []  # this side's text since the last item of the batch: one item when joined
    started = clock()

    def settle() -> None:  # this side's text so far goes in before the next item
        if texts:
            batch.append("".join(texts))
            texts.clear()

    def flush() -> None:
        nonlocal batch, size
        settle()
        if batch:
            send(("items", batch))
            batch, size = [], 0

    try:
        for record in records:
            notes = tracker.new_notes()  # found while reading up to this record
            if notes:
                settle()
                batch += [("note", why) for why in notes]
            conn = record.conn
            if record.time > last_time:
                last_time = record.time
            here = mine.get(conn)
            if here is None:  # a connection begins: to the side that has done less so far
                parent_worked, parent_done = _PROGRESS.unpack_from(progress)
                here = mine[conn] = takes_it_(conn, clock() - started, parent_worked, parent_done, handed)
                begun[conn] = sequence
                sequence += 1
            if here:
                texts += [render(step) for step in feed(record)]
            else:
                settle()
                # a chunk travels as a plain tuple: a third of the cost of pickling the object, both ways
                batch.append((conn, record.direction, record.data, record.time) if type(record) is Chunk else record)
                handed += 1
            if type(record) is Chunk:
                size += len(record.data)
            elif type(record) is Close:  # the replay forgets a connection once both sides closed
                sides = closed.setdefault(conn, set())
                sides.update(DIRECTIONS if record.reset else (record.direction,))
                if len(sides) == 2:
                    del mine[conn], begun[conn], closed[conn]
            if size >= BATCH_BYTES or len(batch) >= BATCH_ITEMS:
                flush()
    except TranscriptError as exc:
        # (notes found while failing are not said: a replay in one process stops there too)
        flush()
        send(("error", exc.message, exc.line, exc.offset, tracker.meta_changes()))
        return
    settle()
    batch += [("note", why) for why in tracker.new_notes()]  # holes still open at the end
    flush()
    ends = [(begun[step.conn], render(step)) for step in replayer.finish(last_time)]
    parents = {conn: begun[conn] for conn, here in mine.items() if not here}
    send(("end", replayer.connections, replayer.errors, last_time, ends, parents, replayer.slowest,
          tracker.meta_changes()))
