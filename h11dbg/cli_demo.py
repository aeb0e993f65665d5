"""``h11dbg demo``: start the embedded demo server, connect a debugging session to it, and either open
the REPL (a terminal) or run a script (``--script``, or lines piped on stdin; an empty stdin runs a
short built-in tour so ``make demo`` shows a real exchange anywhere).
"""

from __future__ import annotations

import sys

import click

ENGINES = ("h11dbg", "h11")

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


class ScriptError(Exception):
    """A script that cannot be read as text (one line, with its location)."""


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        from h11dbg.escaping import escape

        line = data.count(b"\n", 0, exc.start) + 1
        bad = escape(data[exc.start : exc.end])
        raise ScriptError(f"{source}:{line}: not UTF-8 text at byte {exc.start} ({bad})") from None


def _script_lines(script: str | None) -> tuple[list[str], str] | None:
    """The lines to run in batch mode and where they came from; None means interactive."""
    if script is not None:
        try:
            with open(script, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise ScriptError(f"cannot read {script}: {exc.strerror or exc}") from None
        return _decode(data, script).splitlines(), script
    stdin = sys.stdin
    if stdin is not None and stdin.isatty():
        return None
    if stdin is None:
        data = b""
    elif hasattr(stdin, "buffer"):
        data = stdin.buffer.read()
    else:  # a text-only stream (an embedding program's)
        data = stdin.read().encode("utf-8", "surrogateescape")
    text = _decode(data, "<stdin>")
    if not text.strip():
        return list(TOUR), "<tour>"
    return text.splitlines(), "<stdin>"


@click.command()
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="h11dbg",
    show_default=True,
    help="The engine both the demo server and your session run on.",
)
@click.option(
    "--script",
    type=click.Path(exists=True, dir_okay=False),
    help="Run the commands in FILE instead of opening the REPL.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per log entry (batch mode).")
@click.option("--record", "record", type=click.Path(), default=None, metavar="FILE",
              help="Write every byte sent and received to FILE as a transcript, as it happens.")
@click.option("--force", is_flag=True, help="With --record: replace FILE if it exists.")
def demo(engine: str, script: str | None, as_json: bool, record: str | None, force: bool) -> None:
    """Start a teaching HTTP/1.1 server on 127.0.0.1 and debug a connection to it.

    At a terminal this opens the REPL.  With --script, or commands piped on stdin, it runs them and
    exits; with nothing on a non-interactive stdin it runs a short built-in tour.
    """
    from h11dbg.cli import EXIT_NETWORK, EXIT_USAGE
    from h11dbg.cli_live import Recording
    from h11dbg.demo.server import ROUTES, DemoServer
    from h11dbg.engines import EngineUnavailable, load_engine
    from h11dbg.session.core import Session
    from h11dbg.transport import NetworkError

    try:
        module = load_engine(engine)
        if not hasattr(module, "Connection"):
            # an engine package that is present but not (yet) complete must fail here, in one line
            raise EngineUnavailable(f"engine {engine!r} does not offer h11's API (no Connection)")
    except EngineUnavailable as exc:
        click.echo(f"h11dbg: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    try:
        lines = _script_lines(script)
    except ScriptError as exc:
        click.echo(f"h11dbg: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if as_json and lines is None:
        lines = list(TOUR), "<tour>"  # JSON is for programs: never open the REPL for it
    recording = Recording(record, force)
    with DemoServer(module) as server:
        try:
            session = Session.connect(module, server.host, server.port, timeout=10.0)
        except NetworkError as exc:
            recording.abandon()
            click.echo(f"h11dbg: network error: {exc}", err=True)
            sys.exit(EXIT_NETWORK)
        session.command = "demo"
        recording.start(session)
        try:
            if lines is None:
                from h11dbg.ui.repl import run_repl

                hint = _hint(server.url, engine) + (f"\nrecording to {record}" if record else "")
                status = run_repl(session, hint=hint, targets=list(ROUTES))
            else:
                from h11dbg.session.batch import run_batch

                commands, source = lines
                if not as_json:
                    click.echo(f"demo server on {server.url}/ (engine {engine}); running {source}")
                status = run_batch(session, commands, source=source, as_json=as_json, out=sys.stdout, err=sys.stderr)
        finally:
            session.close()
    for error in server.errors:
        # not the session's doing: the server itself failed (an engine bug worth reporting)
        click.echo(f"h11dbg: the demo server failed on a connection: {type(error).__name__}: {error}", err=True)
    sys.exit(status)


COMMANDS: list[click.Command] = [demo]

if __name__ == "__main__":
    demo(prog_name="h11dbg demo")
