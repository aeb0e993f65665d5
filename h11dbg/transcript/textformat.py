"""Our transcript text format (version 1): read it lazily, write it record by record.

The format is specified in docs/transcript-format.md.  In short::

    h11dbg-transcript 1
    tool: h11dbg record 0.1.0
    description: curl GET through the recording proxy

    open 1 at 0.000000 client 127.0.0.1:50312 server 127.0.0.1:8000
    c2s 1 at 0.000412 len 40
    | GET / HTTP/1.1\\r\\n
    | Host: localhost\\r\\n
    | \\r\\n
    close 1 c2s at 0.010210

Payload lines (``| `` then escaped bytes) hold a chunk's bytes; the escaping is the one
:mod:`h11dbg.transcript.escaping` uses everywhere (``\\r \\n \\t \\\\ \\xHH``), and the file itself is ASCII.
Encoding and decoding go through the C ``unicode_escape`` codec, whose escapes for latin-1 text
are exactly ours, so no Python loop runs per byte.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from h11dbg.transcript.escaping import UnescapeError, escape, unescape
from h11dbg.transcript.formats import TranscriptError
from h11dbg.transcript.model import TIME_DIGITS, Chunk, Close, Meta, Open, Record, Transcript, absurd_time_message

MAGIC = b"h11dbg-transcript"
VERSION = 1
EXTENSION = ".h11t"

# A line never ends inside an escape, and one line holds at most this much escaped text before the
# writer falls back to fixed slices of raw bytes (binary bodies would otherwise make one huge line).
_MAX_LINE = 160
_SLICE = 64

# A time's whole seconds have at most TIME_DIGITS digits: a longer one (thousands of digits read as
# infinity) is no line of ours; the error path then names it (_ABSURD_TIME).
_TIME = rb"(-?\d{1,%d}(?:\.\d+)?)" % TIME_DIGITS
_ABSURD_TIME = re.compile(rb"(?:open|c2s|s2c|close|reset) .*? at (-?\d{%d,}(?:\.\d+)?)(?: |$)" % (TIME_DIGITS + 1))
_PEER = rb"(\S+)"
# Connection numbers, lengths and the version: at most 18 digits, so a longer one is a line that does
# not parse (located) rather than a number int() refuses (past 4300 digits) or one no file can hold.
_NUMBER = rb"(\d{1,18})"
_OPEN = re.compile(rb"open " + _NUMBER + rb" at " + _TIME + rb" client " + _PEER + rb" server " + _PEER)
_CHUNK = re.compile(rb"(c2s|s2c) " + _NUMBER + rb" at " + _TIME + rb" len " + _NUMBER)
_CLOSE = re.compile(rb"(close|reset) " + _NUMBER + rb" (c2s|s2c) at " + _TIME)
_META = re.compile(rb"([a-z][a-z0-9_-]*): ?(.*)")
_ONE_PAYLOAD_ITEM = re.compile(rb"[\x20-\x5b\x5d-\x7e]|\\(?:[rnt\\]|x[0-9a-fA-F]{2})")

_RECORD_SHAPES = (
    "a record line: 'open CONN at TIME client HOST:PORT server HOST:PORT', "
    "'c2s|s2c CONN at TIME len N' or 'close|reset CONN c2s|s2c at TIME'"
)
_KNOWN_META = ("tool", "peers", "recorded_at", "description", "source_format", "lossy")


# ---------------------------------------------------------------------------------------------
# writing


def _escape_fast(data: bytes) -> bytes:
    return data.decode("latin-1").encode("unicode_escape")


def _guard_spaces(line: bytes) -> bytes:
    # Editors trim trailing blanks and sometimes leading ones; an escaped space survives both.
    if line[:1] == b" ":
        line = b"\\x20" + line[1:]
    if line[-1:] == b" ":
        line = line[:-1] + b"\\x20"
    return line


def payload_lines(data: bytes) -> list[bytes]:
    """The escaped payload lines for ``data`` (without the ``| `` prefix or line ends)."""
    lines: list[bytes] = []
    pieces = data.split(b"\n")
    last = len(pieces) - 1
    for index, piece in enumerate(pieces):
        if index < last:
            piece += b"\n"
        elif not piece:
            break
        escaped = _escape_fast(piece)
        if len(escaped) <= _MAX_LINE:
            lines.append(_guard_spaces(escaped))
        else:
            for start in range(0, len(piece), _SLICE):
                lines.append(_guard_spaces(_escape_fast(piece[start : start + _SLICE])))
    return lines


def _time(value: float) -> str:
    return f"{value:.6f}"


def _meta_value(value: str) -> str:
    text = _guard_spaces(escape(value.encode("utf-8")).encode("ascii")).decode("ascii")
    return " " + text if text else ""


def header_text(meta: Meta) -> bytes:
    out = [f"h11dbg-transcript {VERSION}"]
    fields = {
        "tool": meta.tool,
        "peers": getattr(meta, "peers", None),
        "recorded_at": meta.recorded_at,
        "description": meta.description,
        "source_format": meta.source_format if meta.source_format != "h11dbg" else None,
        "lossy": meta.lossy,
    }
    for key, value in list(fields.items()) + sorted(meta.extra.items()):
        if value is not None:
            out.append(f"{key}:{_meta_value(str(value))}")
    out.append("")
    return ("\n".join(out) + "\n").encode("ascii")


def record_text(record: Record) -> bytes:
    """One record as it appears in the file (record line and payload lines, each ending in LF)."""
    if isinstance(record, Chunk):
        head = f"{record.direction} {record.conn} at {_time(record.time)} len {len(record.data)}\n"
        lines = payload_lines(record.data)
        if not lines:
            return head.encode("ascii")
        return head.encode("ascii") + b"| " + b"\n| ".join(lines) + b"\n"
    if isinstance(record, Open):
        return (
            f"open {record.conn} at {_time(record.time)} "
            f"client {record.client or '-'} server {record.server or '-'}\n"
        ).encode("ascii")
    if isinstance(record, Close):
        kind = "reset" if record.reset else "close"
        return f"{kind} {record.conn} {record.direction} at {_time(record.time)}\n".encode("ascii")
    raise TypeError(f"not a transcript record: {record!r}")


class TextWriter:
    """Writes a transcript to a binary stream; with ``flush=True`` every record reaches the OS at once
    (the recording proxy uses that so a kill leaves a file that is valid up to the last chunk)."""

    def __init__(self, stream: IO[bytes], meta: Meta, *, flush: bool = False) -> None:
        self._stream = stream
        self._flush = flush
        stream.write(header_text(meta))
        if flush:
            stream.flush()

    def write(self, record: Record) -> None:
        self._stream.write(record_text(record))
        if self._flush:
            self._stream.flush()


def write_text(transcript: Transcript, stream: IO[bytes]) -> list[str]:
    """``transcript`` in our format.  The header says what the input lost (``lossy:``), which a
    capture knows only once it is read (its live ``notes``): then the records are written to a
    temporary file first and follow the header, so the input is read once (it may be a pipe)."""
    if transcript.notes is None:
        writer = TextWriter(stream, transcript.meta)
        for record in transcript.records:
            writer.write(record)
        return []
    import shutil
    import tempfile

    with tempfile.TemporaryFile() as body:
        for record in transcript.records:
            body.write(record_text(record))
        stream.write(header_text(transcript.meta))
        body.seek(0)
        shutil.copyfileobj(body, stream, 1 << 20)
    return []


# ---------------------------------------------------------------------------------------------
# reading


def sniff(head: bytes) -> bool:
    return head.startswith(MAGIC + b" ")


def _strip(raw: bytes) -> bytes:
    if raw.endswith(b"\n"):
        raw = raw[:-1]
        if raw.endswith(b"\r"):  # a file saved with CRLF line ends; real CRs are always escaped
            raw = raw[:-1]
    return raw


def _peer(value: bytes) -> str | None:
    return None if value == b"-" else value.decode("ascii", "backslashreplace")


def read_text(path: Path, stream: IO[bytes] | None = None) -> Transcript:
    """Read the header now (so a wrong file fails at once) and the records lazily; ``stream``
    (standard input; ``path`` then only names it) is read once, forward."""
    path = Path(path)
    if stream is None:
        try:
            stream = open(path, "rb")  # noqa: SIM115  (the record generator closes it)
        except OSError as exc:
            raise TranscriptError(path, f"cannot open: {exc.strerror or exc}") from None
    try:
        lines = enumerate(iter(stream.readline, b""), 1)
        meta, pending = _read_header(path, lines)
    except BaseException:
        stream.close()
        raise
    first_line, start = pending if pending is not None else (0, b"")
    notes: list[str] = []  # a file cut short says so once it is read to its end
    return Transcript(meta, _records(path, stream, first_line, start, meta, notes), notes)


def _read_header(
    path: Path, lines: Iterator[tuple[int, bytes]]
) -> tuple[Meta, tuple[int, bytes] | None]:
    first = next(lines, None)
    if first is None:
        raise TranscriptError(path, f"expected '{MAGIC.decode()} {VERSION}', the file is empty", line=1)
    line = _strip(first[1])
    match = re.fullmatch(rb"h11dbg-transcript " + _NUMBER, line)
    if not match:
        raise TranscriptError(
            path, f"expected '{MAGIC.decode()} {VERSION}' as the first line, got {_show(line)}", line=1
        )
    version = int(match.group(1))
    if version != VERSION:
        raise TranscriptError(
            path, f"transcript version {version} is not supported (this h11dbg reads {VERSION})", line=1
        )
    meta = Meta(version=version)
    for lineno, raw in lines:
        line = _strip(raw)
        if not line or line.startswith(b"#"):
            continue
        match = _META.fullmatch(line)
        if match is None or line.startswith((b"open ", b"c2s ", b"s2c ", b"close ", b"reset ")):
            return meta, (lineno, raw)
        key = match.group(1).decode("ascii")
        try:
            value = unescape(match.group(2).decode("utf-8")).decode("utf-8", "replace")
        except (UnicodeDecodeError, UnescapeError) as exc:
            raise TranscriptError(path, f"metadata value of {key!r}: {exc}", line=lineno) from None
        if key in _KNOWN_META:
            setattr(meta, key, value)
        else:
            meta.extra[key] = value
    return meta, None


def _show(line: bytes, limit: int = 60) -> str:
    text = escape(line[:limit])
    return repr(text + ("..." if len(line) > limit else ""))


_BLOCK = 1 << 20
_PAYLOAD_END = re.compile(rb"\n[^|]")  # a line break followed by a line that is not a payload line


def cut_short_note(lineno: int, record: str) -> str:
    """What a file that ends inside its last record says: the one loss a kill can leave."""
    return (f"the file ends inside its last record (line {lineno}: {record}), which is left out: "
            "a recording cut short (killed mid-write, or its disk full); every record before it is whole")


def _records(path: Path, stream: IO[bytes], lineno: int, buf: bytes, meta: Meta,
             notes: list[str]) -> Iterator[Record]:
    """Records from ``buf`` (starting at line ``lineno``) and then the rest of ``stream``.

    The file is read in large blocks and each chunk's payload lines are found, stripped and decoded
    as one slice, so the time per line is C time; memory holds one block and the current chunk.

    A recording's writer ends every record with a line end and writes it whole, so a last record
    that the file ends inside (a record line without its line end, a chunk short of its length or
    cut inside an escape) is what a kill or a full disk leaves: it is left out with a note in
    ``notes`` (and ``meta.lossy``), not an error, so the records before it replay.
    """

    def cut_short(lineno: int, record: str) -> None:
        note = cut_short_note(lineno, record)
        notes.append(note)
        meta.lossy = "; ".join(filter(None, (meta.lossy, note)))

    with stream:
        pos = 0
        eof = False
        while True:
            newline = buf.find(b"\n", pos)
            if newline < 0:
                if not eof:
                    more = stream.read(_BLOCK)
                    eof = not more
                    buf, pos = buf[pos:] + more, 0
                    continue
                if pos >= len(buf):
                    return
                newline = len(buf)  # the last line, without its line end
            line = buf[pos:newline]
            if line[-1:] == b"\r":
                line = line[:-1]
            here = lineno
            lineno += 1
            pos = newline + 1
            if not line or line[:1] == b"#":
                continue
            match = _CHUNK.fullmatch(line)
            if match is not None:
                # The payload ends where a line does not start with a bar (or at the end of file).
                # Its text is at least as long as its bytes, so the search may start that far on:
                # a line without a bar before that point stays in the payload and fails the quick
                # way (its line end has no "| " after it), and the careful way then searches again.
                # More is read only when the whole block holds no end (a wrong len must not make
                # the reader hold the next chunks too).
                declared = int(match.group(4))
                scan = pos + declared if pos + declared < len(buf) else pos
                skipped = scan > pos
                while True:
                    if pos < len(buf):
                        if buf[pos] != 0x7C:  # "|"
                            end = pos
                            break
                        found = _PAYLOAD_END.search(buf, max(pos, scan))
                        if found is None and skipped:  # not in this block: read no further than before
                            skipped = False
                            found = _PAYLOAD_END.search(buf, pos, scan + 1)
                        if found is not None:
                            end = found.start() + 1
                            break
                        scan = max(pos, len(buf) - 1)  # a final LF still needs its next byte
                    if eof:
                        end = len(buf)
                        break
                    more = stream.read(_BLOCK)
                    eof = not more
                    scan -= pos - 1
                    buf, pos = buf[pos - 1 :] + more, 1  # keeping the record line's end
                # the payload with the record line's end before it and without its own last line end
                quick = _decode_quick(buf[pos - 1 : end - 1 if buf[end - 1] == 0x0A else end]) if end > pos else None
                if quick is not None:
                    data, lines = quick
                else:
                    found = _PAYLOAD_END.search(buf, pos, end)
                    if found is not None:
                        end = found.start() + 1
                    try:
                        data, lines = _payload(path, lineno, buf[pos:end], declared)
                    except TranscriptError:
                        held = _cut_payload(path, lineno, buf[pos:end], declared) if eof and end == len(buf) else None
                        if held is None:
                            raise
                        cut_short(here, f"a {_show(line)} chunk holding {len(held)} of its {declared} bytes")
                        return
                if len(data) < declared and eof and end == len(buf):
                    # at a line end, a short last chunk may also be a file edited by hand
                    hint = "; edited by hand? a trimmed trailing space is written \\x20" if buf[-1:] == b"\n" else ""
                    cut_short(here, f"a {_show(line)} chunk holding {len(data)} of its {declared} bytes{hint}")
                    return
                pos = end
                lineno += lines
                if len(data) != declared:
                    hint = " (a trimmed trailing space? write it as \\x20)" if len(data) < declared else ""
                    raise TranscriptError(
                        path,
                        f"the chunk declares len {declared} but its payload holds {len(data)} bytes{hint}",
                        line=here,
                    )
                yield Chunk(int(match.group(2)), "c2s" if match.group(1) == b"c2s" else "s2c", data,
                            float(match.group(3)))
                continue
            match = _OPEN.fullmatch(line)
            if match is not None:
                yield Open(
                    int(match.group(1)), float(match.group(2)), _peer(match.group(3)), _peer(match.group(4))
                )
                continue
            match = _CLOSE.fullmatch(line)
            if match is not None:
                yield Close(int(match.group(2)), "c2s" if match.group(3) == b"c2s" else "s2c",
                            float(match.group(4)), reset=match.group(1) == b"reset")
                continue
            if line[:1] == b"|":
                raise TranscriptError(
                    path, "payload line outside a chunk: expected a 'c2s' or 's2c' record line before it",
                    line=here,
                )
            if newline == len(buf) and eof:  # a record line the file ends inside
                cut_short(here, f"{_show(line)}, a record line without its end")
                return
            if _META.fullmatch(line):
                raise TranscriptError(path, "metadata lines belong before the first record", line=here)
            absurd = _ABSURD_TIME.match(line)
            if absurd is not None:
                raise TranscriptError(path, absurd_time_message(_show(absurd.group(1))), line=here)
            raise TranscriptError(path, f"expected {_RECORD_SHAPES}, got {_show(line)}", line=here)


def _payload(path: Path, first_line: int, region: bytes, declared: int) -> tuple[bytes, int]:
    """The bytes of a chunk's payload lines (``| `` + escaped text each), and how many lines."""
    if not region:
        return b"", 0
    text = b"\n" + region
    lines = text.count(b"\n") - (1 if text.endswith(b"\n") else 0)
    stripped = text.replace(b"\n| ", b"\n")
    if len(text) - len(stripped) != 2 * lines:  # bare bars (lines without bytes) or a missing space
        for bare in (b"\n|\n", b"\n|\r\n"):
            while bare in text:
                text = text.replace(bare, b"\n| " + bare[2:])
        if text.endswith(b"\n|"):
            text += b" "
        stripped = text.replace(b"\n| ", b"\n")
        if len(text) - len(stripped) != 2 * lines:
            position = 0
            while text.startswith(b"\n| ", position):
                position = text.index(b"\n", position + 1)
            raise TranscriptError(
                path, "expected '| ' (a bar and a space) before the escaped bytes",
                line=first_line + text.count(b"\n", 0, position),
            )
    return _decode(path, first_line, stripped[1:], declared), lines


