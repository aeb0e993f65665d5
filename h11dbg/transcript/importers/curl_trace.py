"""``curl --trace FILE`` and ``curl --trace-ascii FILE`` as transcripts.

curl is the client: ``=> Send header`` / ``=> Send data`` blocks are client→server bytes,
``<= Recv header`` / ``<= Recv data`` server→client.  Each block becomes one :class:`Chunk`
(curl reports headers line by line, so chunk boundaries are curl's, not the socket's reads).
``Send SSL data`` / ``Recv SSL data`` blocks are TLS records and are skipped: the plain HTTP bytes
of an HTTPS exchange are in the header/data blocks already.

Connections follow curl's ``== Info:`` lines: ``Connected to HOST (IP) port P (#N)`` opens one,
``Re-using existing connection #N`` switches back to it, ``Closing connection N`` ends it.  curl
does not say which side closed first; by the time it logs the close it has read all it will read,
so we record the server's close and then the client's.  ``--trace-time`` stamps give the times
(else every record is at 0.0).

``--trace`` dumps are exact (hex), but for one known gap: curl 7.88 logs an interim ``1xx`` header
block without the empty line that ends it when it sends the body before the final response (with
``Expect: 100-continue``).  The importer restores that CRLF — where a 1xx head is followed by the
client's next bytes or by the next status line, never by more of its fields or its empty line — and
says so in the transcript's lossy note.  ``--trace-ascii`` shows every byte outside printable ASCII
as ``.``, so the transcript is marked lossy; its line breaks are recovered exactly all the same,
because each dump line starts with its byte offset: a line that ends two bytes before the next
line's offset was ended by a CRLF that curl did not print.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

from h11dbg.transcript.escaping import excerpt
from h11dbg.transcript.formats import TranscriptError
from h11dbg.transcript.model import (
    Chunk,
    Close,
    Direction,
    Meta,
    Open,
    Record,
    Transcript,
    absurd_time,
    absurd_time_message,
)

ASCII_LOSSY = (
    "curl --trace-ascii shows bytes outside printable ASCII as '.': they come back as '.' "
    "(line breaks are recovered from the dump offsets)"
)


def restored_note(restored: list[tuple[int, float]]) -> str:
    """What the importer added: the empty line curl left out after interim (1xx) header blocks."""
    where = ", ".join(f"connection {conn} at {time:.6f}" for conn, time in restored[:5])
    more = f" and {len(restored) - 5} more" if len(restored) > 5 else ""
    return (f"curl did not record the empty line (CRLF) that ends an interim 1xx header block when it sent "
            f"the body before the final response; restored {len(restored)} time(s) ({where}{more})")

_PREFIX = r"(?:(?P<time>\d\d:\d\d:\d\d\.\d+) )?(?:\[[0-9a-fA-F-]+\] )?"
_BLOCK = re.compile(
    _PREFIX + r"(?P<arrow>=>|<=) (?P<verb>Send|Recv) (?P<kind>header|data|SSL data), "
    r"(?P<size>\d+) bytes \(0x[0-9a-f]+\)$"
)
_INFO = re.compile(_PREFIX + r"== Info: ?(?P<text>.*)$")
_DUMP = re.compile(r"(?P<offset>[0-9a-f]{4,}): (?P<rest>.*)$")
_CONNECTED = re.compile(
    r"Connected to (?P<host>\S+) \((?P<ip>[^)]*)\) port (?P<port>\d+)(?: \(#(?P<id>\d+)\))?"
)
_REUSING = re.compile(r"Re-using existing connection (?:#(?P<id>\d+) )?with (?:proxy|host) (?P<host>\S+)")
_CLOSING = re.compile(r"(?:Closing connection|[Ss]hutting down connection) #?(?P<id>\d+)?")
_MAX_DIGITS = 16  # in a block's size or a dump line's offset: more is no trace curl wrote
_HEX_LINE_WIDTH = 16
_HEX_AREA = re.compile(r"(?=.{48})(?:[0-9a-f]{2} )+(?:   )*")
_ASCII_LINE_WIDTH = 64


def _first_line(head: bytes) -> str:
    return head.lstrip().split(b"\n", 1)[0].decode("latin-1").rstrip("\r")


def _is_trace(head: bytes) -> bool:
    line = _first_line(head)
    return bool(_INFO.match(line) or _BLOCK.match(line))


def variant(head: bytes) -> str | None:
    """"hex" or "ascii" from the first dump line in ``head``; None when there is none yet."""
    lines = head.decode("latin-1").splitlines()
    for i, line in enumerate(lines[:-1]):
        block = _BLOCK.match(line)
        if block and block["size"].strip("0"):
            return "hex" if _is_hex_line(lines[i + 1]) else "ascii"
    return None


def _is_hex_line(line: str) -> bool:
    # curl pads the hex area to 16 columns of "hh " before the ascii column; ascii dump lines
    # practically never have that exact 48-character grid
    dump = _DUMP.match(line)
    return dump is not None and _HEX_AREA.fullmatch(dump["rest"][:48]) is not None


def sniff_trace(head: bytes) -> bool:
    return _is_trace(head) and variant(head) != "ascii"


def sniff_trace_ascii(head: bytes) -> bool:
    return _is_trace(head) and variant(head) == "ascii"


@dataclass
class _Block:
    line: int
    direction: Direction
    size: int
    skip: bool
    time: float
    header: bool = False  # a "header" block (curl logs a response head one field line per block)
    data: bytearray = field(default_factory=bytearray)
    text: str | None = None  # ascii mode: the last line, until the next offset says how it ended
    text_offset: int = 0
    text_line: int = 0


class _Parser:
    def __init__(self, path: Path, mode: str) -> None:
        self.path = path
        self.mode = mode
        self.ids: dict[str, int] = {}  # curl's connection number → ours
        self.hosts: dict[int, str] = {}
        self.closed: set[int] = set()
        self.current: int | None = None
        self.next_id = 1  # connections are numbered from 1, as in our own transcripts
        self.first_time: float | None = None
        self.last_time = 0.0
        self.day = 0.0
        # connections whose interim (1xx) head has no empty line yet, and when its last line came
        self.interim: dict[int, float] = {}
        self.restored: list[tuple[int, float]] = []  # (connection, time) of each CRLF put back

    def error(self, line: int, message: str, text: str | None = None) -> TranscriptError:
        if text is not None:
            message += f": {excerpt(text.encode('latin-1'))}"
        return TranscriptError(self.path, message, line=line)

    def time(self, stamp: str | None, lineno: int, line: str) -> float:
        if stamp is None:
            return self.last_time
        h, m, s = stamp.split(":")
        t = int(h) * 3600 + int(m) * 60 + float(s) + self.day
        if self.first_time is None:
            self.first_time = t
        if t - self.first_time < self.last_time - 1.0:  # the trace crossed midnight
            self.day += 86400.0
            t += 86400.0
        self.last_time = max(self.last_time, t - self.first_time)
        if absurd_time(self.last_time):  # thousands of times back past "midnight"
            raise self.error(lineno, absurd_time_message(f"{self.last_time:.0f} s"), line)
        return self.last_time

    def records(self, f: TextIO) -> Iterator[Record]:
        block: _Block | None = None
        lineno = 0
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\n").removesuffix("\r")
            dump = _DUMP.match(line)
            if block is not None and dump is not None:
                if len(dump["offset"]) > _MAX_DIGITS:
                    raise self.error(lineno, f"a dump offset of more than {_MAX_DIGITS} hex digits", line)
                self.dump_line(block, lineno, int(dump["offset"], 16), dump["rest"], line)
                continue
            if block is not None:
                yield from self.end_block(block, lineno)
                block = None
            if dump is not None:
                raise self.error(lineno, "a dump line outside a Send/Recv block", line)
            header = _BLOCK.match(line)
            if header is not None:
                t = self.time(header["time"], lineno, line)
                if len(header["size"]) > _MAX_DIGITS:
                    raise self.error(lineno, f"a block size of more than {_MAX_DIGITS} digits", line)
                direction: Direction = "c2s" if header["verb"] == "Send" else "s2c"
                if (header["arrow"] == "=>") != (direction == "c2s"):
                    raise self.error(lineno, "arrow and verb disagree", line)
                skip = header["kind"] == "SSL data"
                block = _Block(lineno, direction, int(header["size"]), skip, t, header=header["kind"] == "header")
                continue
            info = _INFO.match(line)
            if info is not None:
                yield from self.info(info["text"], self.time(info["time"], lineno, line))
            # anything else is free text curl printed inside an Info message: nothing to import
        if block is not None:
            yield from self.end_block(block, lineno + 1)

    def dump_line(self, block: _Block, lineno: int, offset: int, rest: str, line: str) -> None:
        if block.skip:
            return
        if self.mode == "hex":
            if offset != len(block.data):
                raise self.error(lineno, f"dump offset {offset:#x}, expected {len(block.data):#x}", line)
            count = min(_HEX_LINE_WIDTH, block.size - offset)
            try:
                data = bytes.fromhex(rest[: 3 * count])
            except ValueError:
                data = b""
            if count <= 0 or len(data) != count:
                raise self.error(lineno, f"expected {max(count, 0)} hex bytes", line)
            block.data += data
            return
        self.settle_text(block, offset, lineno)
        if len(rest) > _ASCII_LINE_WIDTH:
            raise self.error(lineno, f"a --trace-ascii line holds at most {_ASCII_LINE_WIDTH} characters", line)
        block.text, block.text_offset, block.text_line = rest, offset, lineno

    def settle_text(self, block: _Block, offset: int, lineno: int) -> None:
        """The previous ascii line ended where ``offset`` begins: add it, and the CRLF if one was cut."""
        if block.text is None:
            if offset != 0:
                raise self.error(lineno, f"the dump starts at offset {offset:#x}, expected 0")
            return
        unprinted = offset - block.text_offset - len(block.text)
        if unprinted not in (0, 2) or offset > block.size:
            raise self.error(
                block.text_line,
                f"this line's length does not fit the next offset {offset:#x} (edited trace?)",
                block.text,
            )
        block.data += block.text.encode("latin-1")
        if unprinted == 2:
            block.data += b"\r\n"
        block.text = None

    def end_block(self, block: _Block, lineno: int) -> Iterator[Record]:
        if block.skip:
            return
        if self.mode == "ascii" and block.text is not None:
            self.settle_text(block, block.size, lineno)
        if len(block.data) != block.size:
            raise self.error(
                block.line, f"the block announces {block.size} bytes but its dump holds {len(block.data)}"
            )
        if block.size == 0:
            return
        if self.current is None or self.current in self.closed:
            yield from self.open(None, None, block.time)
        conn = self.current
        assert conn is not None
        data = bytes(block.data)
        if self.interim:
            yield from self.restore_empty_line(conn, block, data)
        if block.header and block.direction == "s2c" and data[:5] == b"HTTP/" and data[9:10] == b"1" \
                and not data.endswith(b"\r\n\r\n"):
            self.interim[conn] = block.time
        yield Chunk(conn, block.direction, data, block.time)

    def restore_empty_line(self, conn: int, block: _Block, data: bytes) -> Iterator[Record]:
        """The CRLF that ends an interim head curl logged without it, once what follows shows the head
        is over: the client's next bytes, or the next status line."""
        since = self.interim.get(conn)
        if since is None:
            return
        if block.direction == "s2c" and block.header and data[:5] != b"HTTP/":
            if data == b"\r\n":  # the empty line is there after all
                del self.interim[conn]
            return  # another field line of the same head
        del self.interim[conn]
        self.restored.append((conn, since))
        yield Chunk(conn, "s2c", b"\r\n", since)

    def open(self, curl_id: str | None, server: str | None, t: float, host: str | None = None
             ) -> Iterator[Record]:
        conn = self.next_id
        self.next_id += 1
        # newer curls omit "(#N)"; they number connections in order, as we do, but from 0
        self.ids[curl_id if curl_id is not None else str(conn - 1)] = conn
        if host is not None:
            self.hosts[conn] = host
        self.current = conn
        yield Open(conn, t, None, server)

    def info(self, text: str, t: float) -> Iterator[Record]:
        connected = _CONNECTED.match(text)
        if connected is not None:
            ip, port = connected["ip"], connected["port"]
            server = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
            yield from self.open(connected["id"], server, t, connected["host"])
            return
        reusing = _REUSING.match(text)
        if reusing is not None:
            if reusing["id"] is not None and reusing["id"] in self.ids:
                self.current = self.ids[reusing["id"]]
            else:
                matches = [c for c, h in self.hosts.items() if h == reusing["host"] and c not in self.closed]
                if matches:
                    self.current = matches[-1]
            return
        closing = _CLOSING.match(text)
        if closing is not None:
            conn = self.ids.get(closing["id"]) if closing["id"] is not None else self.current
            if conn is not None and conn not in self.closed:
                self.closed.add(conn)
                yield Close(conn, "s2c", t)
                yield Close(conn, "c2s", t)


