"""The bounds table (issue 14): what h11dbg.protocol and h11 do at the edges, measured in the same run.

Usage::

    .venv/bin/python bench/bounds.py                 # full sizes (make bounds), a few minutes
    .venv/bin/python bench/bounds.py --quick --json out.json

Each case is a byte stream at a bound: a 1 MB header value and 100 000 header
fields (under the default ``max_incomplete_event_size`` and with it raised),
chunk sizes and Content-Lengths near 2^64, 10 000 pipelined requests, and
messages from 1 KiB to 1 MiB fed one byte at a time.  For each engine the table
shows what it did (accepted, waiting for more bytes, or refused: status hint,
rule and byte offset), how long it took, and for the big inputs the growth of
peak RSS, measured in a fresh subprocess per case and engine as bench/run.py
rows 4/5 do.

Every outcome is checked: the one fed whole must be the one written in
``CASES`` (what each engine is known to do, each difference documented in
docs/differences-from-h11.md), in every timed repetition, so a broken engine
cannot post a fast time; and our engine must give the same outcome fed whole,
in 64 KiB reads and one byte at a time (h11's byte-by-byte outcome is shown
where it differs).  A mismatch stops the run with exit status 1.

Repetitions alternate between the engines and flip their order each time, as in
bench/run.py; the ratio is the median over repetitions of h11 time / our time
(> 1: ours is faster).  Times are wall-clock on whatever machine runs this:
read them as orders of magnitude and ratios, not as exact figures.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

if __package__ in (None, ""):  # run as ``python bench/bounds.py``: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.run import (  # noqa: E402
    KIB,
    MIB,
    MIN_REPS,
    READ_SIZE,
    BenchError,
    _fmt,
    _load,
    _mib,
    _reset_peak_rss,
    _status_kib,
    header_block,
    pipelined_gets,
)
from h11dbg.protocol._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE  # noqa: E402
from h11dbg.ui.exits import ExitCode  # noqa: E402

ENGINES = ("h11dbg", "h11")  # ours first, the reference second
DEFAULT_LIMIT = DEFAULT_MAX_INCOMPLETE_EVENT_SIZE  # 16 KiB in both engines


@dataclass(frozen=True)
class Sizes:
    header_value: int  # bytes in the one big field value
    header_fields: int  # fields in the many-fields head
    pipelined: int
    per_byte: tuple[int, ...]  # message sizes fed one byte at a time
    reps: int
    sample_seconds: float  # small cases repeat until a sample lasts this long
    case_budget_seconds: float  # a slow case gets fewer repetitions (never below MIN_REPS)
    rss_reps: int  # subprocesses per engine for a peak-RSS figure


FULL = Sizes(header_value=1_000_000, header_fields=100_000, pipelined=10_000,
             per_byte=(1 * KIB, 4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, 1 * MIB),
             reps=5, sample_seconds=0.05, case_budget_seconds=10, rss_reps=2)
QUICK = Sizes(header_value=40_000, header_fields=3_000, pipelined=200,
              per_byte=(1 * KIB, 4 * KIB, 16 * KIB, 64 * KIB),
              reps=MIN_REPS, sample_seconds=0.005, case_budget_seconds=1, rss_reps=1)


# ---------------------------------------------------------------------------
# Feeding an engine and saying what it did
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Outcome:
    """What an engine did with a stream: the comparable part of a run."""

    kind: str  # "accepted" (the stream's messages all ended), "waiting" (needs more bytes), "refused"
    events: str  # the events, summarised (Data merged, repeated events counted)
    status: int | None = None  # error_status_hint when refused
    rule: str | None = None  # our engine's rule name (h11 has none)
    offset: int | None = None  # our engine's byte offset of the error (h11 has none)
    message: str | None = None

    def short(self) -> str:
        if self.kind != "refused":
            return self.kind
        if self.rule is None:  # h11: no rule, and a message that may quote the bytes
            return f"{self.status} \"{(self.message or '').split(':')[0]}\""
        where = f" at byte {self.offset:,}" if self.offset is not None else ""
        return f"{self.status} {self.rule}{where}"


def _describe(event: Any) -> str:
    name = type(event).__name__
    fields = list(getattr(event, "headers", ()))
    if name == "EndOfMessage":
        return f"{name}({len(fields):,} trailer fields)" if fields else name
    if not fields and name not in ("Request", "Response", "InformationalResponse"):
        return name
    longest = max((len(value) for _, value in fields), default=0)
    return f"{name}({len(fields):,} fields, longest value {longest:,} B)"


@dataclass(frozen=True)
class Stream:
    """One case's bytes and the connection that reads them."""

    data: bytes
    role: str  # "SERVER" reads requests; "CLIENT" has sent a GET and reads the response
    limit: int = DEFAULT_LIMIT
    answer: bool = False  # a server that answers each request (pipelining)
    complete: int = 1  # messages in the stream: "accepted" means this many EndOfMessage events


