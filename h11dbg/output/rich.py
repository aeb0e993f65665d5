"""Rich renderables for the session log: what happened on the wire, for a human.

Pure functions from :class:`~h11dbg.session.log.LogEntry` (and plain values) to rich renderables; no
printing, no session calls.  Bytes are always shown through :func:`h11dbg.transcript.escaping.escape`, one line
per wire line, so ``\\r\\n`` endings, bare LFs and binary stay visible and exact.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.text import Text

from h11dbg.output.describe import error_details as error_details_of
from h11dbg.output.describe import (
    error_where,
    hex_rows,
    inline_notes,
    noted,
    peer_close_explanation,
    peer_close_summary,
    raw_headers,
    sent_or_received,
    timing_summary,
    tls_details,
    transition_summary,
)
from h11dbg.output.ladder import ARROW, Row, entry_rows, joined, layout
from h11dbg.session.log import LogEntry
from h11dbg.transcript.escaping import escape

if TYPE_CHECKING:
    from h11dbg.engines import Headers
    from h11dbg.protocol import Transition

C2S_STYLE = "bold cyan"
S2C_STYLE = "bold magenta"
ERROR_STYLE = "bold red"
CHANGED_STYLE = "bold yellow"
DIM = "dim"
ESCAPE_STYLE = "dim cyan"  # \r \n \t \\
BINARY_STYLE = "yellow"  # \xHH

# a block of escaped lines, not a one-line preview (describe.PREVIEW_BYTES): room for a small body
BODY_LIMIT = 512
WIRE_LIMIT = 256
ROLES = ("client", "server")

_ARROWS = {"c2s": ("client → server", C2S_STYLE), "s2c": ("server → client", S2C_STYLE)}
# a run of bytes shown as themselves, or a run that escape() turns into backslash sequences
_RUNS = re.compile(rb"[\x20-\x5b\x5d-\x7e]+|[\r\n\t\\]+|[^\x20-\x7e\r\n\t]+")


def _indented(renderable: RenderableType, width: int) -> RenderableType:
    """Indent every line, wrapped ones included (a long explanation stays inside its entry)."""
    return Padding(renderable, (0, 0, 0, width), expand=False)


def _style_for_run(run: bytes) -> str:
    if run[0] in b"\r\n\t\\":
        return ESCAPE_STYLE
    if 0x20 <= run[0] < 0x7F:
        return ""
    return BINARY_STYLE


def escaped(data: bytes, *, limit: int | None = None, indent: str = "  ") -> Text:
    """``data`` escaped, broken into lines after each LF (which stays visible as ``\\n``)."""
    shown = data if limit is None else data[:limit]
    text = Text()
    lines = re.split(rb"(?<=\n)", shown)
    if lines and lines[-1] == b"" and len(lines) > 1:
        lines.pop()
    for number, line in enumerate(lines):
        if number:
            text.append("\n")
        text.append(indent)
        for match in _RUNS.finditer(line):
            run = match.group()
            text.append(escape(run), style=_style_for_run(run))
    if limit is not None and len(data) > limit:
        text.append(f" … {len(data) - limit} more bytes", style=DIM)
    return text


def hex_dump(data: bytes, *, width: int = 16, indent: str = "  ") -> Text:
    """The classic offset / hex / ASCII dump, one row per ``width`` bytes."""
    text = Text()
    for row, (offset, hex_part, printable) in enumerate(hex_rows(data, width)):
        if row:
            text.append("\n")
        text.append(f"{indent}{offset}  ", style=DIM)
        text.append(f"{hex_part}  ")
        text.append(printable, style=DIM)
    return text


def _header_lines(headers: Headers, indent: str = "  ") -> Text:
    text = Text()
    for number, (name, value) in enumerate(raw_headers(headers)):
        if number:
            text.append("\n")
        text.append(indent)
        text.append(escape(bytes(name)), style="bold blue")
        text.append(": ")
        text.append(escape(bytes(value)))
    return text


def start_line(event: Any) -> Text | None:
    """``GET / HTTP/1.1`` or ``HTTP/1.1 200 OK`` for a Request or a response; None otherwise."""
    kind = type(event).__name__
    if kind == "Request":
        return Text.assemble(
            (escape(bytes(event.method)), "bold green"),
            " ",
            (escape(bytes(event.target)), "underline"),
            " ",
            (f"HTTP/{escape(bytes(event.http_version))}", DIM),
        )
    if kind in ("Response", "InformationalResponse"):
        status = int(event.status_code)
        colour = "green" if status < 300 else "yellow" if status < 400 else "red"
        if status < 200:
            colour = "blue"
        return Text.assemble(
            (f"HTTP/{escape(bytes(event.http_version))} ", DIM),
            (str(status), f"bold {colour}"),
            " ",
            (escape(bytes(event.reason)), colour),
        )
    return None


def event_body(event: Any, *, body_limit: int = BODY_LIMIT) -> list[RenderableType]:
    """What an h11 event says: start line and headers, a body preview, or trailers."""
    kind = type(event).__name__
    parts: list[RenderableType] = []
    line = start_line(event)
    if line is not None:
        parts.append(Text("  ") + line)
        if len(event.headers):
            parts.append(_header_lines(event.headers))
        parts += [_indented(Text(f"note: {note}", style="italic cyan"), 2)
                  for note in inline_notes(event, kind, raw_headers(event.headers))]
    elif kind == "Data":
        data = bytes(event.data)
        flags = [name for name in ("chunk_start", "chunk_end") if getattr(event, name, False)]
        label = f"  body: {len(data)} bytes" + (f" ({', '.join(flags)})" if flags else "")
        parts.append(Text(label, style=DIM))
        if data:
            parts.append(escaped(data, limit=body_limit, indent="    "))
    elif kind == "EndOfMessage":
        if len(event.headers):
            parts.append(Text("  trailers:", style=DIM))
            parts.append(_header_lines(event.headers, indent="    "))
        else:
            parts.append(Text("  end of message", style=DIM))
    elif kind == "ConnectionClosed":
        parts.append(Text("  the sender closed its side of the connection", style=DIM))
    return parts


def states_line(after: Mapping[str, str], before: Mapping[str, str] | None = None) -> Text:
    """``client: IDLE → SEND_BODY   server: SEND_RESPONSE`` with the changed roles highlighted."""
    text = Text()
    text.append("  states: ", style=DIM)
    for number, role in enumerate(ROLES):
        if role not in after:
            continue
        if number:
            text.append("   ")
        new = str(after[role])
        old = None if before is None else before.get(role)
        text.append(f"{role} ", style=DIM)
        style = ERROR_STYLE if new == "ERROR" else CHANGED_STYLE
        if old is not None and str(old) != new:
            text.append(str(old), style=DIM)
            text.append(" → ", style=DIM)
            text.append(new, style=style)
        else:
            text.append(new, style=ERROR_STYLE if new == "ERROR" else "")
    return text


def transition_lines(transitions: Iterable[Transition]) -> list[RenderableType]:
    """One line per engine Transition record: who moved, why, and where the RFC says so."""
    lines: list[RenderableType] = []
    for transition in transitions:
        # a state that stays put (more body data) is context, a move is news
        moved = str(transition.old_state) != str(transition.new_state)
        lines.append(_indented(Text(transition_summary(transition), style=CHANGED_STYLE if moved else DIM), 4))
    return lines


def _heading(entry: LogEntry, label: str, style: str | None = None) -> Text:
    arrow, arrow_style = _ARROWS.get(entry.direction or "", ("", DIM))
    text = Text()
    if arrow:
        text.append(arrow, style=style or arrow_style)
        text.append("  ")
    text.append(label, style=style or "bold")
    if entry.actor and entry.direction in _ARROWS:
        text.append(f"  {sent_or_received(entry.direction, entry.actor)} by {entry.actor}", style=DIM)
    text.append(f"  +{entry.time:.3f}s", style=DIM)
    return text


def _wire(entry: LogEntry, *, hexdump: bool, wire_limit: int, label: str = "wire") -> list[RenderableType]:
    if not entry.data:
        return []
    parts: list[RenderableType] = [Text(f"  {label}: {len(entry.data)} bytes", style=DIM)]
    if hexdump:
        parts.append(hex_dump(entry.data, indent="    "))
    else:
        parts.append(escaped(entry.data, limit=wire_limit, indent="    "))
    return parts


def error_details(error: BaseException, *, server_parsed: bool = False) -> list[RenderableType]:
    """The error, where it is, and the rule, RFC section, explanation and offending bytes it carries;
    ``server_parsed``: a server's machine refused the peer's bytes (so it would answer with a status)."""
    head = Text.assemble(("  ", ""), (type(error).__name__, ERROR_STYLE), (": ", ""), (str(error), "red"))
    where = error_where(getattr(error, "offset", None))
    if where:
        head.append(f" ({where})", style="red")
    lines: list[RenderableType] = [head]
    for name, value in error_details_of(error):
        text = Text()
        text.append(f"  {name}: ", style=DIM)
        text.append(value, style="bold red reverse" if name == "offending bytes" else "red" if name == "rule" else "")
        lines.append(_indented(text, 0))
    hint = getattr(error, "error_status_hint", None)
    # only a server answers a broken request; a client that got a broken response has nothing to send
    if hint is not None and server_parsed and type(error).__name__ == "RemoteProtocolError":
        lines.append(Text(f"  a server would answer {hint}", style=DIM))
    return lines


def render_entry(
    entry: LogEntry,
    *,
    hexdump: bool = False,
    body_limit: int = BODY_LIMIT,
    wire_limit: int = WIRE_LIMIT,
) -> RenderableType:
    """One log entry, ready for ``console.print``."""
    parts: list[RenderableType] = []
    before = entry.states_before or None
    if entry.kind == "event":
        parts.append(_heading(entry, type(entry.event).__name__))
        parts.extend(event_body(entry.event, body_limit=body_limit))
        parts.extend(_wire(entry, hexdump=hexdump, wire_limit=wire_limit))
    elif entry.kind == "error":
        error = entry.error
        parts.append(_heading(entry, "✗ protocol error", ERROR_STYLE))
        if error is not None:
            parts.extend(error_details(error, server_parsed=entry.actor == "server"))
        elif entry.text:
            parts.append(_indented(Text(entry.text, style="red"), 2))
        parts.extend(_wire(entry, hexdump=hexdump, wire_limit=wire_limit, label="bytes"))
    elif entry.kind == "sent":
        parts.append(_heading(entry, "raw bytes (past the state machine)"))
        parts.extend(_wire(entry, hexdump=hexdump, wire_limit=wire_limit, label="sent"))
    elif entry.kind == "received":
        parts.append(_heading(entry, "bytes in"))
        parts.extend(_wire(entry, hexdump=hexdump, wire_limit=wire_limit, label="received"))
    elif entry.kind == "eof":
        parts.append(_heading(entry, "end of stream: the peer closed its sending side"))
    elif entry.kind == "state":
        parts.append(_heading(entry, "state change", CHANGED_STYLE))
    elif entry.kind == "timing":
        assert entry.timing is not None
        text = Text()
        text.append("⏱ ", style=DIM)
        text.append(timing_summary(entry.timing))
        text.append(f"  +{entry.time:.3f}s", style=DIM)
        return text
    elif entry.kind == "closed":
        assert entry.closed is not None
        parts.append(_heading(entry, peer_close_summary(entry.closed), CHANGED_STYLE))
        parts.extend(_indented(Text(line, style="italic"), 2) for line in peer_close_explanation(entry.closed))
    else:  # note
        text = Text()
        text.append("· ", style=DIM)
        text.append(noted(entry.text or "", entry.suggestions), style="italic")
        text.append(f"  +{entry.time:.3f}s", style=DIM)
        if entry.tls is None:
            return text
        # a certificate, laid out as curl -v does
        lines: list[RenderableType] = [text]
        for name, value in tls_details(entry.tls):
            line = Text(f"    {name}: ", style=DIM)
            line.append(value)
            lines.append(line)
        return Group(*lines)
    if entry.text and entry.kind != "error":
        parts.append(_indented(Text(entry.text, style="italic"), 2))
    parts.extend(transition_lines(entry.transitions))
    if entry.states_after:
        parts.append(states_line(entry.states_after, before))
    return Group(*parts)


def render_entries(entries: Iterable[LogEntry], **options: Any) -> RenderableType:
    return Group(*(render_entry(entry, **options) for entry in entries))


def error_line(message: str) -> Text:
    """A command's error: one red line."""
    return Text(f"error: {message}", style=ERROR_STYLE)


