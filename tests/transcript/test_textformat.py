"""Our text transcript format: exact round trips, lazy reading, located errors."""

from __future__ import annotations

import tracemalloc
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
from h11dbg.transcript.files import OutputFileError

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
    assert isinstance(iter(transcript.records), types.GeneratorType)  # read as iterated, not all at once
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
        (b"h11dbg-transcript 1\nc2s 1 at 0 len 3\n| ab\nclose 1 c2s at 1\n", 2, "declares len 3 but its payload"),
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


@pytest.mark.parametrize(
    ("tail", "line", "said"),
    [
        (b"c2s 1 at 0.2 len 10\n| abc\\x4", 5, "a 'c2s 1 at 0.2 len 10' chunk holding 3 of its 10 bytes"),
        (b"c2s 1 at 0.2 len 10\n| abc\\", 5, "holding 3 of its 10 bytes"),
        (b"c2s 1 at 0.2 len 10\n| abc\\\\", 5, "holding 4 of its 10 bytes"),  # an escaped backslash, whole
        (b"c2s 1 at 0.2 len 10\n| ab", 5, "holding 2 of its 10 bytes"),
        (b"c2s 1 at 0.2 len 10\n| ab\n", 5, "holding 2 of its 10 bytes; edited by hand? a trimmed trailing space"),
        (b"c2s 1 at 0.2 len 10\n", 5, "holding 0 of its 10 bytes"),
        (b"c2s 1 at 0.2 le", 5, "'c2s 1 at 0.2 le', a record line without its end"),
        (b"close 1 s2c at 0.", 5, "'close 1 s2c at 0.', a record line without its end"),
    ],
)
def test_a_file_cut_inside_its_last_record_reads_up_to_it_with_a_note(tmp_path: Path, tail: bytes, line: int,
                                                                        said: str) -> None:
    # what a recorder killed mid-write (or a full disk) leaves: every record before the last whole
    path = tmp_path / "cut.h11t"
    path.write_bytes(b"h11dbg-transcript 1\nopen 1 at 0 client a:1 server b:2\nc2s 1 at 0.1 len 2\n| hi\n" + tail)
    transcript = open_transcript(path)
    assert list(transcript) == [Open(1, 0.0, "a:1", "b:2"), Chunk(1, "c2s", b"hi", 0.1)]
    assert transcript.notes is not None and len(transcript.notes) == 1
    assert transcript.notes[0].startswith(f"the file ends inside its last record (line {line}: ")
    assert said in transcript.notes[0]
    assert transcript.notes[0].endswith("which is left out: a recording cut short (killed mid-write, or its disk "
                                        "full); every record before it is whole")
    assert transcript.meta.lossy == transcript.notes[0]


def test_a_short_or_bad_last_chunk_that_is_no_cut_is_still_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.h11t"
    for tail, said in ((b"| a\\q", "column 4"), (b"| a\\x4g", "column 4"), (b"| ab\nclose 1 c2s at 1\n", "len 10")):
        path.write_bytes(b"h11dbg-transcript 1\nc2s 1 at 0 len 10\n" + tail)
        with pytest.raises(TranscriptError, match=said):
            list(open_transcript(path))


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
    with pytest.raises(OutputFileError, match="refusing to overwrite"):
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
            assert record.conn in (1, 2, 3)  # only the sampled record lines are short enough to be records
    except TranscriptError as exc:
        assert exc.line is not None and 1 <= exc.line <= content.count(b"\n") + 1
        assert str(exc).startswith(f"{path}:{exc.line}: ")


def _read(tmp_path: Path, content: bytes) -> list[object]:
    path = tmp_path / "t.h11t"
    path.write_bytes(content)
    return list(open_transcript(path, format="h11dbg"))


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"| \\x20a b\\x20\n", b" a b "),  # guarded spaces at a line's start and end
        (b"| \\x20\n| \\x20\n", b"  "),
        (b"| a\\\\\n| \\\\b\n", b"a\\\\b"),  # escaped backslashes right before and after a line end
        (b"| \\\\\\\\\n", b"\\\\"),
        (b"| \\x41\\x4a\\x4A\\x0a\\x5c\\x20\n", b"AJJ\n\\ "),  # valid escapes our writer would not make
        (b"| a\n|\n| b\n|\n", b"ab"),  # bare bars hold no bytes, also as the last line
        (b"| a\n| \n| b\n", b"ab"),  # as does a bar and a space
        (b"| | x\n", b"| x"),
        (b"| \\r\\n\\t\n", b"\r\n\t"),
    ],
)
def test_valid_payload_lines(tmp_path: Path, payload: bytes, expected: bytes) -> None:
    content = b"h11dbg-transcript 1\nc2s 1 at 0 len %d\n" % len(expected) + payload + b"close 1 c2s at 1\n"
    assert _read(tmp_path, content) == [Chunk(1, "c2s", expected), Close(1, "c2s", 1.0)]
    # the same at the end of the file without a final line end
    assert _read(tmp_path, content[: content.rindex(b"close")].rstrip(b"\n")) == [Chunk(1, "c2s", expected)]