@dataclass
class Run:
    """The raw result of feeding a stream: what an engine said, and how many bytes were fed by then.

    Events are described as they come and counted, not kept: a megabyte fed one byte
    at a time is a million Data events, and 10 000 pipelined requests keep 20 000
    objects alive; either would time the garbage collector rather than the engine.
    """

    counts: dict[str, int]  # description -> how many, in order of first appearance; "Data" -> its bytes
    error: BaseException | None
    fed: int

    def summary(self) -> str:
        return ", ".join(f"Data {count:,} B" if description == "Data"
                         else description if count == 1 else f"{description} ×{count:,}"
                         for description, count in self.counts.items())


def connect(engine: ModuleType, stream: Stream) -> Any:
    connection = engine.Connection(getattr(engine, stream.role), max_incomplete_event_size=stream.limit)
    if stream.role == "CLIENT":
        connection.send(engine.Request(method="GET", target="/", headers=[("Host", "example.com")]))
        connection.send(engine.EndOfMessage())
    return connection


def feed(engine: ModuleType, connection: Any, stream: Stream, piece: int | None = None) -> Run:
    """Feed the stream whole (``piece`` None) or in pieces of ``piece`` bytes, reading every event."""
    NEED_DATA, PAUSED, Data, EndOfMessage = engine.NEED_DATA, engine.PAUSED, engine.Data, engine.EndOfMessage
    receive_data, next_event = connection.receive_data, connection.next_event
    data = stream.data
    step = piece or len(data)
    counts: dict[str, int] = {}
    fed = 0
    try:
        for start in range(0, len(data), step):
            receive_data(data[start:start + step])
            fed = min(len(data), start + step)
            while True:
                event = next_event()
                if event is NEED_DATA or event is PAUSED:
                    break
                if type(event) is Data:
                    counts["Data"] = counts.get("Data", 0) + len(event.data)
                    continue
                description = _describe(event)
                counts[description] = counts.get(description, 0) + 1
                if stream.answer and type(event) is EndOfMessage:
                    connection.send(engine.Response(status_code=200, headers=[("Content-Length", "0")]))
                    connection.send(EndOfMessage())
                    connection.start_next_cycle()
    except engine.RemoteProtocolError as error:
        return Run(counts, error, fed)
    return Run(counts, None, fed)


def outcome_of(engine: ModuleType, stream: Stream, run: Run) -> Outcome:
    events = run.summary()
    error = run.error
    if error is not None:
        return Outcome("refused", events, getattr(error, "error_status_hint", None), getattr(error, "rule", None),
                       getattr(error, "offset", None), str(error))
    ended = sum(count for description, count in run.counts.items() if description.startswith("EndOfMessage"))
    return Outcome("accepted" if ended == stream.complete else "waiting", events)


# ---------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------

def big_header(sizes: Sizes) -> bytes:
    return (b"GET /big-header HTTP/1.1\r\nHost: example.com\r\nX-Big: " + b"v" * sizes.header_value
            + b"\r\n\r\n")


def many_fields(sizes: Sizes) -> bytes:
    fields = b"".join(b"X-Field-%d: v\r\n" % i for i in range(sizes.header_fields))
    return b"GET /many-fields HTTP/1.1\r\nHost: example.com\r\n" + fields + b"\r\n"


CHUNKED_HEAD = b"POST /upload HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
CONTENT_LENGTH_HEAD = b"POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: %s\r\n\r\n"


