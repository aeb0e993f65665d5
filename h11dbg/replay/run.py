"""A whole replay: transcript → steps → a sink, on one CPU or two.

What ``h11dbg replay`` does once its options are parsed.  The caller says how a step and a capture's
loss note read (``render``, ``note``; :mod:`h11dbg.output` makes both) and where text goes
(``write``); this module decides nothing about how things look.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from h11dbg.replay.machines import ExchangeTiming, Replayer, slowest_exchanges
from h11dbg.replay.steps import ReplayStep
from h11dbg.transcript.model import Open, Record, Transcript

if TYPE_CHECKING:
    from h11dbg.engines import Engine


class Outcome:
    """What a replay found: how many connections, how many of them hit a protocol error."""

    def __init__(self, connections: int, errors: int, slowest: list[ExchangeTiming] | None = None) -> None:
        self.connections = connections
        self.errors = errors
        self.slowest = slowest or []  # the slowest exchanges, slowest first

    @classmethod
    def of(cls, replayer: Replayer) -> Outcome:
        return cls(replayer.connections, replayer.errors, slowest_exchanges(replayer.slowest))


def only_server_port(records: Iterable[Record], port: int) -> Iterator[Record]:
    """The records of connections whose server peer listened on ``port`` (one without an open record
    is kept: nothing says where it went)."""
    dropped: set[int] = set()
    for record in records:
        if isinstance(record, Open):
            server = record.server or ""
            if server.rpartition(":")[2] != str(port):
                dropped.add(record.conn)
                continue
            dropped.discard(record.conn)
        if record.conn not in dropped:
            yield record


def server_ports(records: Iterable[Record]) -> list[int]:
    """The server ports the open records name, in order, each once: what a port filter could match."""
    ports: dict[int, None] = {}
    for record in records:
        if isinstance(record, Open) and record.server:
            port = record.server.rpartition(":")[2]
            # ASCII digits, and few: not a port otherwise (and int() refuses other scripts' digits
            # and more than 4300)
            if port.isascii() and port.isdigit() and len(port) <= 5:
                ports[int(port)] = None
    return sorted(ports)


def steps(transcript: Transcript, replayer: Replayer, say_note: Callable[[str], object], *,
          lossy_said: bool = False) -> Iterator[ReplayStep]:
    """Every step of ``transcript``, each loss note of a capture said where reading found it: after the
    steps of the records read before it, before those that follow."""
    notes = transcript.notes
    if transcript.meta.lossy and not lossy_said:  # bytes rebuilt as a whole (HAR, --trace-ascii): first
        say_note(transcript.meta.lossy)
    if notes is None:
        for record in transcript:
            yield from replayer.feed(record)
    else:
        seen = 0
        for record in transcript:
            if len(notes) != seen:
                for why in notes[seen:]:
                    say_note(why)
                seen = len(notes)
            yield from replayer.feed(record)
        for why in notes[seen:]:  # holes still open at the end of the capture
            say_note(why)
    yield from replayer.finish()


def run(transcript: Transcript, engine: Engine, *, render: Callable[[ReplayStep], str],
        note: Callable[[str], str], write: Callable[[str], object], path: str | None = None) -> Outcome:
    """Replay ``transcript`` on ``engine``, writing ``render(step)`` for each step and ``note(why)`` for each
    loss note.  Given the ``path`` it came from, it replays on two CPUs (:mod:`h11dbg.replay.parallel`;
    the same output), or on one when no second process can be had."""
    # Everything imported and opened so far lives until the command ends: out of the collector's
    # way, a replay's many short-lived events cost less to collect (and a forked worker shares them).
    gc.freeze()
    if transcript.meta.lossy:  # bytes rebuilt from a HAR or a --trace-ascii dump: said before any event
        write(note(transcript.meta.lossy))
    if path is not None:
        from h11dbg.replay.forked import CannotFork
        from h11dbg.replay.parallel import replay_split

        try:
            return replay_split(transcript.records, path, transcript.notes, transcript.meta, engine,
                                render, note, write)
        except CannotFork:  # no second process to be had: all of it here
            pass
    replayer = Replayer(engine)
    for step in steps(transcript, replayer, lambda why: write(note(why)), lossy_said=True):
        write(render(step))
    return Outcome.of(replayer)
