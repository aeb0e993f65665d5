"""Smoke test for bench/faults.py (the fault table): it runs the reset scenarios of every command end
to end and reports each with the exit code docs/robustness.md shows.  Times are not asserted: they are
what the table measures, on a shared machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "faults.py"


def test_the_reset_rows_have_their_exit_codes_and_no_defect(tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    result = subprocess.run([sys.executable, str(BENCH), "--only", "reset", "--json", str(out)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    rows = json.loads(out.read_text())
    codes = {(row["command"].split()[0], row["fault"]): row["exit"] for row in rows}
    assert codes == {
        ("connect", "server resets mid-head"): 3,
        ("connect", "server resets mid-body (5 of 100 bytes)"): 3,
        ("connect", "server resets after the response, the client reading on"): 3,
        ("listen", "client resets mid-head"): 3,
        ("listen", "client resets mid-body (5 of 100 bytes)"): 3,
        ("listen", "client resets after the response"): 3,
        ("record", "upstream resets mid-head"): 0,
        ("record", "upstream resets mid-body"): 0,
        ("record", "upstream resets after the response"): 0,
        ("record", "client resets mid-head"): 0,
        ("record", "client resets mid-upload"): 0,
        ("record", "client resets after the response"): 0,
        ("record", "upstream resets mid-body, the client over TLS"): 0,
        ("record", "client over TLS resets mid-upload"): 0,
        ("record", "TLS upstream resets mid-body"): 0,
    }
    for row in rows:
        assert row["defects"] == [] and "reset" in row["seen"], row
    table = [line for line in result.stdout.splitlines() if line.startswith("| reset |")]
    assert len(table) == len(rows)
    assert result.stdout.rstrip().endswith("0 defects")


def test_a_class_it_does_not_know_is_a_usage_error(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(BENCH), "--only", "floods"], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert result.returncode == 2 and "unknown class 'floods'" in result.stderr
