"""Damaged input never escapes as anything but a located TranscriptError (one line, no traceback)."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
from support.captures import CAPTURES

from h11dbg.transcript.formats import TranscriptError
from h11dbg.transcript.importers import read_curl_trace, read_har, read_pcap
from h11dbg.transcript.model import Transcript

READERS: dict[str, Callable[[Path], Transcript]] = {
    "http-lo.pcap": read_pcap,
    "http-lo.pcapng": read_pcap,
    "http-any-sll2-nano.pcap": read_pcap,
    "http-trace.txt": read_curl_trace,
    "http-trace-ascii.txt": read_curl_trace,
    "http.har": read_har,
}


@pytest.mark.parametrize("name", sorted(READERS))
def test_random_byte_damage_gives_a_transcript_or_a_located_error(tmp_path: Path, name: str) -> None:
    rng = random.Random(name)  # the same damage on every run
    data = (CAPTURES / name).read_bytes()
    path = tmp_path / name
    errors = 0
    for _ in range(150):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 6)):
            damaged[rng.randrange(len(damaged))] = rng.randrange(256)
        path.write_bytes(bytes(damaged))
        try:
            list(READERS[name](path))
        except TranscriptError as exc:
            errors += 1
            assert str(exc).startswith(str(path)) and "\n" not in str(exc)
    assert errors > 0  # the damage was noticed at least sometimes


@pytest.mark.parametrize("name", sorted(READERS))
def test_a_missing_file(tmp_path: Path, name: str) -> None:
    with pytest.raises(TranscriptError, match="cannot read"):
        READERS[name](tmp_path / "nope")
