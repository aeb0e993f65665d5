"""A replay split across two processes prints exactly what a replay in one process prints."""

from __future__ import annotations

import os
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from support.captures import lossy_capture
from support.forks import count_forks

from h11dbg.cli import main
from h11dbg.replay import forked, parallel, prefetch
from h11dbg.transcript import Chunk, Close, Meta, Open, write_transcript

ROOT = Path(__file__).resolve().parents[2]
INPUTS = sorted((ROOT / "transcripts").glob("*.h11t")) + [
    ROOT / "tests" / "data" / "captures" / name for name in ("http-lo.pcap", "http-ipv6.pcap", "http-lo.pcapng")
]

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="a split replay needs os.fork")

Policy = Callable[[int, float, float, int, int], bool]
POLICIES: dict[str, Policy] = {
    "alternate": lambda conn, *_: conn % 2 == 0,
    "worker": lambda *_: True,
    "parent": lambda *_: False,
    "balanced": parallel.takes_it,
}


def _replay(path: Path, monkeypatch: pytest.MonkeyPatch, policy: Policy | None, *extra: str) -> Result:
    """``h11dbg replay PATH``: split with ``policy`` deciding who takes each connection, or (None)
    in one process."""
    with monkeypatch.context() as patch:
        patch.setattr(forked, "cpus", lambda: 2)
        patch.setattr(prefetch, "MIN_PREFETCH_BYTES", 0 if policy else 1 << 40)
        forks = count_forks(patch)
        if policy is not None:
            patch.setattr(parallel, "takes_it", policy)
        result = CliRunner().invoke(main, ["replay", str(path), *extra])
    assert len(forks) == (1 if policy else 0)
    return result


def _same(path: Path, monkeypatch: pytest.MonkeyPatch, policy: str, *extra: str) -> Result:
    expected = _replay(path, monkeypatch, None, *extra)
    got = _replay(path, monkeypatch, POLICIES[policy], *extra)
    assert got.stdout == expected.stdout
    assert got.stderr == expected.stderr
    assert got.exit_code == expected.exit_code
    return got