def chunk_size_stream(size: bytes) -> bytes:
    """A chunked request whose first chunk-size line is ``size``, then 5 bytes of its data."""
    return CHUNKED_HEAD + size + b"\r\nhello"


def _chunk(size: int) -> bytes:
    return b"%x\r\n" % size + b"." * size + b"\r\n"


def _exact_chunk(left: int) -> int:
    """The data size of one chunk that is exactly ``left`` bytes on the wire, or 0."""
    for digits in (1, 2, 3):
        size = left - digits - 4
        if 1 <= size <= 1000 and len(b"%x" % size) == digits:
            return size
    return 0


def chunked_message(total: int) -> bytes:
    """A chunked POST of exactly ``total`` bytes: its head, chunks of at most 1000 bytes, the last chunk."""
    head, last = CHUNKED_HEAD, b"0\r\n\r\n"
    left = total - len(head) - len(last)
    chunks = []
    while left > 0 and not _exact_chunk(left):
        # a full chunk while more than two are left, then the largest that leaves an exact remainder
        size = 1000 if left > 2 * len(_chunk(1000)) else next(
            (size for size in range(min(1000, left - 10), 0, -1) if _exact_chunk(left - len(_chunk(size)))), 0)
        if not size:
            raise ValueError(f"cannot build a {total}-byte chunked message")
        chunks.append(_chunk(size))
        left -= len(chunks[-1])
    if left > 0:
        chunks.append(_chunk(_exact_chunk(left)))
    message = head + b"".join(chunks) + last
    if len(message) != total:
        raise ValueError(f"cannot build a {total}-byte chunked message (got {len(message)})")
    return message


def _expect_request(fields: int, longest: int, *rest: str) -> str:
    return ", ".join([f"Request({fields:,} fields, longest value {longest:,} B)", *rest])


@dataclass(frozen=True)
class Case:
    id: str
    title: Callable[[Sizes], str]
    stream: Callable[[Sizes], Stream]
    # What each engine does fed whole: {engine: Outcome}, given the sizes.
    expect: Callable[[Sizes], dict[str, Outcome]]
    rss: bool = False  # measure peak RSS in subprocesses
    group: str = "bounds"  # "bounds" (fed whole) or "per-byte" (fed one byte at a time)

    @property
    def piece(self) -> int | None:
        """How the timed and peak-RSS runs feed the stream: whole (None) or one byte at a time."""
        return 1 if self.group == "per-byte" else None


REFUSED_TOO_BIG = Outcome("refused", "", 431, "max-incomplete-event-size", 0, "Receive buffer too long")


def _big_header_default(sizes: Sizes) -> dict[str, Outcome]:
    # h11 checks its buffer against the limit only when it runs out of data: a head fed whole passes
    return {"h11dbg": REFUSED_TOO_BIG,
            "h11": Outcome("accepted", _expect_request(2, sizes.header_value, "EndOfMessage"))}


def _big_header_raised(sizes: Sizes) -> dict[str, Outcome]:
    accepted = Outcome("accepted", _expect_request(2, sizes.header_value, "EndOfMessage"))
    return {"h11dbg": accepted, "h11": accepted}


def _many_fields_default(sizes: Sizes) -> dict[str, Outcome]:
    return {"h11dbg": REFUSED_TOO_BIG,
            "h11": Outcome("accepted", _expect_request(sizes.header_fields + 1, 11, "EndOfMessage"))}


def _many_fields_raised(sizes: Sizes) -> dict[str, Outcome]:
    accepted = Outcome("accepted", _expect_request(sizes.header_fields + 1, 11, "EndOfMessage"))
    return {"h11dbg": accepted, "h11": accepted}


UPLOAD_REQUEST = _expect_request(2, 11)  # Host and one framing field: "example.com" is the longest value
CHUNK_SIZE_OFFSET = len(CHUNKED_HEAD)
CONTENT_LENGTH_OFFSET = CONTENT_LENGTH_HEAD.index(b"%s")  # our offset: the value


