"""What the commands share: their options, one way to fail, and a quiet end for streaming output.

Defined once here so that ``--engine`` offers the same engines everywhere, ``--json`` means the same
schema everywhere, and every failure is one ``h11dbg: ...`` line with an :class:`ExitCode`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from h11dbg.engines import ENGINE_NAMES
from h11dbg.ui.exits import ExitCode

if TYPE_CHECKING:
    from h11dbg.engines import Engine
    from h11dbg.transport.tls import ServerTLS

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: ExitCode = ExitCode.USAGE) -> NoReturn:
    click.echo(f"h11dbg: {message}", err=True)
    sys.exit(code)


def load_engine(name: str) -> Engine:
    """The engine named by ``--engine``, or one line and exit 2."""
    from h11dbg.engines import EngineUnavailable
    from h11dbg.engines import load_engine as load

    try:
        return load(name)
    except EngineUnavailable as exc:
        fail(str(exc))


def engine_option(help: str = "The HTTP/1.1 engine: h11dbg's own, or the h11 package for comparison.",
                  ) -> Callable[[F], F]:
    return click.option("--engine", "engine_name", type=click.Choice(ENGINE_NAMES), default="h11dbg",
                        show_default=True, help=help)


json_option = click.option("--json", "as_json", is_flag=True, help="JSON Lines output (the one schema, docs/json.md).")
diagram_option = click.option(
    "--diagram", is_flag=True,
    help="Draw both state machines (each side's state, its last move) after every command that moves one.")
force_option = click.option("--force", is_flag=True, help="Replace the output file if it exists.")
record_force_option = click.option("--force", is_flag=True, help="With --record: replace FILE if it exists.")
record_option = click.option("--record", "record", type=click.Path(), default=None, metavar="FILE",
                             help="Write every byte sent and received to FILE as a transcript, as it happens.")
script_option = click.option("--script", type=click.Path(dir_okay=False), default=None,
                             help="Run the commands in FILE (batch mode) instead of the interactive REPL.")
format_option = click.option(
    "--format", "format_name", metavar="F",
    help="Force the input format instead of detecting it by content: h11dbg, pcap, pcapng, "
         "curl-trace, curl-trace-ascii or har.")
segments_option = click.option(
    "--segments", is_flag=True,
    help="pcap/pcapng: one chunk per TCP segment, not per write (the senders' writes are rebuilt "
         "from the PSH flags by default).")


class Seconds(click.ParamType):  # type: ignore[type-arg,unused-ignore]  # generic in click >= 8.2 only
    """A duration option (``--timeout 2.5``): h11dbg.transport.parse_seconds, the one parser the
    session commands use too; a bad value is one line and exit 2 (nan, inf, 1e20, -1 included)."""

    name = "seconds"

    def __init__(self, *, zero: bool = False) -> None:
        self.zero = zero  # 0 is allowed (and means "never")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        from h11dbg.transport.timeouts import SecondsError, parse_seconds

        name = param.opts[0] if param is not None and param.opts else "SECONDS"
        try:
            return parse_seconds(str(value), name, zero=self.zero)
        except SecondsError as exc:
            fail(str(exc))


# TLS, the same words on every command that speaks it: the client's side (connect) and the server's (listen)
def tls_option(help: str) -> Callable[[F], F]:
    return click.option("--tls", is_flag=True, help=help)


def server_check_options(flag: str) -> Callable[[F], F]:
    """``--cafile``, ``--insecure``, ``--sni``: how a client checks the server it speaks TLS to (``flag``)."""
    options = [
        click.option("--cafile", type=click.Path(exists=True, dir_okay=False), default=None,
                     help=f"Trust the CA certificates in this PEM file (with {flag})."),
        click.option("--insecure", is_flag=True, help=f"Do not verify the server's certificate (with {flag})."),
        click.option("--sni", default=None, metavar="NAME",
                     help=f"Server name for SNI and certificate checks (with {flag}; default: HOST)."),
    ]

    def decorate(func: F) -> F:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


cert_option = click.option(
    "--cert", type=click.Path(exists=True, dir_okay=False), default=None, metavar="FILE",
    help="With --tls: the server's certificate chain (PEM; it may hold the key too). Without --cert a "
         "throwaway self-signed certificate is made and its PEM file printed for curl --cacert.")
key_option = click.option("--key", type=click.Path(exists=True, dir_okay=False), default=None, metavar="FILE",
                          help="With --tls --cert: the private key (PEM), if not in the --cert file.")


def load_server_tls(host: str, cert: str | None, key: str | None) -> ServerTLS:
    """The certificate ``--tls`` serves (``--cert``/``--key``, or a throwaway one), loaded before
    anything listens: a bad file is one line and exit 2."""
    from h11dbg.transport.tls import CertificateFileError, ServerTLS

    if key and not cert:
        fail("--key needs --cert (without both, --tls makes a throwaway certificate)")
    try:
        return ServerTLS(host, cert, key)
    except CertificateFileError as exc:
        fail(str(exc))


def command_line(ctx: click.Context, **changes: object) -> str:
    """This command as the user would type it again, with ``changes`` (parameter name -> value; None or
    False leaves an option out) applied: the line a hint tells them to run."""
    import shlex

    words = ["h11dbg", ctx.info_name or ""]
    for param in ctx.command.params:
        name = param.name or ""
        value = changes[name] if name in changes else ctx.params.get(name)
        if isinstance(param, click.Argument):
            words.append(str(value))
        elif isinstance(param, click.Option) and param.is_flag:
            if value:
                words.append(max(param.opts, key=len))
        elif isinstance(param, click.Option) and value is not None and value != param.get_default(ctx):
            words += [max(param.opts, key=len), str(value)]
    return shlex.join(words)


def record_again(path: str | None, tag: str) -> str | None:
    """The ``--record`` file for a run suggested after this one: this run's FILE holds what it
    recorded, so the next run writes beside it (FILE-tag.EXT, or -tag2 ...), never over it."""
    import os

    if path is None or not os.path.exists(path) or os.path.getsize(path) == 0:
        return path  # (a run that never connected leaves its file empty, and removes it)
    stem, ext = os.path.splitext(path)
    for number in range(1, 1000):
        candidate = f"{stem}-{tag}{number if number > 1 else ''}{ext}"
        if not os.path.exists(candidate):
            return candidate
    return path


class Port(click.ParamType):  # type: ignore[type-arg,unused-ignore]  # generic in click >= 8.2 only
    """A TCP port as an option's value (``--server-port 8080``): h11dbg.transport.address.parse_port, the
    one check of a port (HOST:PORT addresses too); a bad one is click's usage error, exit 2."""

    name = "port"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from h11dbg.transport.address import AddressError, parse_port

        if isinstance(value, int):
            return value
        try:
            return parse_port(str(value))
        except AddressError as exc:
            self.fail(str(exc), param, ctx)


PORT = Port()


def server_port_option(verb: str) -> Callable[[F], F]:
    """``--port P`` on the transcript commands: a filter on the recorded server port (never a port to use)."""
    return click.option("--server-port", "--port", "server_port", type=PORT, metavar="P",
                        help=f"Only {verb} connections whose server listened on port P.")


class Quietly:
    """Ends a streaming command without a traceback when the reader goes away (``| head``) or the
    user presses Ctrl-C."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is BrokenPipeError:
            import os

            # stdout is gone: point it at /dev/null so the final flush at exit cannot fail again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(ExitCode.OK)
        if kind is KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(ExitCode.INTERRUPTED)
