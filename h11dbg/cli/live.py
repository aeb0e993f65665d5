"""Live commands: connect, listen, loopback.  Each parses its options and calls cli.launch."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from h11dbg.cli.options import (
    Seconds,
    cert_option,
    command_line,
    diagram_option,
    engine_option,
    fail,
    json_option,
    key_option,
    load_server_tls,
    record_again,
    record_force_option,
    record_option,
    script_option,
    server_check_options,
    tls_option,
)
from h11dbg.ui.exits import ExitCode

if TYPE_CHECKING:
    from h11dbg.cli.launch import Script

F = TypeVar("F", bound=Callable[..., Any])


def live_options(func: F) -> F:
    for decorator in reversed([
        engine_option(), script_option, json_option,
        click.option("--timeout", type=Seconds(), default=10.0, metavar="S",
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
@tls_option("Speak TLS (SNI from HOST, ALPN http/1.1); port defaults to 443.")
@server_check_options("--tls")
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
    from h11dbg.transport import AddressError, format_address, parse_connect_address

    if (cafile or insecure or sni) and not tls:
        fail("--cafile, --insecure and --sni only make sense with --tls")
    try:
        host, port = parse_connect_address(address, 443 if tls else 80)
    except AddressError as exc:
        fail(str(exc))
    lines = _script(script, as_json)
    recording = Recording(record, force)
    ctx = click.get_current_context()

    def rerun(tls_on: bool, insecure_on: bool) -> str:
        # the port written out: its default follows --tls
        changes: dict[str, object] = {"address": format_address(host, port), "tls": tls_on,
                                      "record": record_again(record, "tls" if tls_on else "plain")}
        if tls_on:
            changes["insecure"] = insecure_on
        else:
            changes.update(cafile=None, insecure=False, sni=None)
        return command_line(ctx, **changes)

    session = build(lambda: Session.connect(engine_name, host, port, tls=tls, cafile=cafile, insecure=insecure,
                                            server_hostname=sni, timeout=timeout, rerun=rerun), recording)
    run_session(session, lines, as_json=as_json)


@click.command()
@click.argument("address", metavar="[HOST:]PORT")
@tls_option("Speak TLS: each client's handshake is done on accept (ALPN http/1.1).")
@cert_option
@key_option
@live_options
@click.option("--accept-timeout", type=Seconds(), default=None, metavar="S",
              help="In batch mode, give up (exit 3) when no client connects within this many seconds.")
def listen(address: str, tls: bool, cert: str | None, key: str | None, engine_name: str, script: str | None,
           as_json: bool, timeout: float, record: str | None, force: bool, accept_timeout: float | None) -> None:
    """Be the SERVER: listen on [HOST:]PORT (127.0.0.1 unless HOST is given; 0 picks a free port).

    One connection at a time; in the REPL `accept` waits for the next.  In batch
    mode the run ends once the connection the script served has closed.
    """
    from h11dbg.cli.launch import Recording, build, run_session
    from h11dbg.session.core import Session
    from h11dbg.transport import AddressError, parse_listen_address

    if (cert or key) and not tls:
        fail("--cert and --key only make sense with --tls")
    try:
        host, port = parse_listen_address(address)
    except AddressError as exc:
        fail(str(exc))
    lines = _script(script, as_json)
    server_tls = load_server_tls(host, cert, key) if tls else None
    try:
        recording = Recording(record, force)
    except SystemExit:
        if server_tls is not None:
            server_tls.close()  # a throwaway certificate leaves nothing behind
        raise
    ctx = click.get_current_context()

    def rerun(tls_on: bool, insecure_on: bool) -> str:
        # the port the client used, not 0: it is the one the client will try again
        return command_line(ctx, address=session.address, tls=tls_on, cert=cert if tls_on else None,
                            key=key if tls_on else None, record=record_again(record, "tls" if tls_on else "plain"))

    session = build(lambda: Session.listen(engine_name, host, port, timeout=timeout, tls=server_tls,
                                           rerun=rerun), recording)
    if lines is None:
        # the REPL starts with a client to talk to
        try:  # (the line is said inside: a Ctrl-C right after it is this command's, not click's "Aborted!")
            click.echo(f"listening on {session.address}; waiting for a client ...", err=True)
            from h11dbg.output.text import note_lines

            for entry in session.log:
                if entry.tls is not None:  # the certificate (its fingerprint), and how a client trusts it
                    click.echo("\n".join(note_lines(entry)), err=True)

            def said() -> None:  # a client whose TLS handshake failed, said while the wait goes on
                click.echo("\n".join(note_lines(session.log[-1])), err=True)

            session.accept(said=said)
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