def ladder(entries: Iterable[LogEntry] = (), *, rows: Iterable[Row] | None = None,
           width: int = ARROW) -> RenderableType:
    """The exchange at a glance (:mod:`h11dbg.output.ladder`), arrows ``width`` wide, styled: a state in
    yellow where its row moved it (red for ERROR), errors red, raw bytes yellow, each direction in its
    colour."""
    lines: list[Text] = []
    for row, part in layout(entry_rows(entries) if rows is None else rows, width):
        if row is None:
            lines.append(Text(part if isinstance(part, str) else joined(part), style="bold"))
            continue
        assert not isinstance(part, str)
        time, client, middle, server = part
        style = (ERROR_STYLE if row.kind == "error" else BINARY_STYLE if row.kind == "raw" else DIM
                 if row.kind == "across" else C2S_STYLE if row.direction == "c2s" else S2C_STYLE)
        lines.append(Text.assemble((time, DIM), " ", _lane(row, "client", client), " ", (middle, style), " ",
                                   _lane(row, "server", server)))
    return Group(*lines)


def _lane(row: Row, role: str, text: str) -> tuple[str, str]:
    state = row.states.get(role)
    return text, ERROR_STYLE if state == "ERROR" else CHANGED_STYLE if role in row.changed else ""


def diagram(entries: list[LogEntry], *, width: int = 80) -> RenderableType:
    """Both state machines (:mod:`h11dbg.output.diagram`), each side's state in reverse video, the
    last move in yellow, ERROR in red."""
    from h11dbg.output import diagram as picture

    rows: list[Text] = []
    role = None
    for line in picture.lines(picture.current_states(entries), picture.last_moves(entries)):
        if line.role != role:
            role = line.role
            rows.append(Text(picture.title(role), style=C2S_STYLE if role == "client" else S2C_STYLE))
        head_style = ("reverse " + (ERROR_STYLE if line.state == "ERROR" else "bold")) if line.now else ""
        for number, row in enumerate(picture.wrapped(line, width)):
            text = Text("  ")
            if number == 0:
                text.append(picture.head(line), style=head_style)
            else:
                text.append(" " * picture.NAME)
            for index, (move, last) in enumerate(row):
                if index:
                    text.append(" · ", style=DIM)
                text.append(f"{picture.LAST} {move}" if last else move, style=CHANGED_STYLE if last else "")
            rows.append(text)
    return Group(*rows)
