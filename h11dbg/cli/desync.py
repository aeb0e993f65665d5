"""``h11dbg desync``: the client bytes of a transcript as a front end, a back end and the strict engine read them."""

from __future__ import annotations

import sys

import click

from h11dbg.cli.options import engine_option, fail, format_option, json_option, load_engine
from h11dbg.ui.exits import ExitCode


@click.command()
@click.argument("file")
@format_option
@json_option
@engine_option("The strict reader: h11dbg's engine, or h11 for comparison.")
def desync(file: str, format_name: str | None, as_json: bool, engine_name: str) -> None:
    """Read the client bytes of FILE the way a Content-Length-first front end, a
    Transfer-Encoding-first back end and the strict engine would, side by side: where each thinks
    every request starts and ends, and the request only one of them sees (request smuggling).

    Exit status: 0 all three agree on every connection, 1 they disagree somewhere, 2 unreadable input.
    """
    from h11dbg.cli.transcripts import _open
    from h11dbg.output import desync as words
    from h11dbg.output.jsonl import dumps
    from h11dbg.replay.desync import desyncs
    from h11dbg.transcript import TranscriptError

    engine = load_engine(engine_name)
    agree = True
    try:
        for found in desyncs(_open(file, format_name, None), engine):
            agree = agree and found.agree
            click.echo(dumps(words.record(found)) if as_json else "\n".join(words.lines(found)))
    except TranscriptError as exc:
        fail(str(exc))
    sys.exit(ExitCode.OK if agree else ExitCode.PROTOCOL_ERROR)


COMMANDS: list[click.Command] = [desync]
