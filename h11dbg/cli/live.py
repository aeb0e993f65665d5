"""Live commands: connect, listen, loopback.  Each parses its options and calls cli.launch."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from h11dbg.cli.options import (
    diagram_option,
    engine_option,
    fail,
    json_option,
    record_force_option,
    record_option,
    script_option,
)
from h11dbg.ui.exits import ExitCode

if TYPE_CHECKING:
    from h11dbg.cli.launch import Script

F = TypeVar("F", bound=Callable[..., Any])


def live_options(func: F) -> F:
    for decorator in reversed([
        engine_option(), script_option, json_option,
        click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=10.0,
                     show_default=True, help="Seconds to wait for connecting and for each read."),
        record_option,
        record_force_option,
    ]):
        func = decorator(func)
    return func


def _script(script: str | None, as_json: bool) -> Script | None:
    """The batch script (read now, to fail before connecting), or None for the REPL."""
    from h11dbg.cli.launch import interactive, read_script, stdin_script

    if script is not None:
        return read_script(script)
    return None if interactive(script, as_json) else stdin_script()


@click.command()
@click.argument("address", metavar="HOST:PORT")
@click.option("--tls", is_flag=True, help="Speak TLS (SNI from HOST, ALPN http/1.1); port defaults to 443.")
@click.option("--cafile", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Trust the CA certificates in this PEM file (with --tls).")
@click.option("--insecure", is_flag=True, help="Do not verify the server's certificate (with --tls).")
@click.option("--sni", default=None, metavar="NAME",
              help="Server name for SNI and certificate checks (with --tls; default: HOST).")
@live_options
def connect(address: str, tls: bool, cafile: str | None, insecure: bool, sni: str | None, engine_name: str,
            script: str | None, as_json: bool, timeout: float, record: str | None, force: bool) -> None:
    """Be the CLIENT on a real connection to HOST:PORT ([::1]:8080 for IPv6).

    Type requests event by event (request, data, eom), or raw bytes, and step
    through the response (recv, next, run).  Commands come from the REPL, from
    --script FILE, or from stdin when it is not a terminal.
    """
    from h11dbg.cli.launch import Recording, build, run_session
    from h11dbg.session.core import Session
    from h11dbg.transport import AddressError, parse_connect_address

    if (cafile or insecure or sni) and not tls:
        fail("--cafile, --insecure and --sni only make sense with --tls")
    try:
        host, port = parse_connect_address(address, 443 if tls else 80)
    except AddressError as exc:
        fail(str(exc))
    lines = _script(script, as_json)
    recording = Recording(record, force)
    session = build(lambda: Session.connect(engine_name, host, port, tls=tls, cafile=cafile, insecure=insecure,
                                            server_hostname=sni, timeout=timeout), recording)
    run_session(session, lines, as_json=as_json)


@click.command()
@click.argument("address", metavar="[HOST:]PORT")
@live_options
@click.option("--accept-timeout", type=click.FloatRange(min=0, min_open=True), default=None,
              help="In batch mode, give up (exit 3) when no client connects within this many seconds.")
def listen(address: str, engine_name: str, script: str | None, as_json: bool, timeout: float,
           record: str | None, force: bool, accept_timeout: float | None) -> None:
    """Be the SERVER: listen on [HOST:]PORT (127.0.0.1 unless HOST is given; 0 picks a free port).

    One connection at a time; in the REPL `accept` waits for the next.  In batch
    mode the run ends once the connection the script served has closed.
    """
    from h11dbg.cli.launch import Recording, build, run_session
    from h11dbg.session.core import Session
    from h11dbg.transport import AddressError, parse_listen_address

    try:
        host, port = parse_listen_address(address)
    except AddressError as exc:
        fail(str(exc))
    lines = _script(script, as_json)
    recording = Recording(record, force)
    session = build(lambda: Session.listen(engine_name, host, port, timeout=timeout), recording)
    if lines is None:
        # the REPL starts with a client to talk to
        try:  # (the line is said inside: a Ctrl-C right after it is this command's, not click's "Aborted!")
            click.echo(f"listening on {session.address}; waiting for a client ...", err=True)
            session.accept()
        except KeyboardInterrupt:
            session.close()
            fail("interrupted", ExitCode.INTERRUPTED)
    run_session(session, lines, as_json=as_json, accept_timeout=accept_timeout)


@click.command()
@live_options
@diagram_option
def loopback(engine_name: str, script: str | None, as_json: bool, timeout: float, record: str | None,
             force: bool, diagram: bool) -> None:
    """Play both sides in one process over a socket pair (`as client` / `as server`).

    Reads wait at most 0.5 s (or --timeout, if smaller): the peer is this process.
    """
    from h11dbg.cli.launch import Recording, build, run_session
    from h11dbg.session.core import LOOPBACK_READ_TIMEOUT, Session

    lines = _script(script, as_json)
    recording = Recording(record, force)
    session = build(lambda: Session.loopback(engine_name, timeout=min(timeout, LOOPBACK_READ_TIMEOUT)), recording)
    run_session(session, lines, as_json=as_json, diagram=diagram)


COMMANDS: list[click.Command] = [connect, listen, loopback]