def _chunk_case(case_id: str, size: bytes, what: str, ours_refuses: bool, h11_refuses: bool) -> Case:
    waiting = Outcome("waiting", f"{UPLOAD_REQUEST}, Data 5 B")
    ours = (Outcome("refused", UPLOAD_REQUEST, 400, "chunk-size-overflow", CHUNK_SIZE_OFFSET, "chunk size too large")
            if ours_refuses else waiting)
    h11_message = "illegal chunk header: " + repr(bytearray(size + b"\r\n"))
    h11 = Outcome("refused", UPLOAD_REQUEST, 400, None, None, h11_message) if h11_refuses else waiting
    return Case(case_id, lambda s: f"chunk-size `{size.decode()}` ({what})",
                lambda s: Stream(chunk_size_stream(size), "SERVER"), lambda s: {"h11dbg": ours, "h11": h11})


def _content_length_case(case_id: str, value: int, what: str, ours_refuses: bool, h11_refuses: bool) -> Case:
    text = b"%d" % value
    waiting = Outcome("waiting", _expect_request(2, max(11, len(text)), "Data 5 B"))
    ours = (Outcome("refused", "", 400, "content-length-overflow", CONTENT_LENGTH_OFFSET,
                    "Content-Length too large: more than 2**64 - 1") if ours_refuses else waiting)
    h11 = Outcome("refused", "", 400, None, None, "bad Content-Length") if h11_refuses else waiting
    return Case(case_id, lambda s: f"Content-Length {value} ({what}, {len(text)} digits)",
                lambda s: Stream(CONTENT_LENGTH_HEAD % text + b"hello", "SERVER"),
                lambda s: {"h11dbg": ours, "h11": h11})


def _pipelined(sizes: Sizes) -> dict[str, Outcome]:
    requests = (f"Request(3 fields, longest value 16 B) ×{sizes.pipelined:,}, "
                f"EndOfMessage ×{sizes.pipelined:,}")
    accepted = Outcome("accepted", requests)
    return {"h11dbg": accepted, "h11": accepted}


def size_label(size: int) -> str:
    return f"{size // MIB} MiB" if size >= MIB else f"{size // KIB} KiB"


def _per_byte_id(series: str, size: int) -> str:
    return f"6{series}-{size_label(size).split()[0]}{size_label(size)[-3].lower()}"


def _per_byte_head(size: int, largest: bool) -> Case:
    def stream(sizes: Sizes) -> Stream:
        return Stream(header_block(size), "SERVER", limit=max(DEFAULT_LIMIT, size))

    def expect(sizes: Sizes) -> dict[str, Outcome]:
        block = header_block(size)
        fields = block.count(b"\r\n") - 2
        longest = max(len(line.split(b": ", 1)[1]) for line in block.split(b"\r\n")[1:-2])
        accepted = Outcome("accepted", _expect_request(fields, longest, "EndOfMessage"))
        return {"h11dbg": accepted, "h11": accepted}

    limit = "default limit" if size <= DEFAULT_LIMIT else f"limit raised to {size_label(size)}"
    return Case(_per_byte_id("h", size), lambda s: f"{size_label(size)} head ({limit})", stream, expect,
                rss=largest, group="per-byte")


def _per_byte_body(size: int, largest: bool) -> Case:
    def expect(sizes: Sizes) -> dict[str, Outcome]:
        body = chunked_message(size)[len(CHUNKED_HEAD):].count(b".")  # the data bytes (no "." in a size line)
        accepted = Outcome("accepted", f"{UPLOAD_REQUEST}, Data {body:,} B, EndOfMessage")
        return {"h11dbg": accepted, "h11": accepted}

    return Case(_per_byte_id("b", size), lambda s: f"{size_label(size)} chunked POST (1000-byte chunks)",
                lambda s: Stream(chunked_message(size), "SERVER"), expect, rss=largest, group="per-byte")


