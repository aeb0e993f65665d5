"""``export FILE`` in a session: what has crossed the wire so far, exported as ``h11dbg export`` exports a
transcript (the same replay, the same pages and pictures)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from h11dbg.session.commands import CommandResult
    from h11dbg.session.core import Session


def export_session(session: Session, path: str, force: bool) -> str:
    """Write the session so far to ``path`` in the format its suffix names; returns the line to show.
    Raises OutputFileError (one line) when it cannot."""
    from h11dbg.output import export as exporters
    from h11dbg.replay.spans import replay_whole
    from h11dbg.transcript.files import OutputFileError, write_text
    from h11dbg.transcript.model import Transcript

    kind = exporters.kind_for(path)
    if kind is None:
        raise OutputFileError(f"{path}: which format? name it .html, .svg, .md or .txt")
    transcript = Transcript(meta=session.recording_meta(), records=list(session.recorder.records))
    replayed = replay_whole(transcript, session.engine)
    write_text(path, exporters.render(kind, replayed, title=f"h11dbg {session.mode} session",
                                      source_format="h11dbg", engine=session.engine_name), force,
               hint=f"export --force {path}")
    return f"exported the session so far to {path} ({kind}, {len(replayed.steps)} steps)"


def exported(session: Session, result: CommandResult) -> CommandResult:
    """``result`` with its ``export`` done: the line that says so added to its output, or the reason it
    could not be done as its (usage) error."""
    if result.export is None:
        return result
    from h11dbg.transcript.files import OutputFileError

    path, force = result.export
    try:
        said = export_session(session, path, force)
    except OutputFileError as exc:
        return dataclasses.replace(result, error=str(exc), error_kind="usage")
    return dataclasses.replace(result, output=[*result.output, said])