class _TraceRecords:
    def __init__(self, path: Path, mode: str, content: bytes | None) -> None:
        self.path = path
        self.mode = mode
        self.content = content  # standard input's, read whole (it is read twice)
        self.restored: list[tuple[int, float]] = []  # what the last full reading put back

    def __iter__(self) -> Iterator[Record]:
        parser = _Parser(self.path, self.mode)
        if self.content is not None:
            yield from parser.records(io.StringIO(self.content.decode("latin-1"), newline=""))
        else:
            with open(self.path, encoding="latin-1", newline="") as f:
                yield from parser.records(f)
        self.restored = parser.restored


def read_curl_trace(path: str | Path, stream: IO[bytes] | None = None) -> Transcript:
    """A ``curl --trace`` or ``--trace-ascii`` file (told apart by its first dump line).

    The file is checked through once now; iterating the records reads it again, streaming.
    ``stream`` (standard input; ``path`` then only names it) is read whole first.
    """
    path = Path(path)
    content = None if stream is None else stream.read()
    try:
        if content is not None:
            head = content[:64 * 1024]
        else:
            with open(path, "rb") as f:
                head = f.read(64 * 1024)
    except OSError as exc:
        raise TranscriptError(path, f"cannot read: {exc.strerror or exc}") from None
    if not _is_trace(head):
        raise TranscriptError(
            path, "not a curl trace: expected '== Info:', '=> Send' or '<= Recv' on the first line", line=1
        )
    mode = variant(head) or "hex"
    meta = Meta(
        tool="curl",
        description=f"imported from {path.name}",
        source_format="curl-trace" if mode == "hex" else "curl-trace-ascii",
        lossy=ASCII_LOSSY if mode == "ascii" else None,
    )
    records = _TraceRecords(path, mode, content)
    for _ in records:  # a damaged trace is reported now, before anything is replayed or written
        pass
    if records.restored:
        meta.lossy = "; ".join(filter(None, [meta.lossy, restored_note(records.restored)]))
    return Transcript(meta, records)