@pytest.mark.parametrize(
    ("payload", "line", "column"),
    [
        (b"| a\\\\\\\n| b\n", 3, 6),  # an odd run of backslashes before a line end: an escape cut by it
        (b"| ok\n| a\\x\n| 41\n", 4, 4),
        (b"| ok\n| \\x4\n| 1\n", 4, 3),
        (b"| \\a\n", 3, 3),  # escapes of other languages are not ours
        (b"| \\b\n", 3, 3),
        (b"| \\f\n", 3, 3),
        (b"| \\v\n", 3, 3),
        (b"| \\'\n", 3, 3),
        (b'| \\"\n', 3, 3),
        (b"| \\0\n", 3, 3),
        (b"| \\7\n", 3, 3),
        (b"| x\\101\n", 3, 4),
        (b"| \\X41\n", 3, 3),
        (b"| \\u0041\n", 3, 3),
        (b"| \\N{DIGIT ONE}\n", 3, 3),
        (b"| \\x4g\n", 3, 3),
        (b"| \\ \n", 3, 3),
        (b"| a\\\n", 3, 4),
        (b"| a\x7f\n", 3, 4),
        (b"| a\x00\n", 3, 4),
    ],
)
def test_invalid_payload_lines_are_located(tmp_path: Path, payload: bytes, line: int, column: int) -> None:
    path = tmp_path / "bad.h11t"
    head = b"h11dbg-transcript 1\nc2s 1 at 0 len 4\n"
    # before a record, at the end of the file, and there without a final line end (but a lone backslash
    # there is an escape the file ends inside: a recording cut short, test_a_file_cut_inside_its_last_record...)
    contents = [head + payload + b"close 1 c2s at 1\n", head + payload, head + payload.rstrip(b"\n")]
    for content in contents[:2] if payload.endswith(b"a\\\n") else contents:
        path.write_bytes(content)
        with pytest.raises(TranscriptError, match=f"column {column}: expected a printable ASCII") as info:
            list(open_transcript(path))
        assert info.value.line == line


def test_a_record_line_inside_the_declared_length_ends_the_payload(tmp_path: Path) -> None:
    # the payload's end is searched for from len bytes on; a line without a bar before that
    # point must still end the payload, whatever follows it
    content = b"h11dbg-transcript 1\nc2s 1 at 0 len 40\n| abc\nclose 1 c2s at 1\n| " + b"x" * 60 + b"\n"
    with pytest.raises(TranscriptError, match="declares len 40 but its payload holds 3 bytes") as info:
        _read(tmp_path, content)
    assert info.value.line == 2
    content = b"h11dbg-transcript 1\nc2s 1 at 0 len 3\n| abc\n# note\n\nclose 1 c2s at 1\n| " + b"x" * 60 + b"\n"
    with pytest.raises(TranscriptError, match="payload line outside a chunk") as info:
        _read(tmp_path, content)
    assert info.value.line == 7