_TRAILING_BACKSLASHES = re.compile(rb"(\\+)(x[0-9a-fA-F]?)?\Z")


def _cut_payload(path: Path, first_line: int, region: bytes, declared: int) -> bytes | None:
    """The bytes of payload lines that the file ends inside, the last one perhaps inside an escape
    (``\\``, ``\\x``, ``\\xH``), or None if they are malformed anyway."""
    if region.endswith(b"\n"):
        return None  # it ends on a whole line, so the error is in the lines themselves
    tail = _TRAILING_BACKSLASHES.search(region)
    if tail is not None and len(tail.group(1)) % 2:  # an odd run: the last backslash starts an escape
        region = region[: tail.end() - len(tail.group(2) or b"") - 1]
    try:
        return _payload(path, first_line, region, declared)[0]
    except TranscriptError:
        return None


_PRINTABLE = bytes(range(0x20, 0x7F))
_PRINTABLE_AND_LF = _PRINTABLE + b"\n"
_LINE_START = re.compile(rb"\n\| ")


def _shape_table() -> bytes:
    # Each character becomes what decides the escape grammar: the backslash, "x", one stand-in for
    # the three letters of \r \n \t ("t"), one for every hex digit ("b") and one for anything else
    # ("v"); a line end is "anything else" too.  Decoding that text escapes every line's characters
    # the way the real text is parsed, and every way to break the grammar turns into something
    # visible: \b (0x08) for a backslash before a hex digit, \v (0x0b) for one before any other
    # character or a line end, a ValueError for \x without two hex digits or a final backslash.
    table = bytearray(b"v" * 256)
    table[0x5C] = 0x5C
    table[ord("x")] = ord("x")
    for letter in b"rnt":
        table[letter] = ord("t")
    for digit in b"0123456789abcdefABCDEF":
        table[digit] = ord("b")
    return bytes(table)