@pytest.mark.parametrize("path", INPUTS, ids=[p.name for p in INPUTS])
def test_every_recorded_transcript_and_capture(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = _same(path, monkeypatch, "alternate")
    assert result.stdout.count("\n") > 5
    _same(path, monkeypatch, "worker", "--json")


def _busy(path: Path, seed: int) -> Path:
    """Interleaved connections: keep-alive, a protocol error, connections the file leaves open,
    a connection number used twice, a reset."""
    rng = random.Random(seed)
    records: list = []
    live: dict[int, int] = {}
    time = 0.0
    for step in range(400):
        time += 0.001
        conn = rng.randrange(1, 12)
        if conn not in live:
            live[conn] = 0
            records.append(Open(conn, time, f"127.0.0.1:{40000 + conn}", "127.0.0.1:80"))
            continue
        roll = rng.random()
        if roll < 0.04 and step < 300:  # the connection ends (its number may come back later)
            records += [Close(conn, "c2s", time, reset=rng.random() < 0.3)]
            if not records[-1].reset:
                records.append(Close(conn, "s2c", time))
            del live[conn]
            continue
        n = live[conn] = live[conn] + 1
        if roll < 0.06:
            records.append(Chunk(conn, "c2s", b"GET /bad HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n", time))
            continue
        body = b"x" * rng.randrange(0, 300)
        records.append(Chunk(conn, "c2s", b"GET /%d HTTP/1.1\r\nHost: a\r\n\r\n" % n, time))
        response = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        cut = rng.randrange(len(response) + 1)
        records += [Chunk(conn, "s2c", response[:cut], time), Chunk(conn, "s2c", response[cut:], time)]
    records = [r for r in records if not (isinstance(r, Chunk) and not r.data)]
    write_transcript(records, path, Meta(tool="test"))
    return path


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_interleaved_connections_errors_reuse_and_open_ends(policy: str, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = _busy(tmp_path / "busy.h11t", 7)
    result = _same(path, monkeypatch, policy)
    assert result.exit_code == 1 and "with a protocol error" in result.stderr
    assert " end " in result.stdout
    _same(path, monkeypatch, policy, "--json")
    _same(path, monkeypatch, policy, "--no-headers")


def test_bad_input_after_many_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _busy(tmp_path / "busy.h11t", 8)
    with open(path, "ab") as stream:
        stream.write(b"c2s 3 at 9.0 len 5\n| abc\nclose 3 c2s at 9.1\n")
    result = _same(path, monkeypatch, "alternate")
    bad_line = path.read_bytes().count(b"\n") - 2  # the record line, before its payload line
    assert result.exit_code == 2 and result.stderr == (
        f"h11dbg: {path}:{bad_line}: the chunk declares len 5 but its payload holds 3 bytes"
        " (a trimmed trailing space? write it as \\x20)\n")
    assert result.stdout  # what came before the bad record was replayed


def test_a_recording_cut_inside_its_last_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # what a kill mid-write leaves: the records before the cut replay, the note comes after them
    path = _busy(tmp_path / "cut.h11t", 8)
    with open(path, "ab") as stream:
        stream.write(b"c2s 3 at 9.0 len 5\n| ab\\x6")
    cut_line = path.read_bytes().count(b"\n")
    result = _same(path, monkeypatch, "alternate")
    before, note, after = result.stdout.partition(
        f"note: h11dbg input is lossy: the file ends inside its last record (line {cut_line}: a 'c2s 3 at 9.0 len 5' "
        "chunk holding 2 of its 5 bytes), which is left out: a recording cut short (killed mid-write, or its disk "
        "full); every record before it is whole\n")
    assert note and before.count("\n") > 100
    assert all(re.match(r"\[\d+\] +[\d.]+ +end ", line) or line.startswith(" ") for line in after.splitlines())
    assert "h11dbg input is lossy (1 note(s) above)" in result.stderr.splitlines()[0]
    _same(path, monkeypatch, "worker", "--json")


def test_a_captures_losses_said_where_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = lossy_capture(tmp_path / "lossy.pcap", 30, 5)
    result = _same(path, monkeypatch, "alternate")
    assert result.stdout.count("note: pcap input is lossy") == 6  # connections 2, 7, ... 27 lost a segment
    assert result.stderr.startswith("30 connection(s), all parsed cleanly; pcap input is lossy (6 note(s) above)\n"
                                    "slowest exchanges: ")
    _same(path, monkeypatch, "worker", "--json")


def test_no_second_process_to_be_had(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fork failing (a process limit, no memory): the replay runs in one process, same output."""
    path = _busy(tmp_path / "busy.h11t", 9)
    expected = _replay(path, monkeypatch, None)

    def no_fork() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    with monkeypatch.context() as patch:
        patch.setattr(forked, "cpus", lambda: 2)
        patch.setattr(prefetch, "MIN_PREFETCH_BYTES", 0)
        patch.setattr(os, "fork", no_fork)
        for args in (["replay"], ["replay", "--json"], ["replay", "--step"], ["diff"]):
            result = CliRunner().invoke(main, [*args, str(path)], input="continue\n")
            # exit 1 (the file holds protocol errors), by a SystemExit and not by an escaped exception
            assert isinstance(result.exception, SystemExit) and result.exit_code == 1, result.exception
            if args == ["replay"]:
                assert (result.stdout, result.stderr, result.exit_code) == (
                    expected.stdout, expected.stderr, expected.exit_code)
            assert result.stderr == {
                "replay": expected.stderr, "replay --json": "", "replay --step": expected.stderr,
                "diff": "engines h11dbg and h11: 2 connection(s) differ, 9 identical\n"}[" ".join(args)]
            assert result.stdout
