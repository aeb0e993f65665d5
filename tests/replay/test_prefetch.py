"""Records read by a forked reader process are the records read in-process, errors included."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from support.captures import lossy_capture
from support.forks import count_forks

from h11dbg.replay import forked, prefetch
from h11dbg.transcript import Chunk, Close, Meta, Open, TranscriptError, open_transcript
from h11dbg.transcript.textformat import TextWriter

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="prefetching needs os.fork")


@pytest.fixture(autouse=True)
def _small_files_too(monkeypatch: pytest.MonkeyPatch) -> None:
    # the tests' files are small; prefetch them anyway (and pretend to have two CPUs)
    monkeypatch.setattr(prefetch, "MIN_PREFETCH_BYTES", 0)
    monkeypatch.setattr(forked, "cpus", lambda: 2)


def _write(path: Path, connections: int, body: bytes) -> None:
    with open(path, "wb") as stream:
        writer = TextWriter(stream, Meta(tool="test"))
        for conn in range(1, connections + 1):
            writer.write(Open(conn, 0.0, "127.0.0.1:5000", "127.0.0.1:80"))
            writer.write(Chunk(conn, "c2s", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0.1))
            writer.write(Chunk(conn, "s2c", b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body), 0.2))
            writer.write(Chunk(conn, "s2c", body, 0.3))
            writer.write(Close(conn, "c2s", 0.4))
            writer.write(Close(conn, "s2c", 0.5))


def _children() -> set[int]:
    try:
        text = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text()
    except OSError:
        return set()
    return {int(pid) for pid in text.split()}


def test_same_records_as_in_process(tmp_path: Path) -> None:
    path = tmp_path / "t.h11t"
    _write(path, 300, bytes(range(256)) * 40)  # escaped bytes: the reader has real work to do
    expected = list(open_transcript(path))
    transcript = prefetch.prefetch(open_transcript(path), path)
    assert not isinstance(transcript.records, list)
    got = list(transcript)
    assert got == expected
    assert len(got) == 300 * 6
    assert not _children()  # the reader was waited for


def test_an_error_comes_after_the_records_before_it(tmp_path: Path) -> None:
    path = tmp_path / "t.h11t"
    _write(path, 50, b"x" * 1000)
    with open(path, "ab") as stream:
        stream.write(b"c2s 1 at 1.0 len 3\n| abcd\n")
    in_process: list[object] = []
    with pytest.raises(TranscriptError) as expected:
        for record in open_transcript(path):
            in_process.append(record)
    got: list[object] = []
    with pytest.raises(TranscriptError) as raised:
        for record in prefetch.prefetch(open_transcript(path), path):
            got.append(record)
    assert got == in_process and len(got) == 300
    assert str(raised.value) == str(expected.value)
    assert raised.value.line == expected.value.line == path.read_bytes().count(b"\n") - 1  # the bad record's
    assert not _children()


def test_stopping_early_ends_the_reader(tmp_path: Path) -> None:
    path = tmp_path / "t.h11t"
    _write(path, 2000, b"y" * 2000)
    records = iter(prefetch.prefetch(open_transcript(path), path))
    first = [next(records) for _ in range(10)]
    assert isinstance(first[0], Open)
    assert _children()  # the reader is still running (or blocked on a full pipe)
    started = time.monotonic()
    records.close()  # type: ignore[attr-defined]
    assert time.monotonic() - started < 5
    assert not _children()


def test_not_worth_it_for_small_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prefetch, "MIN_PREFETCH_BYTES", 1 << 30)
    path = tmp_path / "t.h11t"
    _write(path, 2, b"z")
    transcript = open_transcript(path)
    records = transcript.records
    assert prefetch.prefetch(transcript, path).records is records


def _interleaved(transcript: object) -> list[object]:
    """Records and notes as a replay sees them: each note before the record read after it."""
    notes = transcript.notes  # type: ignore[attr-defined]
    seen = 0
    out: list[object] = []
    for record in transcript:  # type: ignore[attr-defined]
        if len(notes) != seen:
            out += [("note", why) for why in notes[seen:]]
            seen = len(notes)
        out.append(record)
    out += [("note", why) for why in notes[seen:]]
    return out


def test_a_captures_losses_arrive_where_they_were_found(tmp_path: Path) -> None:
    path = lossy_capture(tmp_path / "lossy.pcap", 40, 7)
    in_process = open_transcript(path)
    expected = _interleaved(in_process)
    assert sum(1 for item in expected if isinstance(item, tuple)) == 6  # connections 3, 10, ... 38 lost a segment
    prefetched = prefetch.prefetch(open_transcript(path), path)
    assert prefetched.meta.lossy is None  # not known before reading
    assert _interleaved(prefetched) == expected
    assert in_process.meta.lossy and prefetched.meta.lossy == in_process.meta.lossy


def test_diff_and_stepping_read_large_files_ahead_with_the_same_output(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # (a plain replay of a large file splits the replay itself: tests/replay/test_parallel.py)
    from click.testing import CliRunner

    from h11dbg.cli import main

    path = tmp_path / "big.h11t"
    _write(path, 40, bytes(range(256)) * 160)  # 40 KiB bodies, escaped: a few MiB of text

    def run(*args: str, ahead: bool) -> tuple[int, str, str, int]:
        with monkeypatch.context() as patch:
            patch.setattr(prefetch, "MIN_PREFETCH_BYTES", 1 << 20 if ahead else 1 << 40)
            assert prefetch.worth_it(path) == ahead
            forks = count_forks(patch)
            result = CliRunner().invoke(main, [*args, str(path)], input="next 50\ncontinue\n")
        return result.exit_code, result.stdout, result.stderr, len(forks)

    for args in (["diff"], ["replay", "--step"], ["replay", "--step", "--json"]):
        code, out, err, forks = run(*args, ahead=True)
        assert (code, out, err, 0) == (*run(*args, ahead=False)[:3], forks - 1)  # one reader forked
        assert code == 0 and out.count("\n") >= 40

    # bad input at the end of a large file: the same located error, exit 2, the steps before it shown
    with open(path, "ab") as stream:
        stream.write(b"s2c 1 at 9.0 len 2\n| abc\n")
    for args in (["diff"], ["replay", "--step"]):
        code, out, err, forks = run(*args, ahead=True)
        assert code == 2 and f"{path}:" in err and "len 2" in err and forks == 1
        assert (code, out, err) == run(*args, ahead=False)[:3]