def cases(sizes: Sizes) -> list[Case]:
    raised = 2 * MIB
    return [
        Case("1a", lambda s: f"one {s.header_value:,}-byte header value, default limit (16 KiB)",
             lambda s: Stream(big_header(s), "SERVER"), _big_header_default, rss=True),
        Case("1b", lambda s: f"one {s.header_value:,}-byte header value, limit raised to 2 MiB",
             lambda s: Stream(big_header(s), "SERVER", limit=raised), _big_header_raised, rss=True),
        Case("2a", lambda s: f"{s.header_fields:,} header fields, default limit (16 KiB)",
             lambda s: Stream(many_fields(s), "SERVER"), _many_fields_default, rss=True),
        Case("2b", lambda s: f"{s.header_fields:,} header fields, limit raised to 2 MiB",
             lambda s: Stream(many_fields(s), "SERVER", limit=raised), _many_fields_raised, rss=True),
        _chunk_case("3a", b"FFFFFFFFFFFFFFFE", "2^64 - 2, 16 digits", False, False),
        _chunk_case("3b", b"FFFFFFFFFFFFFFFF", "2^64 - 1, 16 digits", False, False),
        _chunk_case("3c", b"10000000000000000", "2^64, 17 digits", True, False),
        _chunk_case("3d", b"FFFFFFFFFFFFFFFFF", "17 digits", True, False),
        _chunk_case("3e", b"0000FFFFFFFFFFFFFFFF", "2^64 - 1, 20 characters with leading zeros", False, False),
        _chunk_case("3f", b"FFFFFFFFFFFFFFFFFFFF", "20 digits", True, False),
        _chunk_case("3g", b"1" + b"0" * 20, "21 digits", True, True),
        _content_length_case("4a", 2**63 - 1, "2^63 - 1", False, False),
        _content_length_case("4b", 2**64 - 1, "2^64 - 1", False, False),
        _content_length_case("4c", 2**64, "2^64", True, False),
        _content_length_case("4d", 10**20 - 1, "the largest", True, False),
        _content_length_case("4e", 10**20, "10^20", True, True),
        Case("5", lambda s: f"{s.pipelined:,} pipelined GETs fed whole, each answered",
             lambda s: Stream(pipelined_gets(s.pipelined), "SERVER", answer=True, complete=s.pipelined),
             _pipelined, rss=True),
        *(_per_byte_head(size, size == max(sizes.per_byte)) for size in sizes.per_byte),
        *(_per_byte_body(size, size == max(sizes.per_byte)) for size in sizes.per_byte),
    ]


# ---------------------------------------------------------------------------
# Checking and measuring
# ---------------------------------------------------------------------------

FEEDINGS = (("whole", None), ("in 64 KiB reads", READ_SIZE), ("byte by byte", 1))


def check_feedings(case: Case, sizes: Sizes, name: str, engine: ModuleType) -> dict[str, Any]:
    """Feed the case whole, in 64 KiB reads and one byte at a time (untimed), check each, report each."""
    stream = case.stream(sizes)
    expected = case.expect(sizes)[name]
    report: dict[str, Any] = {}
    for how, piece in FEEDINGS:
        run = feed(engine, connect(engine, stream), stream, piece)
        got = outcome_of(engine, stream, run)
        if how == "whole" and got != expected:
            raise BenchError(f"case {case.id} ({case.title(sizes)}): {name} fed whole: "
                             f"expected {expected}, got {got}")
        if name == ENGINES[0] and got != expected:
            # Ours promises the same result however the bytes arrive (docs/differences-from-h11.md).
            raise BenchError(f"case {case.id} ({case.title(sizes)}): {name} is split-dependent: "
                             f"fed whole {expected}, fed {how} {got}")
        report[how] = {"outcome": asdict(got), "fed_bytes": run.fed}
    return report


@dataclass
class Timing:
    samples: list[float]  # seconds per run, one per repetition
    iterations: int  # runs per sample

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def _sample(engine: ModuleType, stream: Stream, piece: int | None, n: int) -> tuple[float, list[Run]]:
    connections = [connect(engine, stream) for _ in range(n)]
    gc.collect()
    start = time.perf_counter()
    runs = [feed(engine, connection, stream, piece) for connection in connections]
    return (time.perf_counter() - start) / n, runs


