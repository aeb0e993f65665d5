"""Our text transcript format: exact round trips, lazy reading, located errors."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from h11dbg.transcript import (
    Chunk,
    Close,
    Meta,
    Open,
    TranscriptError,
    formats,
    open_transcript,
    textformat,
    write_transcript,
)

# Bytes weighted towards the ones that are hard to keep: line ends, NUL, spaces, backslashes, high bytes.
_tricky = st.sampled_from(
    [b"\r", b"\n", b"\r\n", b"\x00", b" ", b"  ", b"\\", b"\\x41", b"\t", b"| ", b"\xff"]
)
_payload = st.lists(st.one_of(st.binary(max_size=40), _tricky), max_size=12).map(b"".join)


@settings(max_examples=200, deadline=None)
@given(
    data=_payload,
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8),
    description=st.text(max_size=30),
)
def test_round_trip_keeps_every_byte_and_boundary(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, cuts: list[int], description: str
) -> None:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    pieces = [data[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    records = [Open(7, 0.0, "127.0.0.1:50000", "[::1]:8000")]
    for index, piece in enumerate(pieces):
        records.append(Chunk(7, "c2s" if index % 2 == 0 else "s2c", piece, index * 0.25))
    records += [Close(7, "c2s", 9.5), Close(7, "s2c", 9.75, reset=True)]
    path = tmp_path_factory.mktemp("rt") / "t.h11t"
    write_transcript(records, path, Meta(tool="test", description=description))
    transcript = open_transcript(path)
    assert list(transcript) == records
    assert transcript.meta.description == description
    # the file is ASCII and no line carries blanks an editor would trim
    text = path.read_bytes()
    assert text.isascii()
    for line in text.split(b"\n"):
        assert line == line.rstrip(b" \t")
        assert not line.startswith(b"| ") or not line[2:].startswith(b" ")


def test_a_chunk_is_shown_one_line_per_lf(tmp_path: Path) -> None:
    path = tmp_path / "t.h11t"
    write_transcript([Chunk(1, "c2s", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")], path, Meta(tool="t"))
    lines = path.read_text().splitlines()
    assert lines[0] == "h11dbg-transcript 1"
    assert "tool: t" in lines
    at = lines.index("c2s 1 at 0.000000 len 27")
    assert lines[at + 1 : at + 4] == ["| GET / HTTP/1.1\\r\\n", "| Host: x\\r\\n", "| \\r\\n"]


def test_hand_written_file_with_comments_and_crlf_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "hand.h11t"
    path.write_bytes(
        b"h11dbg-transcript 1\r\n"
        b"description: by hand\r\n"
        b"# a comment\r\n\r\n"
        b"c2s 3 at 1.5 len 5\r\n"
        b"| a b\\n\r\n"
        b"|\r\n"
        b"| \\x00\r\n"
        b"# between records\r\n"
        b"close 3 c2s at 2\r\n"
    )
    transcript = open_transcript(path)
    assert transcript.meta.description == "by hand"
    assert list(transcript) == [Chunk(3, "c2s", b"a b\n\x00", 1.5), Close(3, "c2s", 2.0)]


def test_reader_is_lazy_and_streams(tmp_path: Path) -> None:
    path = tmp_path / "big.h11t"
    body = b"x" * 65536
    with open(path, "wb") as stream:
        writer = textformat.TextWriter(stream, Meta(tool="t"))
        for index in range(200):  # ~13 MB of records
            writer.write(Chunk(1, "s2c", body, float(index)))
    transcript = open_transcript(path)
    assert isinstance(transcript.records, types.GeneratorType)
    total = 0
    for record in transcript:
        assert isinstance(record, Chunk)
        total += len(record.data)
    assert total == 200 * 65536


@pytest.mark.parametrize(
    ("content", "line", "expected"),
    [
        (b"", 1, "the file is empty"),
        (b"h11dbg-transcript 2\n", 1, "version 2 is not supported"),
        (b"h11dbg-transcript 1\nc2s 1 at 0 len 3\n| ab\n", 2, "declares len 3 but its payload holds 2"),
        (b"h11dbg-transcript 1\nc2s 1 at 0 len 3\n| ab\\q\n", 3, "column 5"),
        (b"h11dbg-transcript 1\nc2s 1 at 0 len 1\n| \\x4\n| 1\n", 3, "\\xHH"),
        (b"h11dbg-transcript 1\nc2s 1 at 0 len 1\n| \xc3\xa9\n", 3, "printable ASCII"),
        (b"h11dbg-transcript 1\nc2s 1 at 0 len 1\n|x\n", 3, "expected '| '"),
        (b"h11dbg-transcript 1\n\n| ab\n", 3, "payload line outside a chunk"),
        (b"h11dbg-transcript 1\nopen 1 at 0 client a\n", 2, "expected a record line"),
        (b"h11dbg-transcript 1\nclose 1 at 0\n", 2, "'close|reset CONN c2s|s2c at TIME'"),
        (b"h11dbg-transcript 1\nclose 1 c2s at 0\ntool: late\n", 3, "metadata lines belong before"),
    ],
)
def test_malformed_files_say_where_and_what(tmp_path: Path, content: bytes, line: int, expected: str) -> None:
    path = tmp_path / "bad.h11t"
    path.write_bytes(content)
    with pytest.raises(TranscriptError) as info:
        list(open_transcript(path, format="h11dbg"))
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert expected in str(info.value)


def test_detection_by_content(tmp_path: Path) -> None:
    ours = tmp_path / "any-name.bin"
    write_transcript([Chunk(1, "c2s", b"x")], ours, Meta())
    assert open_transcript(ours).meta.source_format == "h11dbg"
    unknown = tmp_path / "notes.txt"
    unknown.write_text("hello\n")
    with pytest.raises(TranscriptError, match="not a transcript"):
        open_transcript(unknown)
    with pytest.raises(TranscriptError, match="cannot open"):
        open_transcript(tmp_path / "missing.h11t")
    with pytest.raises(TranscriptError, match="unknown format 'nope'"):
        open_transcript(ours, format="nope")


def test_registry_dispatches_to_registered_readers(tmp_path: Path) -> None:
    def read(path: Path) -> textformat.Transcript:
        def broken():  # an importer that fails mid-file still ends as one located message
            yield Chunk(1, "c2s", path.read_bytes()[4:])
            raise ValueError("truncated record")

        return textformat.Transcript(Meta(source_format="test-magic"), broken())

    formats.register("test-magic", lambda head: head.startswith(b"TST!"), read)
    try:
        path = tmp_path / "x.tst"
        path.write_bytes(b"TST!payload")
        transcript = open_transcript(path)
        assert transcript.meta.source_format == "test-magic"
        records = iter(transcript)
        assert next(records) == Chunk(1, "c2s", b"payload")
        with pytest.raises(TranscriptError, match="cannot read as test-magic: ValueError: truncated"):
            next(records)
    finally:
        formats._FORMATS.pop("test-magic")


def test_write_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "keep.h11t"
    path.write_text("precious")
    with pytest.raises(TranscriptError, match="refusing to overwrite"):
        write_transcript([Chunk(1, "c2s", b"x")], path, Meta())
    assert path.read_text() == "precious"


@pytest.mark.parametrize("payload", [b"\\x4\\\\1", b"\\\\\\q", b"ab\\", b"\\x\\x41", b"a\rb"])
def test_invalid_escapes_are_caught(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "bad.h11t"
    path.write_bytes(b"h11dbg-transcript 1\nc2s 1 at 0 len 9\n| " + payload + b"\n")
    with pytest.raises(TranscriptError, match="expected a printable ASCII character") as info:
        list(open_transcript(path))
    assert info.value.line == 3


@pytest.mark.parametrize("declared", [1, 100])  # escape-dense and sparse chunks are checked differently
@pytest.mark.parametrize("split", [b"\\\n| x41", b"\\x\n| 41", b"\\x4\n| 1"])
def test_escape_never_spans_lines(tmp_path: Path, declared: int, split: bytes) -> None:
    path = tmp_path / "bad.h11t"
    path.write_bytes(b"h11dbg-transcript 1\nc2s 1 at 0 len %d\n| " % declared + split + b"\n")
    with pytest.raises(TranscriptError) as info:
        list(open_transcript(path))
    assert info.value.line == 3


_lines = st.lists(st.one_of(
    st.sampled_from([b"c2s 1 at 0 len 3", b"s2c 2 at 1.5 len 0", b"| abc", b"|", b"| \\x4", b"| \\\\",
                     b"close 1 c2s at 2", b"reset 3 s2c at 1", b"open 1 at 0 client - server a:1", b"# x",
                     b"", b"tool: late", b"| \\r\\n", b"|\\x00", b"c2s 1 at 0 len 99999999999"]),
    st.binary(max_size=12),
), max_size=12)


@settings(max_examples=300, deadline=None)
@given(lines=_lines, crlf=st.booleans())
def test_any_file_reads_or_fails_with_a_location(tmp_path_factory: pytest.TempPathFactory, lines: list[bytes],
                                                 crlf: bool) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "f.h11t"
    end = b"\r\n" if crlf else b"\n"
    content = b"h11dbg-transcript 1" + end + end.join(lines)
    path.write_bytes(content)
    try:
        for record in open_transcript(path):
            assert record.conn >= 0
    except TranscriptError as exc:
        assert exc.line is not None and 1 <= exc.line <= content.count(b"\n") + 1
        assert str(exc).startswith(f"{path}:{exc.line}: ")
