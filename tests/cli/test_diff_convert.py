"""h11dbg diff (two engines, first difference per connection) and h11dbg convert, from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from h11dbg.cli import main
from h11dbg.transcript import Chunk, Close, Meta, open_transcript, write_transcript

REQUEST_10 = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
RESPONSE_10 = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"


def _transcript(path: Path, records: list) -> Path:
    write_transcript(records, path, Meta(tool="test"))
    return path


def test_diff_shows_first_difference_per_connection(tmp_path: Path) -> None:
    path = _transcript(tmp_path / "t.h11t", [
        # conn 1: HTTP/1.0 keep-alive, which h11dbg honours when replaying and h11 never does
        Chunk(1, "c2s", REQUEST_10), Chunk(1, "s2c", RESPONSE_10), Chunk(1, "c2s", REQUEST_10),
        Chunk(1, "s2c", RESPONSE_10), Close(1, "c2s"), Close(1, "s2c"),
        # conn 2: plain HTTP/1.1, the same in both
        Chunk(2, "c2s", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        Chunk(2, "s2c", b"HTTP/1.1 204 No Content\r\n\r\n"),
        Close(2, "c2s"), Close(2, "s2c"),
    ])
    result = CliRunner().invoke(main, ["diff", str(path)])
    assert result.exit_code == 1
    assert "connection 1: the engines differ at step 2" in result.output
    lines = result.output.splitlines()
    at = lines.index("connection 1: the engines differ at step 2")
    assert "EndOfMessage" in lines[at + 1] and "client=DONE" in lines[at + 1]
    h11_line = next(line for line in lines[at + 1 :] if line.strip().startswith("h11 "))
    assert "client=MUST_CLOSE" in h11_line
    assert "connection 2: identical (10 steps)" in result.output

    as_json = CliRunner().invoke(main, ["diff", str(path), "--json"])
    records = [json.loads(line) for line in as_json.output.splitlines() if line.startswith("{")]
    assert records[0]["event"] == "diff" and records[0]["index"] == 1
    assert records[0]["h11dbg"]["states"]["client"] == "DONE"
    assert records[0]["h11"]["states"]["client"] == "MUST_CLOSE"
    assert records[1] == {"conn": 2, "event": "same", "steps": 10}


def test_diff_of_identical_engines_exits_0(tmp_path: Path) -> None:
    path = _transcript(tmp_path / "t.h11t", [
        Chunk(1, "c2s", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
    ])
    result = CliRunner().invoke(main, ["diff", str(path), "--engines", "h11,h11"])
    assert result.exit_code == 0
    assert "connection 1: identical (2 steps)" in result.output


def test_convert_round_trip_and_refuses_overwrite(tmp_path: Path) -> None:
    records = [Chunk(1, "c2s", b"GET / HTTP/1.1\r\n\r\n\x00\xff  "), Close(1, "c2s", 1.5)]
    source = _transcript(tmp_path / "in.h11t", records)
    target = tmp_path / "out.h11t"
    result = CliRunner().invoke(main, ["convert", str(source), str(target)])
    assert result.exit_code == 0, result.output
    converted = open_transcript(target)
    assert list(converted) == records
    assert converted.meta.extra["converted_by"].startswith("h11dbg convert")
    target.write_text("keep me")
    again = CliRunner().invoke(main, ["convert", str(source), str(target)])
    assert again.exit_code == 2 and "refusing to overwrite" in again.output
    assert target.read_text() == "keep me"


def test_convert_of_a_broken_input_leaves_no_output(tmp_path: Path) -> None:
    source = tmp_path / "broken.h11t"
    source.write_bytes(b"h11dbg-transcript 1\nc2s 1 at 0 len 2\n| ok\nc2s 1 at 0 len 5\n| short\\x\n")
    target = tmp_path / "out.h11t"
    result = CliRunner().invoke(main, ["convert", str(source), str(target)])
    assert result.exit_code == 2
    assert f"{source}:5:" in result.output
    assert not target.exists() and list(tmp_path.iterdir()) == [source]


CAPTURES = Path(__file__).resolve().parents[1] / "data" / "captures"


@pytest.mark.parametrize("name", ["http-lo.pcap", "http-lo.pcapng", "http-trace.txt", "http-trace-ascii.txt",
                                  "http.har"])
def test_convert_from_every_importer_replays_the_same(tmp_path: Path, name: str) -> None:
    source = CAPTURES / name
    target = tmp_path / f"{name}.h11t"
    converted = CliRunner().invoke(main, ["convert", str(source), str(target)])
    assert converted.exit_code == 0, converted.output
    meta = open_transcript(target).meta
    assert meta.source_format == open_transcript(source).meta.source_format != "h11dbg"
    before = CliRunner().invoke(main, ["replay", str(source), "--json", "--engine", "h11"])
    after = CliRunner().invoke(main, ["replay", str(target), "--json", "--engine", "h11"])
    assert before.exit_code == after.exit_code
    assert before.output == after.output and before.output.count("\n") > 10


def test_lossy_inputs_are_flagged_in_replay_output(tmp_path: Path) -> None:
    source = CAPTURES / "http.har"
    as_json = CliRunner().invoke(main, ["replay", str(source), "--json", "--engine", "h11"])
    first = json.loads(as_json.output.splitlines()[0])
    assert first["event"] == "lossy" and first["source_format"] == "har" and "HAR" in first["lossy"]
    as_text = CliRunner().invoke(main, ["replay", str(source), "--engine", "h11"])
    assert as_text.output.startswith("note: har input is lossy: ")
    ours = _transcript(tmp_path / "exact.h11t", [Chunk(1, "c2s", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")])
    assert "lossy" not in CliRunner().invoke(main, ["replay", str(ours), "--json", "--engine", "h11"]).output