def test_crlf_file_reads_the_same_records(tmp_path: Path) -> None:
    records = [Chunk(1, "c2s", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"), Chunk(1, "s2c", bytes(range(256)) * 3, 0.5),
               Chunk(1, "s2c", b" spaced \\ out "), Close(1, "s2c", 1.0)]
    path = tmp_path / "lf.h11t"
    write_transcript(records, path, Meta(tool="t"))
    crlf = tmp_path / "crlf.h11t"
    crlf.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert list(open_transcript(crlf)) == records


@pytest.mark.parametrize("pad", [0, 1, 2, 3, 4, 33, 64, 65])
def test_payloads_across_the_read_block_boundary(tmp_path: Path, pad: int) -> None:
    # After the header (read line by line up to the first record line) the reader takes blocks of
    # textformat._BLOCK bytes; payload lines, escapes and line ends that straddle the first block's
    # end read the same, and an error there names its own line.  ``pad`` moves the boundary along
    # the repeated 66-character lines of the chunk that straddles it.
    head = b"h11dbg-transcript 1\nc2s 1 at 0 len 1\n"
    boundary = len(head) + textformat._BLOCK
    filler = b"s2c 1 at 1 len 1000\n| " + b"z" * 1000 + b"\n"
    fillers = (textformat._BLOCK - 2000) // len(filler)
    body = b"| " + b"z" * pad + b"\n" + (b"| " + b"\\x00" * 16 + b"\n") * 60
    content = (head + b"| a\n" + filler * fillers + b"s2c 1 at 1 len %d\n" % (pad + 16 * 60) + body
               + b"close 1 s2c at 2\n")
    assert content.index(body) < boundary - 66 < boundary + 66 < content.index(body) + len(body)
    expected = [Chunk(1, "c2s", b"a"), *[Chunk(1, "s2c", b"z" * 1000, 1.0)] * fillers,
                Chunk(1, "s2c", b"z" * pad + b"\x00" * 16 * 60, 1.0), Close(1, "s2c", 2.0)]
    assert _read(tmp_path, content) == expected
    for at in range(boundary - 5, boundary + 5):  # a bad escape at each place around the boundary
        if content[at : at + 1] not in (b"x", b"0"):
            continue
        with pytest.raises(TranscriptError, match="expected a printable ASCII character") as info:
            _read(tmp_path, content[:at] + b"q" + content[at + 1 :])
        assert info.value.line == content.count(b"\n", 0, at) + 1


@settings(max_examples=150, deadline=None)
@given(data=_payload, cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=6),
       edit=st.tuples(st.integers(min_value=0, max_value=10_000), st.sampled_from(
           [b"", b"\n", b"\\", b"\\x", b"|", b"\n|\n", b"\r", b"q", b"\nclose 1 c2s at 1\n", b"\n# c\n"])),
       block=st.sampled_from([1, 2, 3, 7, 64, 200]))
def test_reading_does_not_depend_on_the_block_size(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, cuts: list[int], edit: tuple[int, bytes], block: int,
) -> None:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    records = [Chunk(1, "c2s" if i % 2 else "s2c", data[a:b], 0.5) for i, (a, b) in enumerate(zip(bounds, bounds[1:],
                                                                                                  strict=False))]
    path = tmp_path_factory.mktemp("blk") / "t.h11t"
    write_transcript(records, path, Meta(tool="t"))
    content = path.read_bytes()
    at = edit[0] % (len(content) + 1)
    path.write_bytes(content[:at] + edit[1] + content[at + len(edit[1][:1]) :])

    def outcome() -> tuple[list[object], str | None]:
        seen: list[object] = []
        try:
            seen.extend(open_transcript(path))
        except TranscriptError as exc:
            return seen, str(exc)
        return seen, None

    usual = outcome()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(textformat, "_BLOCK", block)
        assert outcome() == usual


_payload_token = st.sampled_from(
    [b"a", b" ", b"|", b"\\\\", b"\\r", b"\\n", b"\\t", b"\\x41", b"\\x4A", b"\\x20", b"\\", b"\\x", b"\\x4", b"\\q",
     b"\\a", b"\\0", b"\\v", b"\\'", b"\\N", b"\r", b"\x00", b"\xff", b"\x7f", b"x", b"41"]
)
_payload_line = st.one_of(
    st.lists(_payload_token, max_size=6).map(lambda parts: b"| " + b"".join(parts)),
    st.sampled_from([b"|", b"|x", b"| ", b"|\r", b"", b"#", b"c2s 1 at 0 len 1"]),
)


@settings(max_examples=500, deadline=None)
@given(lines=st.lists(_payload_line, min_size=1, max_size=6), final_lf=st.booleans())
def test_quick_and_careful_payload_reading_agree(lines: list[bytes], final_lf: bool) -> None:
    # The quick way may decline any payload, but what it accepts the careful way must read the same.
    region = b"\n".join(line for line in lines if line.startswith(b"|")) + (b"\n" if final_lf else b"")
    if not region.startswith(b"|"):
        return
    quick = textformat._decode_quick(b"\n" + (region[:-1] if final_lf else region))
    try:
        careful = textformat._payload(Path("t"), 3, region, 0)
    except TranscriptError:
        assert quick is None
    else:
        assert quick is None or quick == careful


def test_a_wrong_len_does_not_make_the_reader_hold_the_next_chunks(tmp_path: Path) -> None:
    # the payload's end is looked for from len bytes on, but never past the block when the block
    # holds an end before that: here the next chunk's 8 MB payload must not be read in to find one
    line = b"| " + b"z" * 98 + b"\n"
    content = (b"h11dbg-transcript 1\nc2s 1 at 0 len 1\n| a\nc2s 1 at 0 len 2000\n| abc\nclose 1 c2s at 1\n"
               + b"s2c 1 at 1 len %d\n" % (98 * 80_000) + line * 80_000)
    tracemalloc.start()
    try:
        with pytest.raises(TranscriptError, match="declares len 2000 but its payload holds 3 bytes"):
            _read(tmp_path, content)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * textformat._BLOCK
