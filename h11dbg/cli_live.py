"""Live commands: connect, listen, loopback (``demo`` is in h11dbg.cli_demo).

Heavy imports (the session layer, rich, prompt_toolkit) happen inside the command functions.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import IO, TYPE_CHECKING, Any, TextIO

import click

if TYPE_CHECKING:
    from h11dbg.session.core import Session

ENGINE_CHOICES = ("h11dbg", "h11")


def _common_options(func: Callable[..., Any]) -> Callable[..., Any]:
    decorators = [
        click.option("--engine", type=click.Choice(ENGINE_CHOICES), default="h11dbg", show_default=True,
                     help="The HTTP/1.1 engine: h11dbg's own, or the h11 package for comparison."),
        click.option("--script", type=click.Path(dir_okay=False), default=None,
                     help="Run the commands in FILE (batch mode) instead of the interactive REPL."),
        click.option("--json", "as_json", is_flag=True,
                     help="Batch output as JSON Lines (see docs/json.md)."),
        click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0,
                     show_default=True, help="Seconds to wait for connecting and for each read."),
        click.option("--record", "record", type=click.Path(), default=None, metavar="FILE",
                     help="Write every byte sent and received to FILE as a transcript, as it happens."),
        click.option("--force", is_flag=True, help="With --record: replace FILE if it exists."),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


# h11dbg.cli imports this module while it registers commands, so the exit codes are looked up late
def _exit_code(name: str) -> int:
    from h11dbg import cli

    return int(getattr(cli, name))


def _fail(message: str, code: int) -> None:
    click.echo(f"h11dbg: {message}", err=True)
    sys.exit(code)


class Recording:
    """``--record FILE``: a new file is created before any network I/O (so an existing one is refused
    at once, exit 2), and the header is written once the session knows its peers.  With ``--force``
    an existing file is only replaced once the session exists: a failed connect must not lose it."""

    def __init__(self, path: str | None, force: bool) -> None:
        self.path = path
        self.force = force
        self.stream: IO[bytes] | None = None
        if path is None:
            if force:
                _fail("--force only makes sense with --record FILE", _exit_code("EXIT_USAGE"))
            return
        import os

        if os.path.isdir(path):
            _fail(f"{path}: is a directory", _exit_code("EXIT_USAGE"))
        if not force:
            self.stream = self._create()

    def _create(self) -> IO[bytes]:
        from h11dbg.session.recording import RecordingError, create_new

        assert self.path is not None
        try:
            return create_new(self.path, self.force)
        except RecordingError as exc:
            _fail(str(exc), _exit_code("EXIT_USAGE"))
        raise AssertionError("unreachable")

    def start(self, session: Session) -> None:
        if self.path is None:
            return
        from h11dbg.session.recording import RecordingError

        if self.stream is None:
            try:
                self.stream = self._create()
            except SystemExit:
                session.close()
                raise
        try:
            session.start_recording(self.stream, self.path)
        except RecordingError as exc:
            session.close()
            _fail(str(exc), _exit_code("EXIT_USAGE"))

    def abandon(self) -> None:
        """The session never started: remove the empty file this run created."""
        import os

        if self.stream is None or self.path is None:
            return
        self.stream.close()
        try:
            if os.path.getsize(self.path) == 0:
                os.unlink(self.path)
        except OSError:
            pass


def _build(factory: Callable[[], Session], recording: Recording | None = None) -> Session:
    from h11dbg.engines import EngineUnavailable
    from h11dbg.transport import NetworkError

    try:
        session = factory()
    except EngineUnavailable as exc:
        if recording is not None:
            recording.abandon()
        _fail(str(exc), _exit_code("EXIT_USAGE"))
    except NetworkError as exc:
        if recording is not None:
            recording.abandon()
        _fail(f"network error: {exc}", _exit_code("EXIT_NETWORK"))
    except BaseException:
        if recording is not None:
            recording.abandon()
        raise
    if recording is not None:
        recording.start(session)
    return session


def _script_lines(script: str | None) -> tuple[Iterable[str], str]:
    if script is None:
        # decode each line strictly so the batch runner can name the line that is not UTF-8
        # (sys.stdin would smuggle such bytes through as surrogates)
        return (raw.decode("utf-8") for raw in sys.stdin.buffer), "<stdin>"
    try:
        with open(script, encoding="utf-8") as f:
            return f.read().splitlines(), script
    except OSError as exc:
        _fail(f"cannot read script {script}: {exc.strerror or exc}", _exit_code("EXIT_USAGE"))
    except UnicodeDecodeError as exc:
        _fail(f"{script}: not UTF-8 text (byte offset {exc.start})", _exit_code("EXIT_USAGE"))
    raise AssertionError("unreachable")


def _interactive(script: str | None, as_json: bool, stdin: TextIO | None = None) -> bool:
    stream = stdin or sys.stdin
    return script is None and not as_json and stream.isatty()


def run_session(
    session: Session,
    script: str | None,
    as_json: bool,
    accept_timeout: float | None = None,
    lines: tuple[Iterable[str], str] | None = None,
) -> None:
    """Hand a built session to the REPL (a terminal, no --script) or the batch runner, then exit.

    ``lines`` are the script's lines when the caller already read them (to fail before connecting).
    """
    if _interactive(script, as_json):
        from h11dbg.ui.repl import run_repl

        # what happened before the prompt (connected, TLS, the accepted client) opens the REPL
        hint = "\n".join(e.text for e in session.log if e.kind == "note" and e.text)
        try:
            code = run_repl(session, hint=hint or None)
        finally:
            session.close()
        sys.exit(code)
    from h11dbg.session.batch import run_batch

    commands, source = lines if lines is not None else _script_lines(script)
    try:
        status = run_batch(session, commands, source=source, as_json=as_json, out=sys.stdout,
                           err=sys.stderr, accept_timeout=accept_timeout)
    except KeyboardInterrupt:
        _fail("interrupted", _exit_code("EXIT_USAGE"))
    sys.exit(status)


@click.command()
@click.argument("address", metavar="HOST:PORT")
@click.option("--tls", is_flag=True, help="Speak TLS (SNI from HOST, ALPN http/1.1); port defaults to 443.")
@click.option("--cafile", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Trust the CA certificates in this PEM file (with --tls).")
@click.option("--insecure", is_flag=True, help="Do not verify the server's certificate (with --tls).")
@click.option("--sni", default=None, metavar="NAME",
              help="Server name for SNI and certificate checks (with --tls; default: HOST).")
@_common_options
def connect(address: str, tls: bool, cafile: str | None, insecure: bool, sni: str | None, engine: str,
            script: str | None, as_json: bool, timeout: float, record: str | None, force: bool) -> None:
    """Be the CLIENT on a real connection to HOST:PORT ([::1]:8080 for IPv6).

    Type requests event by event (request, data, eom), or raw bytes, and step
    through the response (recv, next, run).  Commands come from the REPL, from
    --script FILE, or from stdin when it is not a terminal.
    """
    from h11dbg.session.core import Session
    from h11dbg.transport import AddressError, parse_connect_address

    if (cafile or insecure or sni) and not tls:
        _fail("--cafile, --insecure and --sni only make sense with --tls", _exit_code("EXIT_USAGE"))
    try:
        host, port = parse_connect_address(address, 443 if tls else 80)
    except AddressError as exc:
        _fail(str(exc), _exit_code("EXIT_USAGE"))
    lines = _script_lines(script) if script else None
    recording = Recording(record, force)
    session = _build(lambda: Session.connect(engine, host, port, tls=tls, cafile=cafile, insecure=insecure,
                                             server_hostname=sni, timeout=timeout), recording)
    run_session(session, script, as_json, lines=lines)


@click.command()
@click.argument("address", metavar="[HOST:]PORT")
@_common_options
@click.option("--accept-timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="In batch mode, give up (exit 3) when no client connects within this many seconds.")
def listen(address: str, engine: str, script: str | None, as_json: bool, timeout: float,
           record: str | None, force: bool, accept_timeout: float | None) -> None:
    """Be the SERVER: listen on [HOST:]PORT (127.0.0.1 unless HOST is given; 0 picks a free port).

    One connection at a time; in the REPL `accept` waits for the next.  In batch
    mode the run ends once the connection the script served has closed.
    """
    from h11dbg.session.core import Session
    from h11dbg.transport import AddressError, parse_listen_address

    try:
        host, port = parse_listen_address(address)
    except AddressError as exc:
        _fail(str(exc), _exit_code("EXIT_USAGE"))
    lines = _script_lines(script) if script else None
    recording = Recording(record, force)
    session = _build(lambda: Session.listen(engine, host, port, timeout=timeout), recording)
    if _interactive(script, as_json):
        # the REPL starts with a client to talk to
        click.echo(f"listening on {session.address}; waiting for a client ...", err=True)
        try:
            session.accept()
        except KeyboardInterrupt:
            session.close()
            sys.exit(0)
    run_session(session, script, as_json, accept_timeout=accept_timeout, lines=lines)


@click.command()
@_common_options
def loopback(engine: str, script: str | None, as_json: bool, timeout: float, record: str | None,
             force: bool) -> None:
    """Play both sides in one process over a socket pair (`as client` / `as server`).

    Reads wait at most 0.5 s (or --timeout, if smaller): the peer is this process.
    """
    from h11dbg.session.core import LOOPBACK_READ_TIMEOUT, Session

    lines = _script_lines(script) if script else None
    recording = Recording(record, force)
    session = _build(lambda: Session.loopback(engine, timeout=min(timeout, LOOPBACK_READ_TIMEOUT)), recording)
    run_session(session, script, as_json, lines=lines)


COMMANDS: list[click.Command] = [connect, listen, loopback]