def measure(group: list[Case], sizes: Sizes, engines: dict[str, ModuleType]) -> dict[str, dict[str, Timing]]:
    """Time each case of the group fed whole (per-byte cases: one byte at a time), per engine.

    The cases of a group share repetitions, and every repetition runs both
    engines in alternating order, so ratios (between engines, between sizes)
    pair figures taken under the same load.  Every run's outcome is checked.
    """
    streams = {case.id: case.stream(sizes) for case in group}
    expected = {case.id: case.expect(sizes) for case in group}
    pieces = {case.id: case.piece for case in group}
    counts: dict[str, int] = {}
    for case in group:  # warm up, and pick runs per sample from the slower engine
        single = [_sample(engine, streams[case.id], pieces[case.id], 1)[0] for engine in engines.values()]
        counts[case.id] = max(1, min(10_000, int(sizes.sample_seconds / max(single))))
    timings = {case.id: {name: Timing([], counts[case.id]) for name in engines} for case in group}
    names = list(engines)
    started = time.perf_counter()
    for rep in range(sizes.reps):
        if rep >= MIN_REPS and time.perf_counter() - started > sizes.case_budget_seconds * len(group):
            break
        for name in names if rep % 2 == 0 else reversed(names):
            for case in group if rep % 2 == 0 else reversed(group):
                stream = streams[case.id]
                seconds, runs = _sample(engines[name], stream, pieces[case.id], counts[case.id])
                for run in runs:
                    got = outcome_of(engines[name], stream, run)
                    if got != expected[case.id][name]:
                        raise BenchError(f"case {case.id}: {name} (timed run): expected "
                                         f"{expected[case.id][name]}, got {got}")
                timings[case.id][name].samples.append(seconds)
    return timings


def paired_ratio(ours: Timing, reference: Timing) -> float:
    """Median over repetitions of reference time / our time (> 1: ours is faster)."""
    return statistics.median(ref / mine for mine, ref in zip(ours.samples, reference.samples, strict=True))


def _trim_heap() -> None:
    """Give freed heap memory back to the system (glibc), so that what the case allocates shows as growth.

    Building a case's input frees as much memory as it keeps; without this, malloc
    hands that already-resident memory to the engine and a megabyte buffer shows as
    no growth at all.
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def rss_worker(case_id: str, engine_name: str, quick: bool) -> dict[str, Any]:
    """One run of a case in this (fresh) process, fed as it is timed: its peak-RSS growth and outcome."""
    sizes = QUICK if quick else FULL
    case = next(case for case in cases(sizes) if case.id == case_id)
    engine = _load(engine_name)
    warm = Stream(header_block(KIB), "SERVER")  # imports, compiled patterns, caches
    feed(engine, connect(engine, warm), warm)
    stream = case.stream(sizes)
    connection = connect(engine, stream)
    gc.collect()
    _trim_heap()
    baseline_kib = _status_kib("VmRSS")
    exact = baseline_kib is not None and _reset_peak_rss()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    run = feed(engine, connection, stream, case.piece)
    elapsed = time.perf_counter() - start
    if exact:
        growth = max(0, (_status_kib("VmHWM") or 0) - (baseline_kib or 0)) * KIB
    else:  # ru_maxrss cannot be reset: growth under an earlier peak is missed
        growth = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - maxrss_before) * KIB
    return {"rss_growth": growth, "exact_rss": exact, "elapsed": elapsed,
            "outcome": asdict(outcome_of(engine, stream, run))}


def measure_rss(case: Case, sizes: Sizes, quick: bool) -> dict[str, int]:
    """The largest peak-RSS growth over a few fresh subprocesses per engine, in alternating order."""
    growth: dict[str, int] = {name: 0 for name in ENGINES}
    for rep in range(sizes.rss_reps):
        for name in ENGINES if rep % 2 == 0 else reversed(ENGINES):
            command = [sys.executable, str(Path(__file__).resolve()), "--worker", case.id, "--engine", name]
            done = subprocess.run(command + (["--quick"] if quick else []), capture_output=True, text=True,
                                  timeout=600)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                raise BenchError(f"case {case.id}: the peak-RSS worker for {name} failed: {last}")
            report = json.loads(done.stdout)
            expected = asdict(case.expect(sizes)[name])
            if report["outcome"] != expected:
                raise BenchError(f"case {case.id}: {name} (peak-RSS run): expected {expected}, "
                                 f"got {report['outcome']}")
            growth[name] = max(growth[name], report["rss_growth"])
    return growth


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------

def _seconds(value: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e3), ("µs", 1e6)):
        if value * scale >= 1:
            return f"{_fmt(value * scale)} {unit}"
    return f"{_fmt(value * 1e9)} ns"


def _feedings_cell(report: dict[str, Any]) -> str:
    """How the other feedings compare with the whole one, per engine."""
    parts = []
    for name in ENGINES:
        feedings = report["engines"][name]["feedings"]
        whole = feedings["whole"]["outcome"]
        notes = []
        for how, _ in FEEDINGS[1:]:
            entry = feedings[how]
            outcome = Outcome(**entry["outcome"])
            if entry["outcome"] != whole:
                notes.append(f"{how}: {outcome.short()}, after {entry['fed_bytes']:,} B")
            elif outcome.kind == "refused" and how == "byte by byte":
                notes.append(f"byte by byte: refused at byte {entry['fed_bytes']:,} fed")
        same = "same" if all(entry["outcome"] == whole for entry in feedings.values()) else "differs"
        parts.append(f"{name}: {same}" + (f" ({'; '.join(notes)})" if notes else ""))
    return "; ".join(parts)


def _rss_cell(a: dict[str, Any], b: dict[str, Any]) -> str:
    return f"{_mib(a['rss_growth_bytes'])} / {_mib(b['rss_growth_bytes'])}" if "rss_growth_bytes" in a else "–"


def _table(columns: list[tuple[str, str]], reports: list[dict[str, Any]],
           cells: Callable[[dict[str, Any], dict[str, Any], dict[str, Any]], list[str]]) -> str:
    """A markdown table: ``columns`` are (heading, alignment), ``cells`` makes a row from a report
    and its two engines' entries."""
    lines = ["| " + " | ".join(heading for heading, _ in columns) + " |",
             "|" + "|".join(align for _, align in columns) + "|"]
    for report in reports:
        a, b = (report["engines"][name] for name in ENGINES)
        lines.append("| " + " | ".join([report["id"], report["title"], *cells(report, a, b)]) + " |")
    return "\n".join(lines)


