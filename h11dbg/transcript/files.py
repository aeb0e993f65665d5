"""Writing transcript files without ever losing one: new files only, replacements made atomic.

Rules of the house: a file the user recorded is never overwritten without ``--force`` (the check
and the creation are one step, ``open(..., "x")``); a forced replacement is written beside the
target and moved into place, so a failed write leaves the old file as it was; every failure is
one line that names the file.  Every recording's header says which h11dbg made it the same way
(:func:`recording_meta`).
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from h11dbg import __version__
from h11dbg.transcript.model import Meta


class OutputFileError(Exception):
    """A file cannot be created or written: one line, naming the file."""


def refuse_existing(path: str | Path, hint: str = "--force") -> None:
    """Fail early (before any work) when ``path`` exists; :func:`create_new` checks again when it writes."""
    if Path(path).exists():
        raise OutputFileError(f"{path}: exists already; refusing to overwrite it (use {hint})")


def create_new(path: str | Path, force: bool, hint: str = "--force") -> IO[bytes]:
    """Open ``path`` for writing; without ``force`` only if it does not exist yet."""
    try:
        return open(path, "wb" if force else "xb")  # noqa: SIM115  (the caller owns the stream)
    except FileExistsError:
        raise OutputFileError(f"{path}: exists already; refusing to overwrite it (use {hint})") from None
    except IsADirectoryError:
        raise OutputFileError(f"{path}: is a directory") from None
    except OSError as exc:
        raise OutputFileError(f"{path}: cannot write: {exc.strerror or exc}") from None


@contextlib.contextmanager
def replacing(path: str | Path) -> Iterator[Path]:
    """A partial file beside ``path`` to write; it replaces ``path`` only if the block succeeds."""
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    try:
        yield partial
        os.replace(partial, target)
    except OSError as exc:
        raise OutputFileError(f"{path}: cannot write: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()


def write_text(path: str | Path, text: str, force: bool, hint: str = "--force") -> None:
    """Write ``text`` to ``path`` whole or not at all; without ``force`` an existing file is refused
    (``hint``: how to say force)."""
    if not force:
        refuse_existing(path, hint)
    with replacing(path) as partial:
        try:
            partial.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise OutputFileError(f"{path}: cannot write: {exc.strerror or exc}") from None


def recording_meta(command: str, *, peers: str | None, engine: str | None = None,
                   description: str | None = None) -> Meta:
    """The header of a recording: which h11dbg command made it, between whom, when, on which engine."""
    return Meta(
        tool=f"h11dbg {__version__} {command}",
        peers=peers,
        recorded_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        description=description,
        extra={"engine": engine} if engine else {},
    )
