"""From parsed options to a running front end: the script to run, the recording file, the Session,
and the hand-over to the REPL (a terminal) or the batch runner (a script or a pipe).

Every live command (connect, listen, loopback, demo) starts a session this one way.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TYPE_CHECKING, BinaryIO, NoReturn

from h11dbg.cli.options import fail
from h11dbg.ui.exits import ExitCode

if TYPE_CHECKING:
    from h11dbg.session.core import Session


class Script:
    """The command lines a batch run executes and where they come from (``FILE`` or ``<stdin>``)."""

    def __init__(self, lines: Iterable[str], source: str) -> None:
        self.lines = lines
        self.source = source


def _decoded(raw_lines: Iterable[bytes]) -> Iterator[str]:
    # each line strictly: the batch runner names the line that is not UTF-8 (a text stream would
    # smuggle such bytes through as surrogates)
    for raw in raw_lines:
        yield raw.decode("utf-8").rstrip("\r\n")


def read_script(path: str) -> Script:
    """A script file, read before anything connects, so that a bad one fails at once (exit 2)."""
    try:
        with open(path, "rb") as f:
            raw = f.read().splitlines()
    except OSError as exc:
        fail(f"cannot read script {path}: {exc.strerror or exc}")
    lines = []
    for number, line in enumerate(raw, start=1):
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            from h11dbg.ui.batch import not_utf8

            fail(not_utf8(path, number, exc))
    return Script(lines, path)


def _raw_lines(stream: BinaryIO) -> Iterator[bytes]:
    """``stream``'s lines as they come, read with os.read: the batch runner waits for them in a
    thread, and a thread blocked in a buffered read would hold a lock the interpreter needs to exit
    when the run ends before the pipe does."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # an in-memory stream
        yield from stream
        return
    pending = b""
    while chunk := os.read(fd, 65536):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        for line in complete:
            yield line + b"\n"
    if pending:
        yield pending


def stdin_script(stream: BinaryIO | None = None) -> Script:
    """Lines from standard input, read as they come (a pipe can feed a live session step by step)."""
    return Script(_decoded(_raw_lines(stream if stream is not None else sys.stdin.buffer)), "<stdin>")


def interactive(script: str | None, as_json: bool) -> bool:
    return script is None and not as_json and sys.stdin is not None and sys.stdin.isatty()


class Recording:
    """``--record FILE``: a new file is created before any network I/O (so an existing one is refused
    at once, exit 2), and the header is written once the session knows its peers.  With ``--force``
    an existing file is only replaced once the session exists: a failed connect must not lose it."""

    def __init__(self, path: str | None, force: bool) -> None:
        self.path = path
        self.stream: IO[bytes] | None = None
        self.force = force
        if path is None:
            if force:
                fail("--force only makes sense with --record FILE")
            return
        if os.path.isdir(path):
            fail(f"{path}: is a directory")
        if not force:
            self.stream = self._create()

    def _create(self) -> IO[bytes]:
        from h11dbg.transcript.files import OutputFileError, create_new

        assert self.path is not None
        try:
            return create_new(self.path, self.force)
        except OutputFileError as exc:
            fail(str(exc))

    def start(self, session: Session) -> None:
        if self.path is None:
            return
        from h11dbg.transcript.files import OutputFileError

        if self.stream is None:
            try:
                self.stream = self._create()
            except SystemExit:
                session.close()
                raise
        try:
            session.start_recording(self.stream, self.path)
        except OutputFileError as exc:
            session.close()
            fail(str(exc))

    def abandon(self) -> None:
        """The session never started: remove the empty file this run created."""

        if self.stream is None or self.path is None:
            return
        self.stream.close()
        try:
            if os.path.getsize(self.path) == 0:
                os.unlink(self.path)
        except OSError:
            pass


def build(factory: Callable[[], Session], recording: Recording | None = None) -> Session:
    """The session ``factory`` makes, recording from its start; failures are one line (exit 2 or 3)."""
    from h11dbg.engines import EngineUnavailable
    from h11dbg.transport import NetworkError

    try:
        session = factory()
    except EngineUnavailable as exc:
        if recording is not None:
            recording.abandon()
        fail(str(exc))
    except NetworkError as exc:
        if recording is not None:
            recording.abandon()
        fail(f"network error: {exc}", ExitCode.NETWORK)
    except KeyboardInterrupt:  # Ctrl-C while connecting (a slow peer, a TLS handshake)
        if recording is not None:
            recording.abandon()
        fail("interrupted", ExitCode.INTERRUPTED)
    except BaseException:
        if recording is not None:
            recording.abandon()
        raise
    if recording is not None:
        recording.start(session)
    return session


def run_session(
    session: Session,
    script: Script | None,
    *,
    as_json: bool,
    hint: str | None = None,
    targets: Iterable[str] = (),
    accept_timeout: float | None = None,
    banner: str | None = None,
    diagram: bool = False,
) -> NoReturn:
    """Hand a built session to the REPL (``script`` is None) or the batch runner, close it, exit.

    ``hint`` opens the REPL (what happened before the prompt, how to start); ``banner`` is the line
    a batch run prints first in plain text; ``diagram`` draws the state machines after each command
    that moves a state."""
    if script is None:
        from h11dbg.output.text import note_lines
        from h11dbg.ui.repl import run_repl

        # what happened before the prompt (connected, TLS and its certificate, the accepted client) opens the REPL
        notes = "\n".join(line for e in session.log if e.kind == "note" and e.text for line in note_lines(e))
        try:
            code = run_repl(session, hint="\n".join(filter(None, (notes, hint))) or None, targets=list(targets),
                            diagram=diagram)
        finally:
            session.close()
        sys.exit(code)
    from h11dbg.ui.batch import run_batch

    if banner and not as_json:
        print(banner, flush=True)
    try:
        status = run_batch(session, script.lines, source=script.source, as_json=as_json, out=sys.stdout,
                           err=sys.stderr, accept_timeout=accept_timeout, diagram=diagram)
    except KeyboardInterrupt:
        session.close()
        fail("interrupted", ExitCode.INTERRUPTED)
    sys.exit(status)