def bounds_table(reports: list[dict[str, Any]]) -> str:
    ours, ref = ENGINES
    columns = [("#", "---"), ("case", "---"), (ours, "---"), (ref, "---"), (f"time {ours} / {ref}", "--:"),
               ("ratio", "--:"), (f"peak RSS growth {ours} / {ref}", "--:"),
               ("fed in 64 KiB reads, byte by byte", "---")]
    return _table(columns, reports, lambda report, a, b: [
        Outcome(**a["outcome"]).short(), Outcome(**b["outcome"]).short(),
        f"{_seconds(a['median_seconds'])} / {_seconds(b['median_seconds'])}", f"{report['ratio']:.2f}×",
        _rss_cell(a, b), _feedings_cell(report)])


def per_byte_table(reports: list[dict[str, Any]]) -> str:
    ours, ref = ENGINES
    columns = [("#", "---"), ("fed one byte at a time", "---"), (f"{ours} ns/B", "--:"), (f"{ref} ns/B", "--:"),
               ("ratio", "--:"), (f"per-byte growth over the previous size {ours} / {ref}", "--:"),
               (f"peak RSS growth {ours} / {ref}", "--:")]
    return _table(columns, reports, lambda report, a, b: [
        _fmt(a["ns_per_byte"]), _fmt(b["ns_per_byte"]), f"{report['ratio']:.2f}×",
        f"{a['growth']:.2f}× / {b['growth']:.2f}×" if "growth" in a else "–", _rss_cell(a, b)])


def case_report(case: Case, sizes: Sizes, timings: dict[str, Timing], feedings: dict[str, Any]) -> dict[str, Any]:
    size = len(case.stream(sizes).data)
    engines: dict[str, Any] = {}
    for name in ENGINES:
        timing = timings[name]
        entry: dict[str, Any] = {
            "outcome": asdict(case.expect(sizes)[name]),
            "feedings": feedings[name],
            "median_seconds": timing.median,
            "samples_seconds": timing.samples,
            "iterations_per_sample": timing.iterations,
        }
        if case.group == "per-byte":
            entry["ns_per_byte"] = timing.median / size * 1e9
        engines[name] = entry
    return {"id": case.id, "title": case.title(sizes), "group": case.group, "bytes": size,
            "engines": engines, "ratio": paired_ratio(timings[ENGINES[0]], timings[ENGINES[1]])}


