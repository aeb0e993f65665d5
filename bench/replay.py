"""Replay speed: ``h11dbg replay FILE > /dev/null`` on generated traffic, as a transcript and as a pcap.

Usage (``bench/run.py`` runs these rows too, as row 7)::

    .venv/bin/python bench/replay.py                 # 25 and 100 MiB, text and pcap, plain and --json
    .venv/bin/python bench/replay.py --quick --json out.json
    .venv/bin/python bench/replay.py --keep /tmp/replay-corpus --rows 7c,7d --profile

The traffic is generated once per run (seeded, so every run replays the same bytes): keep-alive
connections carrying small GETs, chunked responses, POSTs (JSON and uploads in 64 KiB reads) and a
few large downloads read 64 KiB at a time.  It is written with the library's own writer as a text
transcript, and the same records as an Ethernet/IPv4/TCP pcap (handshake, MSS-sized segments,
delayed ACKs, FINs) built by the package's pcap writer (h11dbg.transcript.exporters.pcap, the one
``h11dbg convert`` uses).  The text file is the size asked for; the pcap holds the same traffic, so its size differs.

Each repetition runs the real CLI in a subprocess with stdout on /dev/null; its own peak RSS (with
any process it forks) comes from ``os.wait4`` in a small launcher process, not in this one (see
``_LAUNCHER``).  Repetitions interleave the rows and flip their order every time, and the
table shows medians.  MB/s is 10**6 bytes per second of wall time, of the file and of the payload
(the bytes the two peers sent each other).  A row fails loudly when the replay does not exit 0 or
its summary line names the wrong number of connections, so a broken replay cannot post a fast time.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import pstats
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

if __package__ in (None, ""):  # run as ``python bench/replay.py``: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from h11dbg.engines import ENGINE_NAMES  # noqa: E402
from h11dbg.transcript.exporters.pcap import PcapWriter  # noqa: E402
from h11dbg.transcript.model import Chunk, Close, Meta, Open, Record  # noqa: E402
from h11dbg.transcript.textformat import TextWriter  # noqa: E402
from h11dbg.ui.exits import ExitCode  # noqa: E402

KIB = 1024
MIB = 1024 * 1024
MB = 1e6
READ_SIZE = 64 * KIB

SPEED_TARGET_MBPS = 50.0  # file MB per second of wall time
# "Flat": the 4x larger file may not raise the peak by more than this (the interpreter, the
# engine and one 64 KiB read are the same size for both).
RSS_FLAT_BYTES = 8 * MIB

SEED = 20261125
CORPUS_VERSION = 2  # bump when the traffic changes, so --keep regenerates


class BenchError(Exception):
    """A replay failed or reported something other than the traffic it was given."""


@dataclass(frozen=True)
class ReplaySizes:
    small_mib: float
    big_mib: float
    reps: int
    budget_seconds: float  # all rows together; repetitions stop early (never below 2) past it


FULL = ReplaySizes(small_mib=25, big_mib=100, reps=5, budget_seconds=240)
QUICK = ReplaySizes(small_mib=0.25, big_mib=1, reps=1, budget_seconds=10)
MIN_REPS = 2


# ---------------------------------------------------------------------------
# Traffic
# ---------------------------------------------------------------------------

_WORDS = (
    "http", "semantics", "message", "framing", "connection", "keep", "alive", "request", "response",
    "header", "field", "value", "chunked", "transfer", "coding", "content", "length", "cache", "control",
    "vary", "accept", "encoding", "gzip", "status", "server", "client", "proxy", "origin", "resource",
    "representation", "target", "method", "idempotent", "safe",
)


def _text_block(rng: random.Random, size: int) -> bytes:
    """Text the shape of HTML/JSON bodies: short lines of words and markup."""
    lines: list[str] = []
    used = 0
    while used < size:
        words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 14)))
        line = rng.choice(('<p class="c{}">{}</p>', '  "{}": "{}",', "<li><a href=\"/{}\">{}</a></li>",
                           "{}: {}")).format(rng.randint(0, 999), words)
        lines.append(line)
        used += len(line) + 1
    return ("\n".join(lines) + "\n").encode("ascii")[:size]


@dataclass
class Counts:
    connections: int = 0
    exchanges: int = 0
    payload_bytes: int = 0
    chunks: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


class Traffic:
    """An endless, seeded stream of connections; each ends with both sides closing."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.text = _text_block(self.rng, 512 * KIB)
        self.time = 0.0
        self.counts = Counts()

    def _body_text(self, size: int) -> bytes:
        start = self.rng.randrange(0, len(self.text) - size) if size < len(self.text) else 0
        return (self.text * (size // len(self.text) + 1))[start:start + size]

    def _tick(self, low: float = 0.0001, high: float = 0.002) -> float:
        self.time += self.rng.uniform(low, high)
        return self.time

    def _request_head(self, method: str, target: str, extra: list[str]) -> bytes:
        lines = [f"{method} {target} HTTP/1.1", "Host: www.example.org",
                 "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                 "Chrome/124.0.0.0 Safari/537.36",
                 "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                 "Accept-Encoding: gzip, deflate, br", "Accept-Language: en-GB,en;q=0.9",
                 f"Cookie: session={self.rng.getrandbits(64):016x}; theme=dark", *extra]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")

    @staticmethod
    def _response_head(status: str, headers: list[str]) -> bytes:
        lines = [f"HTTP/1.1 {status}", "Date: Wed, 25 Nov 2026 09:00:00 GMT", "Server: nginx/1.25.3",
                 *headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")

    def _reads(self, conn: int, direction: str, data: bytes, size: int = READ_SIZE) -> Iterator[Record]:
        for start in range(0, len(data), size):
            piece = data[start:start + size]
            self.counts.payload_bytes += len(piece)
            self.counts.chunks += 1
            yield Chunk(conn, direction, piece, self._tick(0.00005, 0.0005))  # type: ignore[arg-type]

    def _exchange(self, conn: int) -> Iterator[Record]:
        rng = self.rng
        kind = rng.choices(("small", "chunked", "post", "upload", "large"),
                           weights=(70, 14, 10, 3, 0.3))[0]
        self.counts.kinds[kind] = self.counts.kinds.get(kind, 0) + 1
        self.counts.exchanges += 1
        n = rng.randrange(100_000)
        if kind == "small":
            body = self._body_text(rng.randint(200, 8000))
            yield from self._reads(conn, "c2s", self._request_head("GET", f"/articles/{n}", []))
            head = self._response_head("200 OK", ["Content-Type: text/html; charset=utf-8",
                                                  f"Content-Length: {len(body)}", "Cache-Control: max-age=60"])
            yield from self._reads(conn, "s2c", head + body)
        elif kind == "chunked":
            yield from self._reads(conn, "c2s", self._request_head("GET", f"/feed/{n}", []))
            wire = [self._response_head("200 OK", ["Content-Type: application/json",
                                                   "Transfer-Encoding: chunked"])]
            for _ in range(rng.randint(2, 20)):
                piece = self._body_text(rng.randint(100, 4000))
                wire.append(b"%x\r\n%s\r\n" % (len(piece), piece))
            wire.append(b"0\r\n\r\n")
            # The server flushes a few chunks per write; reads end wherever those writes did.
            stream = b"".join(wire)
            pos = 0
            while pos < len(stream):
                size = rng.randint(500, 16 * KIB)
                yield from self._reads(conn, "s2c", stream[pos:pos + size])
                pos += size
        elif kind in ("post", "upload"):
            if kind == "post":
                body = self._body_text(rng.randint(100, 4000))
                content_type = "application/json"
            else:
                body = rng.randbytes(rng.randint(16 * KIB, 128 * KIB))
                content_type = "application/octet-stream"
            head = self._request_head("POST", f"/api/items/{n}",
                                      [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"])
            yield from self._reads(conn, "c2s", head + body)
            answer = b'{"id": %d, "ok": true}\n' % n
            yield from self._reads(conn, "s2c", self._response_head(
                "201 Created", ["Content-Type: application/json", f"Content-Length: {len(answer)}",
                                f"Location: /api/items/{n}"]) + answer)
        else:
            size = rng.randint(1 * MIB, 4 * MIB)
            # Downloads are half compressed media (bytes look random) and half text (bundles, logs).
            body = rng.randbytes(size) if rng.random() < 0.5 else self._body_text(size)
            yield from self._reads(conn, "c2s", self._request_head("GET", f"/downloads/{n}.bin", []))
            head = self._response_head("200 OK", ["Content-Type: application/octet-stream",
                                                  f"Content-Length: {len(body)}"])
            yield from self._reads(conn, "s2c", head + body)

    def records(self, enough: Callable[[], bool]) -> Iterator[Record]:
        """Connections until ``enough()`` says so (asked between exchanges); the last one closes too."""
        conn = 0
        while not enough():
            conn += 1
            self.counts.connections += 1
            port = 40000 + conn % 20000
            yield Open(conn, self._tick(), f"192.0.2.10:{port}", "198.51.100.20:80")
            for _ in range(self.rng.randint(1, 30)):
                yield from self._exchange(conn)
                if enough():
                    break
            yield Close(conn, "c2s", self._tick())
            yield Close(conn, "s2c", self._tick(0.00001, 0.0001))


# ---------------------------------------------------------------------------
# The corpus: one text transcript and one pcap per size
# ---------------------------------------------------------------------------

@dataclass
class CorpusFile:
    name: str  # "text" or "pcap"
    path: str
    size: int  # bytes on disk


@dataclass
class Corpus:
    mib: float
    payload_bytes: int
    connections: int
    exchanges: int
    chunks: int
    kinds: dict[str, int]
    files: dict[str, CorpusFile]
    seconds: float  # to generate
    version: int = CORPUS_VERSION

    def describe(self) -> str:
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(self.kinds.items()))
        return (f"{_mib(self.files['text'].size)} text / {_mib(self.files['pcap'].size)} pcap: "
                f"{self.connections} connections, {self.exchanges} exchanges ({kinds}), "
                f"{self.payload_bytes / MB:.1f} MB payload in {self.chunks} reads")


def generate(directory: Path, mib: float, seed: int = SEED) -> Corpus:
    """Write ``traffic-<mib>.h11t`` (about ``mib`` MiB) and the same traffic as ``traffic-<mib>.pcap``."""
    started = time.perf_counter()
    stem = f"traffic-{mib:g}MiB"
    text_path, pcap_path = directory / f"{stem}.h11t", directory / f"{stem}.pcap"
    target = int(mib * MIB)
    traffic = Traffic(seed)
    meta = Meta(tool="h11dbg bench/replay.py", description=f"generated traffic, seed {seed}",
                recorded_at="2026-11-25T09:00:00+00:00")
    with open(text_path, "wb") as text_stream, open(pcap_path, "wb") as pcap_stream:
        writer = TextWriter(text_stream, meta)
        pcap = PcapWriter(pcap_stream, seed=seed + 1)
        for record in traffic.records(lambda: text_stream.tell() >= target):
            writer.write(record)
            pcap.write(record)
    counts = traffic.counts
    files = {"text": CorpusFile("text", str(text_path), text_path.stat().st_size),
             "pcap": CorpusFile("pcap", str(pcap_path), pcap_path.stat().st_size)}
    corpus = Corpus(mib, counts.payload_bytes, counts.connections, counts.exchanges, counts.chunks,
                    dict(counts.kinds), files, time.perf_counter() - started)
    (directory / f"{stem}.json").write_text(json.dumps(asdict(corpus), indent=2) + "\n")
    return corpus


def load_or_generate(directory: Path, mib: float) -> Corpus:
    manifest = directory / f"traffic-{mib:g}MiB.json"
    if manifest.exists():
        try:
            data = json.loads(manifest.read_text())
            files = {name: CorpusFile(**entry) for name, entry in data.pop("files").items()}
            corpus = Corpus(files=files, **data)
            if corpus.version == CORPUS_VERSION and all(
                    Path(f.path).exists() and Path(f.path).stat().st_size == f.size for f in files.values()):
                return corpus
        except (ValueError, TypeError, KeyError):
            pass  # a manifest from another version: write the corpus again
    return generate(directory, mib)


# ---------------------------------------------------------------------------
# Rows and measuring
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ReplayRow:
    id: str
    size: str  # "small" or "big"
    input: str  # "text" or "pcap"
    as_json: bool

    def title(self, sizes: ReplaySizes) -> str:
        mib = sizes.small_mib if self.size == "small" else sizes.big_mib
        what = f"{mib:g} MiB transcript" if self.input == "text" else f"pcap of the {mib:g} MiB transcript's traffic"
        return f"replay {what}{' --json' if self.as_json else ''} > /dev/null"


ROWS = [
    ReplayRow(f"7{letter}", size, kind, as_json)
    for letter, (size, kind, as_json) in zip(
        "abcdefgh",
        # Each big file right below its small one: the flatness check compares neighbours.
        [(size, kind, as_json) for kind in ("text", "pcap") for as_json in (False, True)
         for size in ("small", "big")],
        strict=True,
    )
]
ROW_BY_ID = {row.id: row for row in ROWS}


@dataclass
class Sample:
    seconds: float
    maxrss_bytes: int
    cpu_seconds: float = 0.0  # user + system, of the replay and the reader process it may fork


@dataclass
class RowResult:
    samples: list[Sample] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return statistics.median(s.seconds for s in self.samples)

    @property
    def maxrss(self) -> int:
        return max(s.maxrss_bytes for s in self.samples)

    @property
    def cpu_seconds(self) -> float:
        return statistics.median(s.cpu_seconds for s in self.samples)


def cli_command() -> list[str]:
    script = Path(sys.executable).with_name("h11dbg")
    return [str(script)] if script.exists() else [sys.executable, "-m", "h11dbg"]


_SUMMARY = re.compile(r"^(\d+) connection\(s\), all parsed cleanly$", re.M)


# Runs one replay and reports on it.  The replay's peak RSS must be its own: Linux counts into a
# child's ru_maxrss the memory of the process that forked it, up to its exec, so a replay started
# straight from this process (grown by the engine rows and the traffic generator) would report this
# process's peak instead.  A small launcher (no site, a few MiB) starts it and reports its rusage.
_LAUNCHER = """
import os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
errors = child.stderr.read()
_, status, usage = os.wait4(child.pid, 0)
elapsed = time.perf_counter() - start
sys.stderr.buffer.write(errors)
print(elapsed, os.waitstatus_to_exitcode(status), usage.ru_maxrss, usage.ru_utime + usage.ru_stime)
"""


def replay_once(path: str, engine: str, as_json: bool, connections: int) -> Sample:
    """One ``h11dbg replay`` in a child process: wall time, CPU time and peak RSS.

    On Linux, wait4's rusage covers the child and the descendants it waited for: a process that
    replay forks (the split replay's worker, h11dbg.replay.prefetch) counts in both the CPU
    time and the peak RSS.  The launcher (see ``_LAUNCHER``) measures; its own start-up is not timed.
    """
    command = [*cli_command(), "replay", path, "--engine", engine, *(["--json"] if as_json else [])]
    launched = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, *command], stdin=subprocess.DEVNULL,
                              capture_output=True, check=False)
    errors = launched.stderr.decode("utf-8", "replace")
    try:
        elapsed_text, code_text, maxrss_text, cpu_text = launched.stdout.split()
    except ValueError:
        raise BenchError(f"the replay launcher failed: {errors.strip()[-500:]!r}") from None
    returncode = int(code_text)
    if returncode != 0:
        last = (errors.strip().splitlines() or ["no message"])[-1]
        raise BenchError(f"replay of {path} exited {returncode}: {last}")
    if not as_json:
        match = _SUMMARY.search(errors)
        if match is None or int(match.group(1)) != connections:
            raise BenchError(f"replay of {path}: expected '{connections} connection(s), all parsed cleanly' "
                             f"on stderr, got {errors.strip()!r}")
    elif errors.strip():
        raise BenchError(f"replay of {path} --json wrote to stderr: {errors.strip()!r}")
    return Sample(float(elapsed_text), int(maxrss_text) * KIB, float(cpu_text))  # Linux: KiB


def compile_package() -> None:
    """Byte-compile h11dbg, as installing it does (pip compiles what it installs).

    With PYTHONDONTWRITEBYTECODE set (some sandboxes and CI images set it) a source checkout is
    compiled again by every run, and each replay would time the compiler (~0.08 s) on top of itself.
    """
    import compileall

    import h11dbg

    compileall.compile_dir(str(Path(h11dbg.__file__).parent), quiet=1)


def measure(rows: list[ReplayRow], corpora: dict[str, Corpus], engine: str,
            sizes: ReplaySizes, *, log: IO[str] = sys.stderr) -> dict[str, RowResult]:
    compile_package()
    results = {row.id: RowResult() for row in rows}
    started = time.perf_counter()
    for rep in range(sizes.reps):
        if rep >= MIN_REPS and time.perf_counter() - started > sizes.budget_seconds:
            break
        for row in rows if rep % 2 == 0 else reversed(rows):
            corpus = corpora[row.size]
            sample = replay_once(corpus.files[row.input].path, engine, row.as_json, corpus.connections)
            results[row.id].samples.append(sample)
        print(f"  replay repetition {rep + 1} done ({time.perf_counter() - started:.0f} s)", file=log, flush=True)
    return results


def _mib(value: float) -> str:
    return f"{value / MIB:.1f} MiB"


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def reports(rows: list[ReplayRow], corpora: dict[str, Corpus], results: dict[str, RowResult],
            sizes: ReplaySizes) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for row in rows:
        corpus, result = corpora[row.size], results[row.id]
        file_bytes = corpus.files[row.input].size
        seconds = result.seconds
        report: dict[str, Any] = {
            "id": row.id, "title": row.title(sizes), "input": row.input, "size": row.size,
            "json": row.as_json, "file_bytes": file_bytes, "payload_bytes": corpus.payload_bytes,
            "connections": corpus.connections, "median_seconds": seconds,
            "samples_seconds": [s.seconds for s in result.samples],
            "file_mb_per_s": file_bytes / MB / seconds, "payload_mb_per_s": corpus.payload_bytes / MB / seconds,
            "median_cpu_seconds": result.cpu_seconds,
            "peak_rss_bytes": result.maxrss, "samples_peak_rss_bytes": [s.maxrss_bytes for s in result.samples],
        }
        report["meets_speed_target"] = report["file_mb_per_s"] >= SPEED_TARGET_MBPS
        out.append(report)
    by_key = {(r["size"], r["input"], r["json"]): r for r in out}
    for report in out:
        small = by_key.get(("small", report["input"], report["json"]))
        if report["size"] == "big" and small is not None:
            growth = report["peak_rss_bytes"] - small["peak_rss_bytes"]
            report["rss_growth_vs_small_bytes"] = growth
            report["meets_rss_target"] = growth <= RSS_FLAT_BYTES
    return out


def markdown_table(rows: list[dict[str, Any]], engine: str) -> str:
    lines = [
        f"| # | replay ({engine}) | file | wall | CPU | file MB/s | payload MB/s | peak RSS | targets |",
        "|---|---|--:|--:|--:|--:|--:|--:|---|",
    ]
    for r in rows:
        targets = [f"≥ {SPEED_TARGET_MBPS:g} MB/s: {'pass' if r['meets_speed_target'] else 'MISS'}"]
        if "rss_growth_vs_small_bytes" in r:
            growth = r["rss_growth_vs_small_bytes"]
            targets.append(f"flat ({'+' if growth >= 0 else '−'}{_mib(abs(growth))} vs smaller file, "
                           f"≤ {RSS_FLAT_BYTES // MIB} MiB): {'pass' if r['meets_rss_target'] else 'MISS'}")
        lines.append(
            f"| {r['id']} | {r['title']} | {_mib(r['file_bytes'])} | {r['median_seconds']:.2f} s "
            f"| {r['median_cpu_seconds']:.2f} s "
            f"| {_fmt(r['file_mb_per_s'])} | {_fmt(r['payload_mb_per_s'])} | {_mib(r['peak_rss_bytes'])} "
            f"| {'; '.join(targets)} |")
    return "\n".join(lines)


def profile_row(row: ReplayRow, corpus: Corpus, engine: str, top: int = 25) -> str:
    """cProfile one replay: the CLI in a child (``python -m cProfile``), stdout on /dev/null."""
    with tempfile.TemporaryDirectory(prefix="h11dbg-replay-profile-") as scratch:
        out = Path(scratch) / "replay.prof"
        command = [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "h11dbg", "replay",
                   corpus.files[row.input].path, "--engine", engine, *(["--json"] if row.as_json else [])]
        subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=1800, check=False)
        buffer = io.StringIO()
        stats = pstats.Stats(str(out), stream=buffer)
        stats.sort_stats("tottime").print_stats(top)
    mib = corpus.files[row.input].size / MIB
    what = "transcript" if row.input == "text" else "pcap"
    return f"Profile of row {row.id} (replay {mib:.1f} MiB {what}{' --json' if row.as_json else ''}):\n" + (
        buffer.getvalue())


def parse_rows(text: str) -> list[ReplayRow]:
    rows: list[ReplayRow] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        chosen = ROWS if part == "7" else [ROW_BY_ID[part]] if part in ROW_BY_ID else None
        if chosen is None:
            raise ValueError(f"unknown replay row {part!r}: choose 7 or 7a-7h")
        rows.extend(row for row in chosen if row not in rows)
    return rows


@contextlib.contextmanager
def corpus_directory(keep: Path | None) -> Iterator[Path]:
    """``keep`` (created if missing, left in place), or a scratch directory removed afterwards."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="h11dbg-replay-bench-") as scratch:
        yield Path(scratch)


def run(rows: list[ReplayRow], engine: str, sizes: ReplaySizes, directory: Path,
        *, log: IO[str] = sys.stderr) -> tuple[list[dict[str, Any]], dict[str, Corpus]]:
    """Generate (or reuse) the traffic in ``directory`` and replay every row; reports and corpora."""
    needed = {row.size for row in rows}
    corpora: dict[str, Corpus] = {}
    for size in ("small", "big"):
        if size in needed:
            mib = sizes.small_mib if size == "small" else sizes.big_mib
            print(f"generating {mib:g} MiB of traffic ...", file=log, flush=True)
            corpora[size] = load_or_generate(directory, mib)
            print(f"  {corpora[size].describe()}", file=log, flush=True)
    results = measure(rows, corpora, engine, sizes, log=log)
    return reports(rows, corpora, results, sizes), corpora


def profiles(reports_: list[dict[str, Any]], corpora: dict[str, Corpus], engine: str) -> list[str]:
    return [profile_row(ROW_BY_ID[r["id"]], corpora[r["size"]], engine)
            for r in reports_ if not r["meets_speed_target"]]


def json_section(engine: str, reports_: list[dict[str, Any]], corpora: dict[str, Corpus]) -> dict[str, Any]:
    return {"engine": engine, "targets": {"file_mb_per_s": SPEED_TARGET_MBPS, "rss_flat_bytes": RSS_FLAT_BYTES},
            "rows": reports_, "corpora": {size: asdict(corpus) for size, corpus in corpora.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Replay speed of h11dbg replay on generated traffic.")
    parser.add_argument("--engine", default="h11dbg", choices=ENGINE_NAMES)
    parser.add_argument("--quick", action="store_true", help="small files, one repetition (smoke test)")
    parser.add_argument("--rows", default="7", help="7 (all) or some of 7a-7h, comma-separated")
    parser.add_argument("--json", dest="json_out", metavar="OUT", help="also write results to this JSON file")
    parser.add_argument("--keep", metavar="DIR", type=Path,
                        help="generate the traffic into DIR and reuse it on later runs")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile (in this process) every row below the speed target")
    args = parser.parse_args(argv)
    try:
        rows = parse_rows(args.rows)
    except ValueError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    sizes = QUICK if args.quick else FULL
    with corpus_directory(args.keep) as directory:
        reports_, corpora = run(rows, args.engine, sizes, directory)
        print(markdown_table(reports_, args.engine))
        if args.json_out:
            data = {"quick": args.quick, **json_section(args.engine, reports_, corpora)}
            Path(args.json_out).write_text(json.dumps(data, indent=2) + "\n")
        if args.profile:
            for text in profiles(reports_, corpora, args.engine):
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
