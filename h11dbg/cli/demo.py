"""``h11dbg demo``: start the embedded demo server, connect a debugging session to it, and either open
the REPL (a terminal) or run a script (``--script``, or lines piped on stdin; an empty stdin runs a
short built-in tour so ``make demo`` shows a real exchange anywhere).
"""

from __future__ import annotations

import itertools
import sys
from typing import TYPE_CHECKING

import click

from h11dbg.cli.options import (
    diagram_option,
    engine_option,
    fail,
    json_option,
    load_engine,
    record_force_option,
    record_option,
    script_option,
)

if TYPE_CHECKING:
    from h11dbg.cli.launch import Script

TOUR = (
    "# a short tour of the demo server: one connection, two requests",
    "request GET /",
    "eom",
    "run",
    "cycle",
    "request GET /chunked",
    "eom",
    "run",
    "states",
)
"""What an empty, non-interactive stdin runs: keep-alive, then a chunked body, on one connection."""


def _hint(url: str, engine: str) -> str:
    return "\n".join(
        [
            f"demo server on {url}/ (engine {engine}); you are the client, connected to it.",
            "try:  request GET /chunked   then  eom   then  run   (then  cycle  to reuse the connection)",
            "routes: / /chunked /trailers /upload /nocontent /cached /close /upgrade /slow"
            "   ·   help lists the commands, Tab completes, Ctrl-D quits",
        ]
    )


def _or_tour(script: Script) -> Script:
    """``script``, or the tour when it holds nothing but blank lines (an empty pipe, ``make demo``)."""
    from h11dbg.cli.launch import Script

    lines = iter(script.lines)
    head: list[str] = []
    try:
        for line in lines:
            head.append(line)
            if line.strip():
                return Script(itertools.chain(head, lines), script.source)
    except UnicodeDecodeError as exc:
        from h11dbg.ui.batch import not_utf8

        fail(not_utf8(script.source, len(head) + 1, exc))
    return Script(TOUR, "<tour>")


@click.command()
@engine_option("The engine both the demo server and your session run on.")
@script_option
@json_option
@record_option
@record_force_option
@diagram_option
def demo(engine_name: str, script: str | None, as_json: bool, record: str | None, force: bool,
         diagram: bool) -> None:
    """Start a teaching HTTP/1.1 server on 127.0.0.1 and debug a connection to it.

    At a terminal this opens the REPL.  With --script, or commands piped on stdin, it runs them and
    exits; with nothing on a non-interactive stdin it runs a short built-in tour.
    """
    from h11dbg.cli.launch import Recording, Script, build, read_script, run_session, stdin_script
    from h11dbg.demo.server import ROUTES, DemoServer
    from h11dbg.session.core import Session

    module = load_engine(engine_name)
    if script is not None:
        lines: Script | None = read_script(script)
    elif sys.stdin is None:
        lines = Script(TOUR, "<tour>")
    elif sys.stdin.isatty():
        lines = Script(TOUR, "<tour>") if as_json else None  # JSON is for programs: never the REPL
    else:
        lines = _or_tour(stdin_script())
    recording = Recording(record, force)
    with DemoServer(module) as server:
        def connected() -> Session:
            session = Session.connect(module, server.host, server.port, timeout=10.0)
            session.command = "demo"  # before the recording starts: its header names the command
            return session

        session = build(connected, recording)
        try:
            hint = _hint(server.url, engine_name) + (f"\nrecording to {record}" if record else "")
            banner = f"demo server on {server.url}/ (engine {engine_name}); running {lines.source}" if lines else None
            run_session(session, lines, as_json=as_json, hint=hint, targets=ROUTES, banner=banner, diagram=diagram)
        finally:
            session.close()
            for error in server.errors:
                # not the session's doing: the server itself failed (an engine bug worth reporting)
                click.echo(f"h11dbg: the demo server failed on a connection: {type(error).__name__}: {error}",
                           err=True)


COMMANDS: list[click.Command] = [demo]

if __name__ == "__main__":
    demo(prog_name="h11dbg demo")