_SHAPE = _shape_table()
_NOT_PRINTABLE_OR_LF = bytes(sorted(set(range(256)) - set(_PRINTABLE_AND_LF)))


def _decode_quick(text: bytes) -> tuple[bytes, int] | None:
    """The bytes of payload lines that are all ``| `` and valid escaped text, and how many lines.

    Files our writer made, and any other whose payload lines are all well formed, take this way;
    anything it does not accept (None) is read, and its errors located, by :func:`_payload`, so
    both ways agree on every input.

    ``text`` is the payload with a line end before every line and none after the last.  Three
    whole-chunk C passes, none per escape: a translation to the escape grammar's shape (dropping any
    character that is not printable ASCII, which then shows in the length), a decode of that shape
    that shows every malformed or cut escape, and the real decode of the lines without prefixes.
    """
    shape = text.translate(_SHAPE, _NOT_PRINTABLE_OR_LF)
    if len(shape) != len(text):
        return None
    try:
        checked: bytes = codecs.escape_decode(shape)[0]
    except ValueError:
        return None
    if b"\x08" in checked or b"\x0b" in checked:
        return None
    joined = _LINE_START.sub(b"", text)
    if b"\n" in joined:  # a line that is a bare bar, or lacks the space after its bar
        return None
    data: bytes = codecs.escape_decode(joined)[0]
    return data, (len(text) - len(joined)) // 3  # every line end went with its "| "


