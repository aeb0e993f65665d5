"""`connect`'s timing, measured as curl -w measures, compared with curl on the same request (issue 11
item 3, the live half): real uvicorn over TCP and over TLS (a trustme CA), curl 7.88."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CURL = "/usr/bin/curl"
CURL_FORMAT = "%{time_namelookup} %{time_connect} %{time_appconnect} %{time_starttransfer} %{time_total}"
PHASES = ("dns", "connect", "tls", "first_byte", "total")

pytestmark = pytest.mark.skipif(not Path(CURL).exists(), reason="curl is not installed")


def ours(args: list[str], script: str) -> list[dict[str, Any]]:
    result = subprocess.run([sys.executable, "-m", "h11dbg", "connect", *args, "--json"], input=script,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def curls(url: str, *extra: str) -> dict[str, float | None]:
    """curl's five times for ``url`` (the best of three, as ours are: the machine is shared)."""
    runs = []
    for _ in range(3):
        out = subprocess.run([CURL, "-s", "-o", "/dev/null", "-w", CURL_FORMAT, *extra, url],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        runs.append([float(value) for value in out.split()])
    best = min(runs, key=lambda run: run[-1])
    times: dict[str, float | None] = dict(zip(PHASES, best, strict=True))
    if times["tls"] == 0.0:
        times["tls"] = None  # curl's 0 for "no TLS" is our null
    return times


def assert_ordered(timing: dict[str, float | None]) -> None:
    present = [timing[name] for name in PHASES if timing[name] is not None]
    assert present == sorted(present), timing
    assert all(value is not None and value >= 0 for value in present)


def assert_comparable(mine: dict[str, float | None], theirs: dict[str, float | None]) -> None:
    """The same order of magnitude: within 10x either way, with a few ms of slack for a busy machine."""
    for name in PHASES:
        a, b = mine[name], theirs[name]
        assert (a is None) == (b is None), (name, mine, theirs)
        if a is not None and b is not None:
            assert a <= 10 * b + 0.02 and b <= 10 * a + 0.02, (name, mine, theirs)


def best_timing(args: list[str], script: str) -> dict[str, Any]:
    runs = [[line for line in ours(args, script) if line["kind"] == "timing"] for _ in range(3)]
    return min((run[0] for run in runs), key=lambda line: line["timing"]["total"])


def test_timing_over_tcp_compares_with_curl(uvicorn_server: Any) -> None:
    line = best_timing([uvicorn_server.address], "request GET /timed\neom\nrun\n")
    assert set(line) >= {"event", "conn", "timing"} and line["event"] == "timing" and line["conn"] == 1
    timing = line["timing"]
    assert list(timing) == list(PHASES)
    assert timing["tls"] is None  # plain TCP
    assert_ordered(timing)
    assert_comparable(timing, curls(f"http://{uvicorn_server.address}/timed"))


def test_timing_over_tls_compares_with_curl(tls_server: Any) -> None:
    args = [f"localhost:{tls_server.port}", "--tls", "--cafile", str(tls_server.cafile)]
    timing = best_timing(args, "request GET /timed\neom\nrun\n")["timing"]
    assert timing["tls"] is not None and timing["tls"] > timing["connect"]
    assert_ordered(timing)
    assert_comparable(timing, curls(f"https://localhost:{tls_server.port}/timed", "--cacert", str(tls_server.cafile)))


def test_a_reused_connection_times_from_the_request_and_text_output_and_the_timing_command(
        uvicorn_server: Any) -> None:
    script = "request GET /a\neom\nrun\ncycle\nrequest GET /b\neom\nrun\ntiming\n"
    lines = [line for line in ours([uvicorn_server.address], script) if line["kind"] == "timing"]
    assert [line["timing"]["dns"] is None for line in lines] == [False, True]
    reused = lines[1]["timing"]
    assert reused["connect"] is None and reused["tls"] is None
    assert_ordered(reused)
    result = subprocess.run([sys.executable, "-m", "h11dbg", "connect", uvicorn_server.address], input=script,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    fresh = r"timing: dns \d\.\d{6} s, connect \d\.\d{6} s, tls -, first byte \d\.\d{6} s, total \d\.\d{6} s " \
            r"\(transfer \d\.\d{6} s\)"
    again = r"timing \(connection reused: from the request\): first byte \d\.\d{6} s, total \d\.\d{6} s " \
            r"\(transfer \d\.\d{6} s\)"
    # a line after each response, then both again from `timing`
    assert len(re.findall(r"\] #1 " + fresh + "\n", result.stdout)) == 2, result.stdout
    assert len(re.findall(r"\] #1 " + again + "\n", result.stdout)) == 2, result.stdout