def add_growth(reports: list[dict[str, Any]], timings: dict[str, dict[str, Timing]]) -> None:
    """Per-byte cost of each size over the previous size in its series, paired by repetition."""
    previous: dict[str, dict[str, Any]] = {}
    for report in reports:
        series = report["id"].split("-")[0]
        before = previous.get(series)
        previous[series] = report
        if before is None:
            continue
        for name in ENGINES:
            now, then = timings[report["id"]][name], timings[before["id"]][name]
            factors = [(t / report["bytes"]) / (p / before["bytes"])
                       for t, p in zip(now.samples, then.samples, strict=True)]
            report["engines"][name]["growth"] = statistics.median(factors)
            report["engines"][name]["growth_over"] = before["id"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="The bounds table: h11dbg.protocol and h11 at the edges, in one run (docs/robustness.md).")
    parser.add_argument("--quick", action="store_true", help="small sizes, two repetitions (the smoke test)")
    parser.add_argument("--cases", help="only these cases, by id or prefix, e.g. 1a,3,6h (default: all)")
    parser.add_argument("--json", dest="json_out", metavar="OUT", help="also write the results to this JSON file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL

    if args.worker:
        print(json.dumps(rss_worker(args.worker, args.engine, args.quick)))
        return ExitCode.OK

    selected = cases(sizes)
    if args.cases:
        wanted = [part.strip() for part in args.cases.split(",") if part.strip()]
        unknown = [part for part in wanted if not any(case.id.startswith(part) for case in selected)]
        if unknown:
            print(f"bounds: unknown case {unknown[0]!r}: choose from "
                  f"{', '.join(case.id for case in selected)}", file=sys.stderr)
            return ExitCode.USAGE
        selected = [case for case in selected if any(case.id.startswith(part) for part in wanted)]
    engines = {name: _load(name) for name in ENGINES}

    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    reports: list[dict[str, Any]] = []
    all_timings: dict[str, dict[str, Timing]] = {}
    bounds = [case for case in selected if case.group == "bounds"]
    per_byte = [case for case in selected if case.group == "per-byte"]
    for group in [[case] for case in bounds] + ([per_byte] if per_byte else []):
        for case in group:
            print(f"running {case.id}: {case.title(sizes)} ...", file=sys.stderr, flush=True)
        feedings = {case.id: {name: check_feedings(case, sizes, name, engine) for name, engine in engines.items()}
                    for case in group}
        timings = measure(group, sizes, engines)
        all_timings.update(timings)
        for case in group:
            report = case_report(case, sizes, timings[case.id], feedings[case.id])
            if case.rss:
                for name, growth in measure_rss(case, sizes, args.quick).items():
                    report["engines"][name]["rss_growth_bytes"] = growth
            reports.append(report)
    per_byte_reports = [report for report in reports if report["group"] == "per-byte"]
    add_growth(per_byte_reports, all_timings)
    elapsed = time.perf_counter() - started
    load_after = os.getloadavg()[0]

    versions = ", ".join(f"{name} {getattr(engine, '__version__', '?')}" for name, engine in engines.items())
    print(f"Engines: {versions}. Python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {load_before:.1f} before / {load_after:.1f} after; "
          f"{'quick' if args.quick else 'full'} run in {elapsed:.0f} s. Outcomes fed whole; times are medians "
          f"of interleaved repetitions; ratio = median of h11 time / h11dbg time in the same repetition "
          f"(> 1: h11dbg is faster).")
    bounds_reports = [report for report in reports if report["group"] == "bounds"]
    if bounds_reports:
        print()
        print(bounds_table(bounds_reports))
    if per_byte_reports:
        print()
        print(per_byte_table(per_byte_reports))
    if args.json_out:
        meta = {"engines": list(ENGINES), "versions": versions, "quick": args.quick,
                "default_limit": DEFAULT_LIMIT, "load_average_before": load_before,
                "load_average_after": load_after, "python": platform.python_version(),
                "machine": platform.machine(), "cpus": os.cpu_count(),
                "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seconds": elapsed}
        Path(args.json_out).write_text(json.dumps({"meta": meta, "cases": reports}, indent=2) + "\n")
    return ExitCode.OK


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bounds: {exc}", file=sys.stderr)
        sys.exit(ExitCode.PROTOCOL_ERROR)
    except KeyboardInterrupt:
        sys.exit(ExitCode.INTERRUPTED)
