"""``h11dbg export``: a transcript as a page, a picture or a diagram for slides and course pages."""

from __future__ import annotations

from pathlib import Path

import click

from h11dbg.cli.options import engine_option, fail, force_option, format_option, load_engine


@click.command()
@click.argument("file")
@click.option("-o", "--output", required=True, metavar="OUT", help="The file to write; its suffix picks the format.")
@click.option("--to", "kind", type=click.Choice(["stepper", "html", "svg", "mermaid", "txt"]), default=None,
              help="The format, whatever OUT's suffix (html: the terminal rendering as HTML).")
@click.option("--static", is_flag=True, help="For .html: the terminal rendering as rich exports it, not the stepper.")
@format_option
@engine_option()
@force_option
def export(file: str, output: str, kind: str | None, static: bool, format_name: str | None, engine_name: str,
           force: bool) -> None:
    """Export the replay of FILE (any transcript format) to OUT.

    By OUT's suffix: .html the interactive stepper (one file, nothing fetched: the ladder, both state
    machines and the raw bytes, stepped with the arrow keys; --static for the plain terminal rendering),
    .svg the terminal rendering, .md a Mermaid sequence diagram of the ladder, .txt plain text.
    """
    from h11dbg.cli.transcripts import _open
    from h11dbg.output import export as exporters
    from h11dbg.replay.spans import replay_whole
    from h11dbg.transcript import TranscriptError
    from h11dbg.transcript.files import OutputFileError, refuse_existing, write_text

    if kind is None:
        kind = exporters.kind_for(output, static)
        if kind is None:
            fail(f"{output}: which format? name it .html, .svg, .md or .txt, or say --to")
    elif static:
        fail("--static chooses the plain HTML rendering of a .html file: use it without --to")
    engine = load_engine(engine_name)
    try:
        if not force:
            refuse_existing(output)  # before the work
        transcript = _open(file, format_name, None)
        replayed = replay_whole(transcript, engine)
        write_text(output, exporters.render(kind, replayed, title=Path(file).name,
                                            source_format=transcript.meta.source_format, engine=engine_name), force)
    except (TranscriptError, OutputFileError) as exc:
        fail(str(exc))
    click.echo(f"wrote {output} ({kind}, {len(replayed.steps)} steps of {replayed.connections} connection(s))",
               err=True)


COMMANDS: list[click.Command] = [export]
