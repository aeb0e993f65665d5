"""Exports of a whole replay for slides and course pages: plain text, the terminal rendering as SVG or
HTML (as rich exports it), a Mermaid sequence diagram, and the interactive stepper (one self-contained
HTML file).  Pure functions from a :class:`~h11dbg.replay.spans.Replayed` to text; the caller writes it.
"""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from h11dbg.output import diagram, ladder
from h11dbg.output.describe import message_label
from h11dbg.output.jsonl import step_record
from h11dbg.output.text import lossy_line, step_lines

if TYPE_CHECKING:
    from h11dbg.replay.spans import Replayed

#: The formats, by the suffix of the file that chooses one (``html`` is the terminal rendering, the
#: plain HTML that ``--static`` asks for instead of the stepper).
KINDS = {".html": "stepper", ".htm": "stepper", ".svg": "svg", ".md": "mermaid", ".txt": "txt"}
NAMES = ("stepper", "html", "svg", "mermaid", "txt")


def kind_for(path: str, static: bool = False) -> str | None:
    """The format a file named ``path`` asks for; None for a suffix that names none."""
    kind = KINDS.get(Path(path).suffix.lower())
    return "html" if kind == "stepper" and static else kind


def render(kind: str, replayed: Replayed, *, title: str, source_format: str, engine: str) -> str:
    """The whole export of ``replayed`` in format ``kind`` (one of :data:`NAMES`)."""
    if kind == "stepper":
        return stepper(replayed, title, engine)
    if kind in ("html", "svg"):
        return terminal(replayed, source_format, kind, title)
    if kind == "mermaid":
        return mermaid(replayed)
    return text(replayed, source_format)


def text(replayed: Replayed, source_format: str) -> str:
    """The ladder, then every step as ``h11dbg replay`` prints it."""
    lines = [lossy_line(source_format, note) for note in replayed.notes]
    lines += ladder.text_lines(ladder.step_rows(spanned.step for spanned in replayed.steps))
    lines.append("")
    for spanned in replayed.steps:
        lines += step_lines(spanned.step)
    return "\n".join(lines) + "\n"


def terminal(replayed: Replayed, source_format: str, kind: str, title: str) -> str:
    """The terminal rendering (the ladder in colour, then the steps), as rich exports it: ``svg`` or
    ``html``."""
    from rich.console import Console
    from rich.text import Text

    from h11dbg.output.rich import ladder as rich_ladder

    console = Console(record=True, width=120, file=io.StringIO(), force_terminal=True, color_system="truecolor")
    for note in replayed.notes:
        console.print(Text(lossy_line(source_format, note), style="yellow"))
    console.print(rich_ladder(rows=ladder.step_rows(spanned.step for spanned in replayed.steps), width=50))
    console.print()
    for spanned in replayed.steps:
        for line in step_lines(spanned.step):
            console.print(Text(line, style="bold red" if spanned.step.kind == "error" else ""))
    if kind == "svg":
        return console.export_svg(title=title)
    return console.export_html(inline_styles=True)


def _mermaid_text(text: str) -> str:
    """Text Mermaid shows as it is: its own syntax characters as HTML entities."""
    return "".join(f"#{ord(char)};" if char in "#;:<>{}" else char for char in text)


def mermaid(replayed: Replayed) -> str:
    """A Mermaid sequence diagram of the ladder: one arrow per message, the states as notes where they
    change, errors as notes on the side that broke the rules (a ```mermaid block, for Markdown)."""
    lines = ["```mermaid", "sequenceDiagram", "    participant C as client", "    participant S as server"]
    shown: dict[int, dict[str, str]] = {}
    for row in ladder.step_rows(spanned.step for spanned in replayed.steps):
        label = _mermaid_text(row.label)
        if row.kind == "conn":
            lines.append(f"    Note over C,S: {label}")
            shown[row.conn] = dict(row.states)
            continue
        if row.kind == "across":
            lines.append(f"    Note over C,S: {label}")
        elif row.direction == "c2s":
            lines.append(f"    C{'-x' if row.kind == 'error' else '->>'}S: {label}")
        else:
            lines.append(f"    S{'-x' if row.kind == 'error' else '->>'}C: {label}")
        if row.kind == "error" and row.detail:
            lines.append(f"    Note over {'S' if row.direction == 'c2s' else 'C'}: {_mermaid_text(row.detail)}")
        if row.states and row.states != shown.get(row.conn):
            shown[row.conn] = dict(row.states)
            lines.append(f"    Note over C,S: client {row.states.get('client')} · server {row.states.get('server')}")
    lines.append("```")
    return "\n".join(lines) + "\n"


def _stepper_data(replayed: Replayed, title: str, engine: str) -> dict[str, Any]:
    steps = []
    moves: dict[int, dict[str, diagram.Move]] = {}
    states: dict[int, dict[str, str]] = {}
    for spanned in replayed.steps:
        step = spanned.step
        record = step_record(step)
        conn_moves = moves.setdefault(step.conn, {})
        diagram.note_moves(conn_moves, step.transitions, states.get(step.conn, step.states), step.states)
        states[step.conn] = step.states
        label = (message_label(step.event) if step.kind == "event"
                 else f"✗ {type(step.error).__name__}" if step.kind == "error" else step.kind)
        steps.append({
            "record": record, "label": label, "start": spanned.start, "end": spanned.end,
            "moves": {role: [move.old, move.new] for role, move in conn_moves.items()},
            "text": step_lines(step),
        })
    machines = []
    for line in diagram.lines({}, {}):
        machines.append({"role": line.role, "state": line.state, "moves": [
            {"text": move_text, "to": move_text.rpartition("→ ")[2] if "→" in move_text else line.state}
            for move_text, _ in line.moves]})
    return {
        "title": title, "engine": engine, "exact": replayed.exact, "notes": replayed.notes,
        "streams": {f"{conn} {direction}": base64.b64encode(data).decode("ascii")
                    for (conn, direction), data in replayed.streams.items()},
        "steps": steps, "machines": machines,
    }


def stepper(replayed: Replayed, title: str, engine: str) -> str:
    """The interactive stepper: one HTML file that needs nothing else (no network, no CDN), with the
    ladder, both state machines and the raw bytes; Next/Previous and the arrow keys step event by event,
    highlighting the bytes each consumed, the transition it caused and its explanation."""
    page = (Path(__file__).with_name("stepper.html")).read_text(encoding="utf-8")
    data = json.dumps(_stepper_data(replayed, title, engine), ensure_ascii=True).replace("</", "<\\/")
    return page.replace("{{title}}", html.escape(title)).replace("{{data}}", data)
