"""Smoke test for bench/run.py (and bench/replay.py, its row 7): it runs end to end and reports every row.

Benchmarks are not timed unit tests: nothing here asserts a speed or memory
target, only that the harness produces complete, self-consistent tables.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "run.py"
TABLE_ROWS = ["1", "2", "3", "4", "5", "6a", "6b", "6c"]
REPLAY_ROWS = ["7a", "7b", "7c", "7d", "7e", "7f", "7g", "7h"]


def _run_bench(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True,
                          timeout=60, cwd=cwd)


def _tables(stdout: str) -> list[list[str]]:
    """The markdown tables in the output, each as its lines (header first, separator dropped)."""
    tables: list[list[str]] = []
    for line in stdout.splitlines():
        if line.startswith("| # |"):
            tables.append([line])
        elif line.startswith("| ") and tables:
            tables[-1].append(line)
    return tables


def _check_replay(table: list[str], section: dict[str, Any], engine: str, row_ids: list[str]) -> None:
    header, body = table[0], table[1:]
    assert f"replay ({engine})" in header
    assert [line.split("|")[1].strip() for line in body] == row_ids
    assert all(line.count("|") == header.count("|") for line in body)
    assert section["engine"] == engine
    rows = {row["id"]: row for row in section["rows"]}
    assert list(rows) == row_ids
    for row_id, row in rows.items():
        corpus = section["corpora"][row["size"]]
        # The sizes are those of the generated files, and the traffic really was replayed.
        assert row["file_bytes"] == corpus["files"][row["input"]]["size"] > 0
        assert row["payload_bytes"] == corpus["payload_bytes"] > 0
        assert corpus["connections"] >= 1 and corpus["exchanges"] >= corpus["connections"]
        assert row["samples_seconds"] and all(s > 0 for s in row["samples_seconds"])
        assert row["file_mb_per_s"] == pytest.approx(row["file_bytes"] / 1e6 / row["median_seconds"])
        # CPU time was measured too (the replay does real work; with a reader process, more than wall)
        assert row["median_cpu_seconds"] > 0
        # A child Python process with the engine loaded is never below a few MiB.
        assert row["peak_rss_bytes"] > 4 * 1024 * 1024
        line = next(line for line in body if line.split("|")[1].strip() == row_id)
        assert ("flat" in line) == (row["size"] == "big" and "rss_growth_vs_small_bytes" in row)
    small, big = section["corpora"]["small"], section["corpora"].get("big")
    if big is not None:
        assert big["files"]["text"]["size"] > small["files"]["text"]["size"]


def _check_report(done: subprocess.CompletedProcess[str], json_path: Path, labels: list[str]) -> None:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    tables = _tables(done.stdout)
    assert len(tables) == 2
    table = tables[0]
    header, body = table[0], table[1:]
    assert all(label in header for label in labels)
    assert [line.split("|")[1].strip() for line in body] == TABLE_ROWS
    assert all(line.count("|") == header.count("|") for line in body)

    data: dict[str, Any] = json.loads(json_path.read_text())
    assert data["meta"]["quick"] is True
    assert data["meta"]["engines"] == labels
    rows = {row["id"]: row for row in data["rows"]}
    assert list(rows) == TABLE_ROWS
    for row_id in TABLE_ROWS:
        row = rows[row_id]
        assert set(row["engines"]) == set(labels)
        if row_id == "6c":
            for entry in row["engines"].values():
                assert math.isfinite(entry["scaling"]) and entry["scaling"] > 0
            continue
        assert math.isfinite(row["ratio"]) and row["ratio"] > 0
        for entry in row["engines"].values():
            samples = entry["samples_seconds_per_iteration"]
            assert samples and all(math.isfinite(s) and s > 0 for s in samples)
            assert min(samples) <= entry["median_seconds_per_iteration"] <= max(samples)
            if row_id in ("4", "5"):
                assert isinstance(entry["rss_growth_bytes"], int) and entry["rss_growth_bytes"] >= 0
                assert entry["throughput_unit"] == "MB/s" and entry["throughput"] > 0
            else:
                assert "rss_growth_bytes" not in entry
        # Printed median matches the JSON one (the table is what gets pasted into README.md).
        line = next(line for line in body if line.split("|")[1].strip() == row_id)
        first = row["engines"][labels[0]]
        assert line.split("|")[3].strip().endswith(first["unit"])
    # Row 7: replay speed with our engine (the first one named).
    _check_replay(tables[1], data["replay"], labels[0].split("#")[0], REPLAY_ROWS)


def test_quick_run_reference_against_itself(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = _run_bench("--quick", "--engines", "h11,h11", "--json", str(out), cwd=tmp_path)
    _check_report(done, out, ["h11#1", "h11#2"])
    rows = {row["id"]: row for row in json.loads(out.read_text())["rows"]}
    # The same engine in both slots: a harness that measured the two slots
    # differently (no interleaving, one slot warmed and the other cold) would
    # drift far from 1.  The band is wide because this is a shared machine.
    for row_id in ("1", "2", "3", "6a", "6b"):
        assert 0.2 < rows[row_id]["ratio"] < 5, (row_id, rows[row_id]["ratio"])


def test_quick_run_default_engines(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    done = _run_bench("--quick", "--json", str(out), cwd=tmp_path)
    _check_report(done, out, ["h11dbg", "h11"])


def test_row_selection(tmp_path: Path) -> None:
    done = _run_bench("--quick", "--engines", "h11,h11", "--rows", "2,6", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    ids = [line.split("|")[1].strip() for line in done.stdout.splitlines() if line.startswith("| ")]
    assert ids == ["#", "2", "6a", "6b", "6c"]


def test_runs_as_a_module_from_the_repository_root() -> None:
    """``python -m bench.run`` works as well as ``python bench/run.py``, replay rows (bench.replay) included."""
    done = subprocess.run([sys.executable, "-m", "bench.run", "--quick", "--engines", "h11,h11", "--rows", "2,7a"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    ids = [line.split("|")[1].strip() for line in done.stdout.splitlines() if line.startswith("| ")]
    assert ids == ["#", "2", "#", "7a"]


def test_replay_rows_alone(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    keep = tmp_path / "corpus"
    done = _run_bench("--quick", "--engines", "h11,h11", "--rows", "7a,7b", "--keep", str(keep),
                      "--json", str(out), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    tables = _tables(done.stdout)
    assert len(tables) == 1  # no engine rows were asked for
    data = json.loads(out.read_text())
    assert data["rows"] == []
    _check_replay(tables[0], data["replay"], "h11", ["7a", "7b"])
    # --keep leaves the traffic behind: a real transcript and a real pcap of the same bytes.
    from h11dbg.transcript import Chunk, open_transcript

    corpus = data["replay"]["corpora"]["small"]
    chunks = {}
    for name in ("text", "pcap"):
        path = Path(corpus["files"][name]["path"])
        assert path.parent == keep
        chunks[name] = [(r.direction, r.data) for r in open_transcript(path) if isinstance(r, Chunk)]
        assert sum(len(data) for _, data in chunks[name]) == corpus["payload_bytes"]
    # The pcap's MSS-sized segments, joined at their PSH flags, are the writes the text records.
    assert chunks["pcap"] == chunks["text"]
    segments = [r for r in open_transcript(corpus["files"]["pcap"]["path"], segments=True) if isinstance(r, Chunk)]
    assert len(segments) > 2 * len(chunks["text"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engines", "nosuch,h11"], "unknown engine 'nosuch'"),
        (["--engines", "h11"], "--engines needs two names"),
        (["--engines", "h11,h11", "--rows", "9"], "unknown row '9'"),
    ],
)
def test_bad_options_give_one_clear_line(tmp_path: Path, args: list[str], message: str) -> None:
    done = _run_bench("--quick", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: ") and message in lines[0]
