"""Smoke test for bench/bounds.py (the bounds table, docs/robustness.md): the outcomes at small sizes.

Nothing here asserts a time: only what each engine did at each bound (accepted,
waiting, refused with which status, rule and offset), fed whole, in 64 KiB reads
and one byte at a time, and that the bench refuses to time an engine whose
outcome is not the expected one.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import bounds
from bench.run import BenchError

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "bounds.py"
LIMIT = 16 * 1024
BOUNDS = ["1a", "1b", "2a", "2b", "3a", "3b", "3c", "3d", "3e", "3f", "3g", "4a", "4b", "4c", "4d", "4e", "5"]
PER_BYTE = [f"6{series}-{size}k" for series in "hb" for size in (1, 4, 16, 64)]
# (kind, status, rule) fed whole, ours then h11 (h11 has no rule): the chunk sizes and Content-Lengths near 2^64
OVERFLOW = ("refused", 400, "chunk-size-overflow")
CL_OVERFLOW = ("refused", 400, "content-length-overflow")
WAITING = ("waiting", None, None)
NEAR_2_64 = {
    "3a": (WAITING, WAITING), "3b": (WAITING, WAITING), "3c": (OVERFLOW, WAITING), "3d": (OVERFLOW, WAITING),
    "3e": (WAITING, WAITING), "3f": (OVERFLOW, WAITING), "3g": (OVERFLOW, ("refused", 400, None)),
    "4a": (WAITING, WAITING), "4b": (WAITING, WAITING), "4c": (CL_OVERFLOW, WAITING),
    "4d": (CL_OVERFLOW, WAITING), "4e": (CL_OVERFLOW, ("refused", 400, None)),
}


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=240,
                          cwd=cwd)


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    directory = tmp_path_factory.mktemp("bounds")
    done = _run("--quick", "--json", str(directory / "bounds.json"), cwd=directory)
    assert done.returncode == 0, done.stderr
    return done, {case["id"]: case for case in json.loads((directory / "bounds.json").read_text())["cases"]}


def _feedings(case: dict[str, Any], engine: str) -> dict[str, dict[str, Any]]:
    return dict(case["engines"][engine]["feedings"])


def test_tables_list_every_case(quick: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    done, cases = quick
    assert "Traceback" not in done.stderr
    assert list(cases) == BOUNDS + PER_BYTE
    ids = [line.split("|")[1].strip() for line in done.stdout.splitlines() if line.startswith("| ")]
    assert ids == ["#", *BOUNDS, "#", *PER_BYTE]


@pytest.mark.parametrize("case_id", ["1a", "2a"])
def test_default_limit_refuses_ours_at_its_first_byte_however_fed(
    quick: tuple[subprocess.CompletedProcess[str], dict[str, Any]], case_id: str
) -> None:
    case = quick[1][case_id]
    assert case["bytes"] > 2 * LIMIT
    ours = _feedings(case, "h11dbg")
    for how, entry in ours.items():
        outcome = entry["outcome"]
        assert (outcome["kind"], outcome["status"], outcome["rule"], outcome["offset"]) == \
            ("refused", 431, "max-incomplete-event-size", 0), how
    # refused as soon as the head is one byte over the limit, not after the whole megabyte
    assert ours["byte by byte"]["fed_bytes"] == LIMIT + 1
    assert ours["in 64 KiB reads"]["fed_bytes"] == case["bytes"]  # the quick sizes fit in one read
    # h11 checks its buffer only when it runs dry: the head fed whole is accepted, byte by byte refused
    h11 = _feedings(case, "h11")
    assert h11["whole"]["outcome"]["kind"] == "accepted"
    assert h11["byte by byte"]["outcome"]["kind"] == "refused"
    assert h11["byte by byte"]["outcome"]["status"] == 431
    assert h11["byte by byte"]["fed_bytes"] == LIMIT + 1


@pytest.mark.parametrize("case_id", ["1b", "2b", "5", *PER_BYTE])
def test_accepted_by_both_however_fed(
    quick: tuple[subprocess.CompletedProcess[str], dict[str, Any]], case_id: str
) -> None:
    case = quick[1][case_id]
    for engine in ("h11dbg", "h11"):
        feedings = _feedings(case, engine)
        assert {entry["outcome"]["kind"] for entry in feedings.values()} == {"accepted"}, engine
        assert len({json.dumps(entry["outcome"]) for entry in feedings.values()}) == 1
    events = case["engines"]["h11dbg"]["outcome"]["events"]
    if case_id == "1b":
        assert "longest value 40,000 B" in events
    elif case_id == "2b":
        assert events.startswith("Request(3,001 fields")
    elif case_id == "5":
        assert "×200" in events


@pytest.mark.parametrize("case_id", sorted(NEAR_2_64))
def test_near_2_64(quick: tuple[subprocess.CompletedProcess[str], dict[str, Any]], case_id: str) -> None:
    case = quick[1][case_id]
    for engine, expected in zip(("h11dbg", "h11"), NEAR_2_64[case_id], strict=True):
        for how, entry in _feedings(case, engine).items():
            outcome = entry["outcome"]
            assert (outcome["kind"], outcome["status"], outcome["rule"]) == expected, (engine, how)
    ours = case["engines"]["h11dbg"]["outcome"]
    if ours["kind"] == "refused":
        # where the size starts: the chunk-size line after the 72-byte head, or the Content-Length value
        stream = bounds.chunk_size_stream(b"") if case_id.startswith("3") else bounds.CONTENT_LENGTH_HEAD
        assert ours["offset"] == (72 if case_id.startswith("3") else 58)
        assert stream[ours["offset"] - 2:ours["offset"]] == (b"\r\n" if case_id.startswith("3") else b": ")


def test_per_byte_figures_and_growth(quick: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    cases = quick[1]
    for case_id in PER_BYTE:
        for engine in ("h11dbg", "h11"):
            entry = cases[case_id]["engines"][engine]
            assert math.isfinite(entry["ns_per_byte"]) and entry["ns_per_byte"] > 0
            first = case_id.endswith("-1k")
            assert ("growth" in entry) is not first
            if not first:
                assert math.isfinite(entry["growth"]) and entry["growth"] > 0
            # peak RSS only for the largest size, measured fed one byte at a time in a subprocess
            largest = case_id.endswith("-64k")
            assert ("rss_growth_bytes" in entry) is largest
            if largest:
                assert isinstance(entry["rss_growth_bytes"], int) and entry["rss_growth_bytes"] >= 0


def test_a_wrong_outcome_stops_the_bench() -> None:
    """An engine that does not do what the case expects gets no time: the bench stops on it."""
    case = next(case for case in bounds.cases(bounds.QUICK) if case.id == "3c")
    engine = bounds._load("h11")
    wrong = bounds.Case(case.id, case.title, case.stream, lambda s: {"h11": case.expect(s)["h11dbg"]})
    with pytest.raises(BenchError, match="h11 fed whole: expected"):
        bounds.check_feedings(wrong, bounds.QUICK, "h11", engine)
    with pytest.raises(BenchError, match="timed run"):
        bounds.measure([wrong], bounds.QUICK, {"h11": engine})


def test_one_case_and_a_bad_case_name(tmp_path: Path) -> None:
    done = _run("--quick", "--cases", "3c", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert [line.split("|")[1].strip() for line in done.stdout.splitlines() if line.startswith("| ")] == ["#", "3c"]
    done = _run("--quick", "--cases", "9z", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bounds: unknown case '9z'")