# After a backslash: anything but x r n t (a line end included), the end, or \x cut short by a line
# end.  One pattern is quickest when escapes are few (text); when they are dense (binary), checking
# the line ends on their own is.
_BAD_ESCAPE = re.compile(rb"\\(?:[^xrnt]|$|x\n|x[0-9a-fA-F]\n)")
_BAD_ESCAPE_START = re.compile(rb"\\(?:[^xrnt]|$)")
_ESCAPE_AT_LINE_END = re.compile(rb"\n(?:(?<=\\x\n)|(?<=\\x[0-9a-fA-F]\n))")


def _decode(path: Path, first_line: int, text: bytes, declared: int) -> bytes:
    """Payload lines (each ending in LF, the last one maybe not) to bytes, or a located error.

    Validation runs as whole-chunk C operations (no per-escape Python): the characters must be
    printable ASCII, then the escapes are checked.
    """
    if b"\r" in text:  # a file saved with CRLF line ends; a CR anywhere else is still an error below
        text = text.replace(b"\r\n", b"\n")
    if text.translate(None, _PRINTABLE_AND_LF):
        _locate_error(path, first_line, text)
    joined = text.replace(b"\n", b"")
    if b"\\" not in joined:
        return joined
    # Escaped backslashes pair up from the left, as a reader parses them; a placeholder (not
    # nothing) stands in so that no new neighbours form.  Every backslash left must start \x \r
    # \n or \t and must not run into a line end (the codec then rejects bad hex digits).
    paired = text.replace(b"\\\\", b"_")
    if len(joined) > 2 * declared:
        bad = _BAD_ESCAPE_START.search(paired) or _ESCAPE_AT_LINE_END.search(paired)
    else:
        bad = _BAD_ESCAPE.search(paired)
    if bad:
        _locate_error(path, first_line, text)
    try:
        return codecs.decode(joined, "unicode_escape").encode("latin-1")
    except UnicodeDecodeError:
        _locate_error(path, first_line, text)
        raise


def _locate_error(path: Path, first_line: int, text: bytes) -> None:
    for index, part in enumerate(text.split(b"\n")):
        position = 0
        while position < len(part):
            item = _ONE_PAYLOAD_ITEM.match(part, position)
            if item is None:
                raise TranscriptError(
                    path,
                    f"column {position + 3}: expected a printable ASCII character or one of "
                    f"\\r \\n \\t \\\\ \\xHH, got {_show(part[position : position + 4])}",
                    line=first_line + index,
                )
            position = item.end()
    raise AssertionError("payload rejected but no bad item found")  # pragma: no cover
