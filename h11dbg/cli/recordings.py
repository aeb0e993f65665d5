"""``h11dbg diff A B``: two recordings compared exchange by exchange.

Parses nothing itself (the ``diff`` command in :mod:`h11dbg.cli.transcripts` does): opens both
inputs, runs :func:`h11dbg.replay.compare.compare_recordings` and writes what
:mod:`h11dbg.output.recording_diff` makes of it.  Kept apart from the engine comparison, which shares
the command.
"""

from __future__ import annotations

import sys

import click

from h11dbg.cli.options import Quietly, fail, load_engine
from h11dbg.cli.transcripts import _no_connection_matched, _open
from h11dbg.ui.exits import ExitCode


def diff_recordings(a: str, b: str, format_name: str | None, server_port: int | None, as_json: bool,
                    ignore_headers: tuple[str, ...], compare_headers: tuple[str, ...], segments: bool) -> None:
    from h11dbg.output import recording_diff as show
    from h11dbg.output.text import lossy_line
    from h11dbg.replay.compare import compare_recordings, ignored_names
    from h11dbg.transcript import TranscriptError
    from h11dbg.transcript.formats import STDIN, STDIN_NAME

    ignored = ignored_names(ignore_headers, compare_headers)
    first = _open(a, format_name, server_port, segments=segments)
    second = _open(b, format_name, server_port, segments=segments)
    out = sys.stdout
    counts = [0, 0]
    differing = same = 0
    run: list[int] = []  # identical exchanges not yet written: [first, last]
    shown_first = False

    def flush_run() -> None:
        if run:
            out.write((show.same_json(*run) if as_json else show.same_line(*run)) + "\n")
            run.clear()

    try:
        with Quietly():
            for found in compare_recordings(first, second, load_engine("h11dbg"), ignored):
                counts[0] += found.a is not None
                counts[1] += found.b is not None
                if not found.changes:
                    same += 1
                    run[:] = [run[0] if run else found.number, found.number]
                    continue
                differing += 1
                if not shown_first:  # the first divergence opens the output
                    shown_first = True
                    out.write((show.first_difference_line(found) if as_json
                               else "\n".join(show.first_difference_lines(found))) + "\n")
                flush_run()
                out.write((show.exchange_line(found) if as_json else "\n".join(show.exchange_lines(found))) + "\n")
            flush_run()
            out.flush()
    except TranscriptError as exc:
        out.flush()
        fail(str(exc))
    files = (a, b)
    named = tuple(STDIN_NAME if path == STDIN else path for path in files)  # as errors name it
    if server_port is not None:
        for path, count in zip(files, counts, strict=True):
            if not count:
                _no_connection_matched(path, format_name, server_port, segments)
    notes = tuple(transcript.notes or ([transcript.meta.lossy] if transcript.meta.lossy else [])
                  for transcript in (first, second))
    if as_json:
        out.write(show.summary_json((named[0], named[1]), (first.meta.source_format, second.meta.source_format),
                                    (counts[0], counts[1]), (notes[0], notes[1]), differing, same, ignored) + "\n")
    else:
        for side, transcript, found_notes in zip(("A", "B"), (first, second), notes, strict=True):
            for why in found_notes:
                click.echo(f"{side}: " + lossy_line(transcript.meta.source_format, why), err=True)
        click.echo(show.summary_line((named[0], named[1]), (counts[0], counts[1]), differing, same, ignored), err=True)
    sys.exit(ExitCode.PROTOCOL_ERROR if differing else ExitCode.OK)
