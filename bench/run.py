"""Benchmark two engines that offer h11's API, measured in the same run.

Usage::

    .venv/bin/python bench/run.py                      # h11dbg.protocol vs h11, full sizes
    .venv/bin/python bench/run.py --quick --engines h11,h11
    .venv/bin/python bench/run.py --rows 4,5 --json out.json --profile

The first engine is "ours", the second the reference.  Repetitions alternate
between the engines (and flip the order every repetition), so a machine that
gets busier or cooler half-way through the run penalises both sides alike.
The ratio column is ``reference time / our time``: above 1 means ours is faster.

Rows 4 and 5 stream 100 MiB; each of their repetitions runs in its own
subprocess so peak-RSS growth is attributable to one engine: the peak is reset
(``/proc/self/clear_refs``) just before the body is fed and read back after.

Every workload checks the events it gets (types, counts, body sizes) and fails
loudly on a mismatch, so a broken engine cannot post a fast time.

Row 7 (7a-7h) is replay speed, ``h11dbg replay FILE > /dev/null`` on generated
traffic as a transcript and as a pcap, with our engine only; it lives in
bench/replay.py and prints a second table (MB/s and peak RSS, no reference).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import json
import os
import platform
import pstats
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, cast

if __package__ in (None, ""):  # run as ``python bench/run.py``: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from h11dbg.engines import EngineUnavailable, load_engine  # noqa: E402
from h11dbg.ui.exits import ExitCode  # noqa: E402

SPEED_TARGET = 1.5  # ours must be at least this many times faster than the reference
RSS_TARGET_BYTES = 2 * 1024 * 1024
SCALING_TARGET = 1.5  # 64 KiB vs 1 KiB per-byte cost; "near 1" means below this

KIB = 1024
MIB = 1024 * 1024
READ_SIZE = 64 * KIB
CHUNK_SIZE = 16 * KIB
CHUNKS_PER_PIECE = READ_SIZE // CHUNK_SIZE
# Where the first read ends inside the periodic chunked stream: inside the data
# of the third chunk, so every read boundary splits a chunk the way a socket
# would, rather than landing politely on chunk boundaries.
CHUNKED_READ_OFFSET = 40_000
SMALL_HEADER_BLOCK = 1 * KIB
MIN_REPS = 2  # repetitions per engine, even when a row runs over its time budget


class BenchError(Exception):
    """An engine produced events the workload did not expect."""


@dataclass(frozen=True)
class Sizes:
    body_mib: int
    pipelined: int
    big_header_block: int
    sample_seconds: float
    reps: int
    stream_reps: int  # subprocesses per engine for the streaming rows
    stream_reads: int  # body reads per subprocess
    # A slow engine gets fewer repetitions (never below MIN_REPS) rather than
    # stretching the full run past a few minutes.
    row_budget_seconds: float


FULL = Sizes(body_mib=100, pipelined=1000, big_header_block=64 * KIB, sample_seconds=0.08, reps=11,
             stream_reps=5, stream_reads=3, row_budget_seconds=20)
QUICK = Sizes(body_mib=2, pipelined=100, big_header_block=8 * KIB, sample_seconds=0.005, reps=3,
              stream_reps=1, stream_reads=1, row_budget_seconds=2)

# A builder prepares everything n iterations need (connections, buffers) and
# returns the callable that is timed.
Runner = Callable[[], None]
Builder = Callable[[ModuleType, Sizes, int], Runner]


# ---------------------------------------------------------------------------
# Workloads.  Each talks to the engine only through h11's public API.
# ---------------------------------------------------------------------------

def _unexpected(what: str, event: object) -> BenchError:
    return BenchError(f"{what}: unexpected event {event!r}")


def build_cycle(engine: ModuleType, sizes: Sizes, n: int) -> Runner:
    Connection, CLIENT, SERVER = engine.Connection, engine.CLIENT, engine.SERVER
    Request, Response, Data, EndOfMessage = engine.Request, engine.Response, engine.Data, engine.EndOfMessage
    request_headers = [("Host", "example.com"), ("User-Agent", "h11dbg-bench/1"), ("Accept", "*/*")]
    body = b"Hello, world!"
    response_headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]

    def run() -> None:
        for _ in range(n):
            client = Connection(CLIENT)
            server = Connection(SERVER)
            server.receive_data(client.send(Request(method="GET", target="/", headers=request_headers))
                                + client.send(EndOfMessage()))
            event = server.next_event()
            if type(event) is not Request:
                raise _unexpected("server", event)
            event = server.next_event()
            if type(event) is not EndOfMessage:
                raise _unexpected("server", event)
            client.receive_data(server.send(Response(status_code=200, headers=response_headers))
                                + server.send(Data(data=body)) + server.send(EndOfMessage()))
            event = client.next_event()
            if type(event) is not Response:
                raise _unexpected("client", event)
            event = client.next_event()
            if type(event) is not Data:
                raise _unexpected("client", event)
            event = client.next_event()
            if type(event) is not EndOfMessage:
                raise _unexpected("client", event)

    return run


# Header names and values modelled on what a current desktop Chrome sends for
# a top-level navigation (written out here, not captured from anyone's traffic).
BROWSER_GET = (
    b"GET /articles/2024/http-semantics?ref=home HTTP/1.1\r\n"
    b"Host: www.example.org\r\n"
    b"Connection: keep-alive\r\n"
    b'sec-ch-ua: "Chromium";v="124", "Google Chrome";v="124", "Not-A.Brand";v="99"\r\n'
    b"sec-ch-ua-mobile: ?0\r\n"
    b'sec-ch-ua-platform: "Linux"\r\n'
    b"Upgrade-Insecure-Requests: 1\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/124.0.0.0 Safari/537.36\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    b"image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7\r\n"
    b"Sec-Fetch-Site: same-origin\r\n"
    b"Sec-Fetch-Mode: navigate\r\n"
    b"Accept-Encoding: gzip, deflate, br, zstd\r\n"
    b"Accept-Language: en-GB,en;q=0.9,de;q=0.8\r\n"
    b"\r\n"
)
BROWSER_GET_HEADERS = 12


def build_browser_get(engine: ModuleType, sizes: Sizes, n: int) -> Runner:
    Request, EndOfMessage = engine.Request, engine.EndOfMessage
    servers = [engine.Connection(engine.SERVER) for _ in range(n)]
    data = BROWSER_GET

    def run() -> None:
        for server in servers:
            server.receive_data(data)
            event = server.next_event()
            if type(event) is not Request or len(event.headers) != BROWSER_GET_HEADERS:
                raise _unexpected("server", event)
            event = server.next_event()
            if type(event) is not EndOfMessage:
                raise _unexpected("server", event)

    return run


def pipelined_gets(count: int) -> bytes:
    return b"".join(
        b"GET /items/%d HTTP/1.1\r\nHost: api.example.org\r\nUser-Agent: h11dbg-bench/1\r\n"
        b"Accept: application/json\r\n\r\n" % i
        for i in range(count)
    )


def build_pipelined(engine: ModuleType, sizes: Sizes, n: int) -> Runner:
    Request, Response, Data, EndOfMessage = engine.Request, engine.Response, engine.Data, engine.EndOfMessage
    NEED_DATA, PAUSED = engine.NEED_DATA, engine.PAUSED
    count = sizes.pipelined
    data = pipelined_gets(count)
    servers = [engine.Connection(engine.SERVER) for _ in range(n)]
    body = b'{"ok":true}'
    response_headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]

    def run() -> None:
        for server in servers:
            server.receive_data(data)
            out: list[bytes] = []
            requests = answered = 0
            while True:
                event = server.next_event()
                kind = type(event)
                if kind is Request:
                    requests += 1
                elif kind is EndOfMessage:
                    pass
                elif event is PAUSED or (event is NEED_DATA and answered < requests):
                    # PAUSED: the next request is already buffered; NEED_DATA
                    # after the last one: nothing buffered, but it still needs
                    # its answer.
                    out.append(server.send(Response(status_code=200, headers=response_headers)))
                    out.append(server.send(Data(data=body)))
                    out.append(server.send(EndOfMessage()))
                    server.start_next_cycle()
                    answered += 1
                elif event is NEED_DATA:
                    break
                else:
                    raise _unexpected("server", event)
            if requests != count or answered != count:
                raise BenchError(f"pipelined: {requests} requests, {answered} answered, expected {count}")

    return run


def _read_response(engine: ModuleType, feeds: list[tuple[bytes, int]], expected_body: int) -> Runner:
    """A client that has sent its GET reads a response fed as ``(piece, repeat)`` runs."""
    Response, Data, EndOfMessage = engine.Response, engine.Data, engine.EndOfMessage
    NEED_DATA = engine.NEED_DATA
    client = engine.Connection(engine.CLIENT)
    client.send(engine.Request(method="GET", target="/large", headers=[("Host", "example.com")]))
    client.send(EndOfMessage())

    def run() -> None:
        receive_data, next_event = client.receive_data, client.next_event
        received = 0
        finished = False
        for piece, repeat in feeds:
            for _ in range(repeat):
                receive_data(piece)
                while True:
                    event = next_event()
                    kind = type(event)
                    if kind is Data:
                        received += len(event.data)
                    elif event is NEED_DATA:
                        break
                    elif kind is Response:
                        pass
                    elif kind is EndOfMessage:
                        finished = True
                        break
                    else:
                        raise _unexpected("client", event)
        if not finished or received != expected_body:
            raise BenchError(f"body: read {received} of {expected_body} bytes, finished={finished}")

    return run


def build_content_length(engine: ModuleType, sizes: Sizes, n: int) -> Runner:
    if n != 1:
        raise ValueError("streaming rows run one body per iteration")
    total = sizes.body_mib * MIB
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Length: %d\r\n\r\n" % total)
    piece = bytes(range(256)) * (READ_SIZE // 256)
    return _read_response(engine, [(head, 1), (piece, total // READ_SIZE)], total)


def build_chunked(engine: ModuleType, sizes: Sizes, n: int) -> Runner:
    if n != 1:
        raise ValueError("streaming rows run one body per iteration")
    chunk = b"%x\r\n" % CHUNK_SIZE + bytes(range(256)) * (CHUNK_SIZE // 256) + b"\r\n"
    period = chunk * CHUNKS_PER_PIECE  # the wire stream repeats with this period
    periods = sizes.body_mib * MIB // (CHUNK_SIZE * CHUNKS_PER_PIECE)
    cut = CHUNKED_READ_OFFSET
    # period * periods == period[:cut] + rotated * (periods - 1) + period[cut:],
    # so one rotated bytes object, fed repeatedly, reproduces the whole stream.
    rotated = period[cut:] + period[:cut]
    head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    feeds = [(head + period[:cut], 1), (rotated, periods - 1), (period[cut:] + b"0\r\n\r\n", 1)]
    return _read_response(engine, feeds, periods * CHUNK_SIZE * CHUNKS_PER_PIECE)


def header_block(size: int) -> bytes:
    """A GET whose head (request line to blank line) is exactly ``size`` bytes."""
    start = b"GET /header-test HTTP/1.1\r\nHost: example.com\r\n"
    lines = [start]
    used = len(start) + 2  # the final blank line
    filler = 0
    while True:
        name = b"X-Filler-%04d: " % filler
        left = size - used - len(name) - 2
        if left < 1:
            raise ValueError(f"cannot build a {size}-byte header block")
        if left <= 120:
            lines.append(name + b"v" * left + b"\r\n")
            break
        value_len = min(60, left - 30)  # leave room for one more line
        lines.append(name + b"v" * value_len + b"\r\n")
        used += len(name) + value_len + 2
        filler += 1
    lines.append(b"\r\n")
    block = b"".join(lines)
    assert len(block) == size, (len(block), size)
    return block


def _build_bytewise(size: int) -> Builder:
    def build(engine: ModuleType, sizes: Sizes, n: int) -> Runner:
        block = header_block(size)
        single_bytes = [block[i:i + 1] for i in range(len(block))]
        # The same generous limit for every engine: the row measures rescanning,
        # not the size guard.
        servers = [engine.Connection(engine.SERVER, max_incomplete_event_size=4 * MIB) for _ in range(n)]
        NEED_DATA, Request = engine.NEED_DATA, engine.Request

        def run() -> None:
            for server in servers:
                receive_data, next_event = server.receive_data, server.next_event
                fed = 0
                event: object = NEED_DATA
                for byte in single_bytes:
                    receive_data(byte)
                    fed += 1
                    event = next_event()
                    if event is not NEED_DATA:
                        break
                if type(event) is not Request or fed != len(single_bytes):
                    raise BenchError(f"byte-wise: got {event!r} after {fed} of {len(single_bytes)} bytes")

        return run

    return build


# ---------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Row:
    id: str
    title: Callable[[Sizes], str]
    build: Builder
    time_unit: str  # how a median is shown
    time_scale: float  # seconds -> time_unit, per iteration
    per_byte: Callable[[Sizes], int] | None = None  # show time per byte of this many bytes
    work: Callable[[Sizes], float] | None = None  # throughput units per iteration
    work_unit: str = ""
    in_subprocess: bool = False


ROWS: list[Row] = [
    Row("1", lambda s: "client+server GET/200 cycle, fresh connection pair", build_cycle,
        "µs", 1e6, work=lambda s: 1, work_unit="cycles/s"),
    Row("2", lambda s: "server parses a 12-header browser GET fed whole", build_browser_get,
        "µs", 1e6, work=lambda s: 1, work_unit="req/s"),
    Row("3", lambda s: f"{s.pipelined} pipelined GETs, each answered", build_pipelined,
        "ms", 1e3, work=lambda s: s.pipelined, work_unit="req/s"),
    Row("4", lambda s: f"client reads {s.body_mib} MiB Content-Length body, 64 KiB reads",
        build_content_length, "ms", 1e3, work=lambda s: s.body_mib * MIB / 1e6, work_unit="MB/s",
        in_subprocess=True),
    Row("5", lambda s: f"client reads {s.body_mib} MiB chunked body (16 KiB chunks), 64 KiB reads",
        build_chunked, "ms", 1e3, work=lambda s: s.body_mib * MIB / 1e6, work_unit="MB/s",
        in_subprocess=True),
    Row("6a", lambda s: f"{SMALL_HEADER_BLOCK // KIB} KiB header block fed 1 byte at a time",
        _build_bytewise(SMALL_HEADER_BLOCK), "ns/B", 1e9, per_byte=lambda s: SMALL_HEADER_BLOCK),
    Row("6b", lambda s: f"{s.big_header_block // KIB} KiB header block fed 1 byte at a time",
        lambda engine, sizes, n: _build_bytewise(sizes.big_header_block)(engine, sizes, n),
        "ns/B", 1e9, per_byte=lambda s: s.big_header_block),
]
ROW_BY_ID = {row.id: row for row in ROWS}


@dataclass
class EngineResult:
    samples: list[float] = field(default_factory=list)  # seconds per iteration
    # One value per repetition (the median of that repetition's samples), so
    # each can be paired with the other engine's value from the same repetition.
    per_rep: list[float] = field(default_factory=list)
    rss_growth: list[int] = field(default_factory=list)  # bytes, streaming rows only
    iterations: int = 1

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


# ---------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------

def _time_once(build: Builder, engine: ModuleType, sizes: Sizes, n: int) -> float:
    run = build(engine, sizes, n)
    gc.collect()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def _calibrate(row: Row, engines: list[tuple[str, ModuleType]], sizes: Sizes) -> int:
    """Warm up (imports, regex compilation, caches) and pick iterations per sample
    from the slower engine, so both engines run the same number per sample."""
    single = []
    for _, engine in engines:
        first = _time_once(row.build, engine, sizes, 1)
        if first > sizes.sample_seconds:  # slow enough that more calibration is wasted time
            single.append(first)
        else:
            single.append(min(_time_once(row.build, engine, sizes, 1) for _ in range(2)))
    return max(1, min(100_000, int(sizes.sample_seconds / max(single))))


def measure_in_process(
    rows: list[Row], engines: list[tuple[str, ModuleType]], sizes: Sizes
) -> list[list[EngineResult]]:
    """Results per row, per engine.  Rows measured together share repetitions,
    so a ratio between two rows (6b / 6a) is also taken under the same load."""
    counts = [_calibrate(row, engines, sizes) for row in rows]
    results = [[EngineResult(iterations=n) for _ in engines] for n in counts]
    started = time.perf_counter()
    for rep in range(sizes.reps):
        if rep >= MIN_REPS and time.perf_counter() - started > sizes.row_budget_seconds * len(rows):
            break
        order = list(range(len(engines))) if rep % 2 == 0 else list(reversed(range(len(engines))))
        row_order = list(range(len(rows))) if rep % 2 == 0 else list(reversed(range(len(rows))))
        for index in order:
            for row_index in row_order:
                n = counts[row_index]
                sample = _time_once(rows[row_index].build, engines[index][1], sizes, n) / n
                results[row_index][index].samples.append(sample)
                results[row_index][index].per_rep.append(sample)
    return results


def _status_kib(field_name: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            match = re.search(rf"^{field_name}:\s+(\d+) kB", status.read(), re.M)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # "5" resets VmHWM to the current RSS (Linux >= 4.0)
    except OSError:
        return False
    return True


def stream_worker(row_id: str, engine_name: str, quick: bool) -> dict[str, Any]:
    """One repetition of a streaming row in this (fresh) process."""
    row = ROW_BY_ID[row_id]
    sizes = QUICK if quick else FULL
    engine = _load(engine_name)
    warm = replace(sizes, body_mib=1)
    row.build(engine, warm, 1)()
    run = row.build(engine, sizes, 1)
    gc.collect()
    baseline_kib = _status_kib("VmRSS")
    exact = baseline_kib is not None and _reset_peak_rss()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    if exact:
        peak_kib = _status_kib("VmHWM") or 0
        growth = max(0, peak_kib - (baseline_kib or 0)) * KIB
    else:
        # ru_maxrss cannot be reset, so growth hidden under an earlier peak is missed.
        growth = max(0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - maxrss_before) * KIB
    # One body read lasts tens of milliseconds, short enough for a neighbour's
    # burst to skew it; a few more reads per process steady the median.
    timings = [elapsed]
    while len(timings) < sizes.stream_reads and sum(timings) < sizes.row_budget_seconds / 10:
        timings.append(_time_once(row.build, engine, sizes, 1))
    return {"elapsed": timings, "rss_growth": growth, "exact_rss": exact}


def measure_in_subprocesses(
    row: Row, engine_names: list[str], sizes: Sizes, quick: bool
) -> list[EngineResult]:
    results = [EngineResult() for _ in engine_names]
    started = time.perf_counter()
    for rep in range(sizes.stream_reps):
        if rep >= MIN_REPS and time.perf_counter() - started > sizes.row_budget_seconds:
            break
        order = range(len(engine_names)) if rep % 2 == 0 else reversed(range(len(engine_names)))
        for index in order:
            command = [sys.executable, str(Path(__file__).resolve()), "--worker", row.id,
                       "--engines", engine_names[index]] + (["--quick"] if quick else [])
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                raise BenchError(f"row {row.id} worker for {engine_names[index]} failed: {last}")
            report = json.loads(done.stdout)
            results[index].samples.extend(report["elapsed"])
            results[index].per_rep.append(statistics.median(report["elapsed"]))
            results[index].rss_growth.append(report["rss_growth"])
    return results


def _load(name: str) -> ModuleType:
    return cast(ModuleType, load_engine(name))  # the rows use all of an engine's API, not only what the cores do


# ---------------------------------------------------------------------------
# Reporting
# ---------------------------------------------------------------------------

def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if value >= 1 else f"{value:.3g}"


def _mib(value: float) -> str:
    return f"{value / MIB:.2f} MiB"


def row_report(row: Row, sizes: Sizes, labels: list[str], results: list[EngineResult]) -> dict[str, Any]:
    per_byte = row.per_byte(sizes) if row.per_byte else 1
    engines: dict[str, Any] = {}
    for label, result in zip(labels, results, strict=True):
        shown = result.median * row.time_scale / per_byte
        entry: dict[str, Any] = {
            "median_seconds_per_iteration": result.median,
            "samples_seconds_per_iteration": result.samples,
            "per_repetition_seconds": result.per_rep,
            "iterations_per_sample": result.iterations,
            "median": shown,
            "unit": row.time_unit,
        }
        if row.work:
            entry["throughput"] = row.work(sizes) / result.median
            entry["throughput_unit"] = row.work_unit
        if result.rss_growth:
            entry["rss_growth_bytes"] = max(result.rss_growth)
        engines[label] = entry
    # Pairing within a repetition cancels load that changes between repetitions
    # (other processes on a 2-core machine); a ratio of overall medians would not.
    ratio = statistics.median(
        ref / ours for ours, ref in zip(results[0].per_rep, results[1].per_rep, strict=True))
    return {"id": row.id, "title": row.title(sizes), "engines": engines, "ratio": ratio,
            "meets_speed_target": ratio >= SPEED_TARGET}


def markdown_table(reports: list[dict[str, Any]], labels: list[str]) -> str:
    ours, ref = labels
    lines = [
        f"| # | benchmark | {ours} | {ref} | ratio (× {ref} speed) | throughput {ours} / {ref} "
        f"| peak RSS growth {ours} / {ref} | targets |",
        "|---|---|--:|--:|--:|--:|--:|---|",
    ]
    for report in reports:
        a, b = (report["engines"][label] for label in labels)
        if report["id"] == "6c":
            lines.append(
                f"| 6c | per-byte cost, {report['big_kib']} KiB vs 1 KiB block | {a['scaling']:.2f}× "
                f"| {b['scaling']:.2f}× | – | – | – | {ours} near 1 (< {SCALING_TARGET}): "
                f"{'pass' if report['meets_scaling_target'] else 'MISS'} |")
            continue
        unit = a["unit"]
        throughput = (f"{_fmt(a['throughput'])} / {_fmt(b['throughput'])} {a['throughput_unit']}"
                      if "throughput" in a else "–")
        targets = [f"≥ {SPEED_TARGET}×: {'pass' if report['meets_speed_target'] else 'MISS'}"]
        rss = "–"
        if "rss_growth_bytes" in a:
            rss = f"{_mib(a['rss_growth_bytes'])} / {_mib(b['rss_growth_bytes'])}"
            targets.append(f"RSS < {RSS_TARGET_BYTES // MIB} MiB: "
                           f"{'pass' if report['meets_rss_target'] else 'MISS'}")
        lines.append(
            f"| {report['id']} | {report['title']} | {_fmt(a['median'])} {unit} | {_fmt(b['median'])} {unit} "
            f"| {report['ratio']:.2f}× | {throughput} | {rss} | {'; '.join(targets)} |")
    return "\n".join(lines)


def scaling_report(
    small: dict[str, Any], big: dict[str, Any], labels: list[str], sizes: Sizes
) -> dict[str, Any]:
    engines = {}
    for label in labels:
        # Pairs from the same repetition, normalised to per-byte cost.
        pairs = zip(big["engines"][label]["per_repetition_seconds"],
                    small["engines"][label]["per_repetition_seconds"], strict=True)
        per_byte = [(b / sizes.big_header_block) / (s / SMALL_HEADER_BLOCK) for b, s in pairs]
        engines[label] = {"scaling": statistics.median(per_byte)}
    return {"id": "6c", "title": "per-byte cost ratio, big vs small header block", "engines": engines,
            "big_kib": sizes.big_header_block // KIB,
            "meets_scaling_target": engines[labels[0]]["scaling"] < SCALING_TARGET}


def profile_row(row: Row, engine: ModuleType, sizes: Sizes, top: int = 15) -> str:
    n = 1
    if not row.in_subprocess:
        single = _time_once(row.build, engine, sizes, 1)
        n = max(1, min(100_000, int(max(sizes.sample_seconds, 0.2) / single)))
    run = row.build(engine, sizes, n)
    profiler = cProfile.Profile()
    profiler.runcall(run)
    stats = pstats.Stats(profiler)
    entries = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:top]  # type: ignore[attr-defined]
    root = str(Path(__file__).resolve().parent.parent) + os.sep
    lines = [f"Profile of row {row.id} ({n} iteration(s)), top {top} by tottime:", "",
             "| tottime s | cumtime s | calls | function |", "|--:|--:|--:|---|"]
    for (filename, lineno, function), (_, calls, tottime, cumtime, _) in entries:
        where = filename.replace(root, "")
        where = re.sub(r"^.*site-packages/", "", where)
        lines.append(f"| {tottime:.3f} | {cumtime:.3f} | {calls} | {where}:{lineno}:{function} |")
    return "\n".join(lines)


def _replay_bench() -> ModuleType:
    """bench/replay.py, imported only when replay rows are asked for."""
    from bench import replay

    return replay


REPLAY_ROWS = [f"7{letter}" for letter in "abcdefgh"]


def _parse_rows(text: str) -> list[str]:
    wanted: list[str] = []
    for part in text.split(","):
        part = part.strip()
        if re.fullmatch(r"\d+-\d+", part):
            low, high = map(int, part.split("-"))
            wanted.extend(str(i) for i in range(low, high + 1))
        elif part:
            wanted.append(part)
    rows: list[str] = []
    for item in wanted:
        ids = ["6a", "6b"] if item == "6" else REPLAY_ROWS if item == "7" else [item]
        for row_id in ids:
            if row_id not in ROW_BY_ID and row_id not in REPLAY_ROWS:
                raise ValueError(f"unknown row {item!r}: choose from 1-7 (6a, 6b, 7a-7h)")
            if row_id not in rows:
                rows.append(row_id)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Benchmark h11dbg.protocol against h11 in one run.")
    parser.add_argument("--engines", default="h11dbg,h11",
                        help="OURS,REFERENCE engine names (h11dbg, h11); default h11dbg,h11")
    parser.add_argument("--quick", action="store_true", help="small sizes and few repetitions (smoke test)")
    parser.add_argument("--rows", default="1-7",
                        help="rows to run, e.g. 1,2,6 or 4-5; 7 is replay speed (default 1-7)")
    parser.add_argument("--keep", metavar="DIR", type=Path,
                        help="row 7: generate the replay traffic into DIR and reuse it on later runs")
    parser.add_argument("--json", dest="json_out", metavar="OUT", help="also write results to this JSON file")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile our engine on every row below the speed target")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(stream_worker(args.worker, args.engines, args.quick)))
        return ExitCode.OK

    names = [name.strip() for name in args.engines.split(",")]
    if len(names) != 2 or not all(names):
        print(f"bench: --engines needs two names, OURS,REFERENCE; got {args.engines!r}", file=sys.stderr)
        return ExitCode.USAGE
    try:
        row_ids = _parse_rows(args.rows)
        engines = [_load(name) for name in names]
    except (ValueError, EngineUnavailable) as exc:
        missing = isinstance(exc, EngineUnavailable) and not str(exc).startswith("unknown engine")
        hint = " (until it exists, try --engines h11,h11)" if missing else ""
        print(f"bench: {exc}{hint}", file=sys.stderr)
        return ExitCode.USAGE
    labels = names if names[0] != names[1] else [f"{names[0]}#1", f"{names[1]}#2"]
    sizes = QUICK if args.quick else FULL

    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    started = time.perf_counter()
    reports: list[dict[str, Any]] = []
    replay_ids = [row_id for row_id in row_ids if row_id in REPLAY_ROWS]
    row_ids = [row_id for row_id in row_ids if row_id not in REPLAY_ROWS]
    groups = [[row_id] for row_id in row_ids if row_id not in ("6a", "6b")]
    groups.append([row_id for row_id in row_ids if row_id in ("6a", "6b")])
    for group in filter(None, groups):
        rows = [ROW_BY_ID[row_id] for row_id in group]
        for row in rows:
            print(f"running row {row.id}: {row.title(sizes)} ...", file=sys.stderr, flush=True)
        if rows[0].in_subprocess:
            group_results = [measure_in_subprocesses(rows[0], names, sizes, args.quick)]
        else:
            group_results = measure_in_process(rows, list(zip(labels, engines, strict=True)), sizes)
        for row, results in zip(rows, group_results, strict=True):
            report = row_report(row, sizes, labels, results)
            if row.in_subprocess:
                growth = report["engines"][labels[0]]["rss_growth_bytes"]
                report["meets_rss_target"] = growth < RSS_TARGET_BYTES
            reports.append(report)
    by_id = {report["id"]: report for report in reports}
    if "6a" in by_id and "6b" in by_id:
        scaling = scaling_report(by_id["6a"], by_id["6b"], labels, sizes)
        reports.insert(reports.index(by_id["6b"]) + 1, scaling)

    with contextlib.ExitStack() as cleanup:
        replay_section: dict[str, Any] | None = None
        replay_table = ""
        replay_profiles: list[str] = []
        if replay_ids:
            bench = _replay_bench()
            replay_rows = bench.parse_rows(",".join(replay_ids))
            replay_sizes = bench.QUICK if args.quick else bench.FULL
            directory = cleanup.enter_context(bench.corpus_directory(args.keep))
            print(f"running row 7: replay speed ({', '.join(replay_ids)}) with {names[0]} ...",
                  file=sys.stderr, flush=True)
            try:
                replay_reports, corpora = bench.run(replay_rows, names[0], replay_sizes, directory)
            except bench.BenchError as exc:
                raise BenchError(str(exc)) from None
            replay_section = bench.json_section(names[0], replay_reports, corpora)
            replay_table = bench.markdown_table(replay_reports, names[0])
            if args.profile:
                replay_profiles = bench.profiles(replay_reports, corpora, names[0])
    elapsed = time.perf_counter() - started

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    versions = ", ".join(f"{label} {getattr(engine, '__version__', '?')}"
                         for label, engine in zip(labels, engines, strict=True))
    print(f"Engines: {versions}. Python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {load_before:.1f} before / {load:.1f} after; "
          f"{'quick' if args.quick else 'full'} run in {elapsed:.0f} s. "
          f"Times are medians of interleaved repetitions; ratio = median over repetitions of "
          f"{labels[1]} time / {labels[0]} time in the same repetition (> 1: {labels[0]} is faster).")
    if reports:
        print()
        print(markdown_table(reports, labels))
    if replay_table:
        print()
        print(replay_table)

    if args.json_out:
        meta = {"engines": labels, "versions": versions, "quick": args.quick,
                "load_average_before": load_before, "load_average_after": load,
                "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
                "when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "seconds": elapsed,
                "targets": {"speed_ratio": SPEED_TARGET, "rss_growth_bytes": RSS_TARGET_BYTES,
                            "per_byte_scaling": SCALING_TARGET}}
        data: dict[str, Any] = {"meta": meta, "rows": reports}
        if replay_section is not None:
            data["replay"] = replay_section
        Path(args.json_out).write_text(json.dumps(data, indent=2) + "\n")

    if args.profile:
        for report in reports:
            if report["id"] in ROW_BY_ID and not report["meets_speed_target"]:
                print()
                print(profile_row(ROW_BY_ID[report["id"]], engines[0], sizes))
        for text in replay_profiles:
            print()
            print(text)
    return ExitCode.OK


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
