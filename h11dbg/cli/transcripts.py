"""Transcript commands: record, replay, diff, convert.  Each parses its options and calls into
h11dbg.replay (the offline core), h11dbg.output (how steps read) or h11dbg.transcript."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

import click

from h11dbg.cli.options import (
    Quietly,
    Seconds,
    cert_option,
    diagram_option,
    engine_option,
    fail,
    force_option,
    format_option,
    json_option,
    key_option,
    load_engine,
    load_server_tls,
    segments_option,
    server_check_options,
    server_port_option,
    tls_option,
)
from h11dbg.ui.exits import ExitCode

if TYPE_CHECKING:
    from types import FrameType

    from h11dbg.replay.steps import ReplayStep
    from h11dbg.transcript.model import Record, Transcript


def _open(path: str, format_name: str | None, server_port: int | None, *, prefetch: bool = False,
          segments: bool = False) -> Transcript:
    """The transcript at ``path``; with ``prefetch``, a large one is read by a second process while
    this one replays (h11dbg.replay.prefetch)."""
    from h11dbg.transcript import TranscriptError, open_transcript

    if path == "-" and sys.stdin is not None and sys.stdin.isatty():  # it would wait for input never coming
        fail("-: standard input is a terminal; pipe a transcript or a capture in "
             "(tshark -w - | h11dbg replay -, h11dbg replay - < FILE)")
    try:
        transcript = open_transcript(path, format_name, segments=segments)
    except TranscriptError as exc:
        fail(str(exc))
    if server_port is not None:
        from h11dbg.replay.run import only_server_port

        transcript.records = only_server_port(transcript.records, server_port)
    if prefetch:
        from h11dbg.replay.prefetch import prefetch as read_ahead

        transcript = read_ahead(transcript, path)
    return transcript


def _no_connection_matched(path: str, format_name: str | None, server_port: int, segments: bool) -> NoReturn:
    """A port filter that kept nothing: say so, with the ports there are (read again: this is rare,
    and the filter's own pass may have run in another process), and exit 2."""
    from h11dbg.replay.run import server_ports
    from h11dbg.transcript import TranscriptError

    try:
        present = server_ports(_open(path, format_name, None, segments=segments).records)
    except TranscriptError:  # (it was read once already: only a file changed meanwhile gets here)
        present = []
    fail(f"no connection matched server port {server_port} in {path}; "
         + (f"server ports present: {', '.join(map(str, present))}" if present
            else "no connection in it names its server port"))


def _lossy_summary(transcript: Transcript) -> str:
    """What the stderr summary adds for a lossy input (the notes themselves are in the output)."""
    found = len(transcript.notes or ())
    if found:
        return f"; {transcript.meta.source_format} input is lossy ({found} note(s) above)"
    if transcript.meta.lossy:
        return f"; {transcript.meta.source_format} input is lossy (see the note above)"
    return ""


@click.command()
@click.argument("file")
@format_option
@server_port_option("replay")
@json_option
@engine_option()
@click.option("--step", is_flag=True, help="Walk the replay interactively (also with piped stdin).")
@click.option("--no-headers", is_flag=True, help="Do not list each message's headers.")
@click.option("--ladder", is_flag=True,
              help="Draw the replay as a ladder: one arrow per message between the client and server lanes.")
@diagram_option
@segments_option
def replay(
    file: str, format_name: str | None, server_port: int | None, as_json: bool, engine_name: str, step: bool,
    no_headers: bool, ladder: bool, diagram: bool, segments: bool,
) -> None:
    """Replay FILE through both state machines of every connection.

    Client-to-server bytes go into a SERVER connection and server-to-client bytes into a CLIENT
    connection, chunk by chunk, each side's events mirrored into the other.  FILE may be an h11dbg
    transcript, pcap/pcapng, curl --trace/--trace-ascii output or HAR (detected by content).
    Exit status: 0 every connection parsed cleanly, 1 a protocol error was found, 2 unreadable input.
    """
    from h11dbg.output import jsonl, text
    from h11dbg.replay.prefetch import worth_it
    from h11dbg.transcript import TranscriptError

    if diagram and not step:
        fail("--diagram redraws the state machines as --step walks: use it with --step")
    if ladder and (as_json or step):
        fail(f"--ladder draws a picture for people: it does not combine with {'--json' if as_json else '--step'}")
    if step and file == "-":
        fail("replay - --step: standard input holds the transcript, so it cannot take the stepper's commands "
             "too; step through a file")
    engine = load_engine(engine_name)
    # A large input replays on two CPUs: a worker process reads it and replays part of the
    # connections (h11dbg.replay.parallel; the same output).  Stepping stays in one process.
    split = not step and not ladder and worth_it(file)
    transcript = _open(file, format_name, server_port, prefetch=not split, segments=segments)
    source_format = transcript.meta.source_format
    out = sys.stdout

    def note(why: str) -> str:
        return (jsonl.lossy_line(source_format, why) if as_json else text.lossy_line(source_format, why)) + "\n"

    def render(step_: ReplayStep) -> str:
        if as_json:
            return jsonl.step_line(step_) + "\n"
        return "\n".join(text.step_lines(step_, headers=not no_headers)) + "\n"

    try:
        with Quietly():
            if step:
                from h11dbg.replay.machines import Replayer
                from h11dbg.replay.run import Outcome, steps
                from h11dbg.ui.step import run_stepper

                replayer = Replayer(engine)
                run_stepper(steps(transcript, replayer, lambda why: out.write(note(why))), engine, render, out,
                            diagram=diagram)
                outcome = Outcome.of(replayer)
            elif ladder:
                from h11dbg.output.ladder import step_rows, text_lines
                from h11dbg.replay.machines import Replayer
                from h11dbg.replay.run import Outcome, steps

                replayer = Replayer(engine)
                for line in text_lines(step_rows(steps(transcript, replayer, lambda why: out.write(note(why))))):
                    out.write(line + "\n")
                outcome = Outcome.of(replayer)
            else:
                from h11dbg.replay.run import run

                outcome = run(transcript, engine, render=render, note=note, write=out.write,
                              path=file if split else None)
            out.flush()
    except TranscriptError as exc:
        out.flush()
        fail(str(exc))
    if server_port is not None and not outcome.connections:
        _no_connection_matched(file, format_name, server_port, segments)
    if not as_json:
        click.echo(
            f"{outcome.connections} connection(s), "
            + (f"{outcome.errors} with a protocol error" if outcome.errors else "all parsed cleanly")
            + _lossy_summary(transcript),
            err=True,
        )
        if outcome.slowest:
            click.echo(text.slowest_line(outcome.slowest), err=True)
    sys.exit(ExitCode.PROTOCOL_ERROR if outcome.errors else ExitCode.OK)


@click.command()
@click.argument("files", nargs=-1, metavar="A [B]")
@format_option
@server_port_option("compare")
@json_option
@click.option("--engines", is_flag=False, flag_value="h11dbg,h11", default=None, metavar="[E1,E2]",
              help="Compare two engines on one FILE instead (h11dbg,h11 unless named): `diff --engines FILE`.")
@click.option("--ignore-header", "ignore_headers", multiple=True, metavar="NAME",
              help="diff A B: ignore header (and trailer) fields NAME, besides Date (repeatable).")
@click.option("--compare-header", "compare_headers", multiple=True, metavar="NAME",
              help="diff A B: compare NAME although it is ignored by default (--compare-header Date).")
@segments_option
def diff(files: tuple[str, ...], format_name: str | None, server_port: int | None, as_json: bool,
         engines: str | None, ignore_headers: tuple[str, ...], compare_headers: tuple[str, ...],
         segments: bool) -> None:
    """Compare two recordings A and B (any readable formats) exchange by exchange: start lines,
    header fields, framing, bodies, trailers, states and errors; the first divergence first, with
    both byte runs.  Date is ignored unless --compare-header Date.  Exit 0 same, 1 different, 2
    unreadable.

    With --engines (or one FILE): replay FILE through two engines (h11dbg.protocol and h11) and show,
    per connection, the first step where they differ: an event, a state or an error.  Exit 0
    identical, 1 different.
    """
    if engines is not None and not files:
        from h11dbg.engines import ENGINE_NAMES

        if all(name.strip() in ENGINE_NAMES for name in engines.split(",")):
            fail("diff --engines compares one FILE through two engines: give the FILE")
        files, engines = (engines,), "h11dbg,h11"  # `diff --engines FILE`: the option took FILE as its value
    if len(files) == 2 and engines is None:
        from h11dbg.cli.recordings import diff_recordings

        if files[0] == files[1] == "-":
            fail("diff - -: standard input can be only one of the two recordings")

        diff_recordings(files[0], files[1], format_name, server_port, as_json, ignore_headers, compare_headers,
                        segments)
        return
    if len(files) != 1:
        fail("diff takes two recordings (diff A B) or one FILE to compare engines on (diff --engines FILE); "
             f"got {len(files)} file(s)")
    if ignore_headers or compare_headers:
        fail("--ignore-header and --compare-header apply to diff A B, not to the engine comparison")
    _diff_engines(files[0], format_name, server_port, as_json, engines or "h11dbg,h11", segments)


def _diff_engines(file: str, format_name: str | None, server_port: int | None, as_json: bool, engines: str,
                  segments: bool) -> None:
    """``diff --engines FILE``: the same transcript through two engines."""
    from h11dbg.engines import ENGINE_NAMES
    from h11dbg.output import jsonl, text
    from h11dbg.replay.diff import Difference, EngineDiff
    from h11dbg.transcript import TranscriptError

    names = [name.strip() for name in engines.split(",")]
    if len(names) != 2 or any(name not in ENGINE_NAMES for name in names):
        from h11dbg.transcript.escaping import quote

        fail(f"--engines takes two of {','.join(ENGINE_NAMES)} separated by a comma (got {quote(engines)})")
    first, second = (load_engine(name) for name in names)
    transcript = _open(file, format_name, server_port, prefetch=True, segments=segments)
    comparison = EngineDiff(first, second)
    out = sys.stdout

    def show(differences: list[Difference]) -> None:
        for found in differences:
            out.write(jsonl.difference_line(found, names) + "\n" if as_json
                      else "".join(f"{line}\n" for line in text.difference_lines(found, names)))

    try:
        with Quietly():
            for record in transcript:
                show(comparison.feed(record))
            show(comparison.finish())
            out.flush()
    except TranscriptError as exc:
        out.flush()
        fail(str(exc))
    if server_port is not None and not (comparison.identical or comparison.differences):
        _no_connection_matched(file, format_name, server_port, segments)
    for conn, steps in sorted(comparison.identical.items()):
        out.write((jsonl.same_line(conn, steps) if as_json else text.same_line(conn, steps)) + "\n")
    out.flush()
    differing = len(comparison.differences)
    if not as_json:
        for why in transcript.notes or ([transcript.meta.lossy] if transcript.meta.lossy else []):
            click.echo(text.lossy_line(transcript.meta.source_format, why), err=True)
        click.echo(f"engines {names[0]} and {names[1]}: {differing} connection(s) differ, "
                   f"{len(comparison.identical)} identical", err=True)
    sys.exit(ExitCode.PROTOCOL_ERROR if differing else ExitCode.OK)


@click.command()
@click.argument("source", metavar="IN")
@click.argument("target", metavar="OUT")
@format_option
@click.option("--to", "to_format", metavar="F",
              help="The output format: h11dbg, pcap, pcapng or har (default: by OUT's suffix, .h11t, .pcap, "
                   ".pcapng or .har; h11dbg's text format for any other name and for -).")
@force_option
@segments_option
def convert(source: str, target: str, format_name: str | None, to_format: str | None, force: bool,
            segments: bool) -> None:
    """Convert the transcript IN (any readable format) into OUT: h11dbg's text format, pcap, pcapng or
    HAR 1.2.  IN may be - (standard input), OUT - (standard output).  What OUT's format cannot hold is
    said on stderr."""
    from h11dbg import __version__
    from h11dbg.replay.convert import write_as
    from h11dbg.transcript import TranscriptError
    from h11dbg.transcript.files import OutputFileError, refuse_existing, replacing
    from h11dbg.transcript.formats import OUTPUTS, STDIN, output_format

    out_format = to_format or output_format(target)
    if out_format not in OUTPUTS:
        fail(f"--to {out_format}: choose one of {', '.join(OUTPUTS)}")
    to_stdout = target == STDIN
    if to_stdout and out_format.startswith("pcap") and sys.stdout.isatty():
        fail(f"refusing to write {out_format} to a terminal: redirect standard output (> FILE, | tshark -r -)")
    try:
        if not (force or to_stdout):
            refuse_existing(target)
        transcript = _open(source, format_name, None, segments=segments)
        transcript.meta.extra.setdefault("converted_by", f"h11dbg convert {__version__}")
        with Quietly():
            if to_stdout:
                try:
                    made_up = write_as(transcript, sys.stdout.buffer, out_format)
                    sys.stdout.buffer.flush()
                except TranscriptError as exc:
                    fail(str(exc))
            else:
                with replacing(target) as partial, open(partial, "wb") as stream:  # never half a file
                    try:
                        made_up = write_as(transcript, stream, out_format)
                    except TranscriptError as exc:
                        fail(str(exc).replace(str(partial), target))
    except OutputFileError as exc:
        fail(str(exc))
    click.echo(f"wrote {'standard output' if to_stdout else target} ({out_format} format, "
               f"from {transcript.meta.source_format})", err=True)
    losses = OUTPUTS[out_format][1]
    if losses:
        click.echo(f"note: {out_format} does not keep {losses}", err=True)
    for line in made_up[:_MADE_UP_SHOWN]:
        click.echo(f"note: {line}", err=True)
    if len(made_up) > _MADE_UP_SHOWN:
        click.echo(f"note: ... and {len(made_up) - _MADE_UP_SHOWN} more", err=True)


#: How many of the writer's notes (an address made up, a connection's lost bytes) convert lists.
_MADE_UP_SHOWN = 10


# The proxy's limits: a person typing in `h11dbg connect` through the proxy may pause for minutes;
# each connection costs a thread and two file descriptors.
IDLE_TIMEOUT = 300.0
MAX_CONNECTIONS = 1000


@click.command()
@click.option("--listen", required=True, metavar="HOST:PORT",
              help="Where clients connect (PORT 0 picks a free port and prints it).")
@click.option("--upstream", required=True, metavar="HOST:PORT", help="The real server.")
@click.option("-o", "--output", required=True, metavar="FILE", help="The transcript to write.")
@force_option
@click.option("--description", metavar="TEXT", help="What the recording shows (kept in the metadata).")
@click.option("--idle-timeout", type=Seconds(zero=True), default=IDLE_TIMEOUT, show_default=True, metavar="S",
              help="Reset a connection on which neither side sent anything for S seconds (0: never).")
@click.option("--max-connections", type=click.IntRange(min=1), default=MAX_CONNECTIONS, show_default=True,
              metavar="N", help="Refuse (reset) a connection while N are open.")
@tls_option("Clients speak TLS to the proxy (as to listen --tls); the plaintext is recorded.")
@cert_option
@key_option
@click.option("--upstream-tls", is_flag=True, help="Speak TLS to the upstream (as connect --tls does).")
@server_check_options("--upstream-tls")
def record(listen: str, upstream: str, output: str, force: bool, description: str | None, idle_timeout: float,
           max_connections: int, tls: bool, cert: str | None, key: str | None, upstream_tls: bool,
           cafile: str | None, insecure: bool, sni: str | None) -> None:
    """Record real traffic: a proxy between real clients and a real server that forwards every byte
    unchanged and writes each read to FILE as it happens (Ctrl-C or SIGTERM stop it; the file is
    valid up to the last chunk).  With --tls and/or --upstream-tls the proxy ends TLS on that side
    and records the plaintext between."""
    import signal
    import ssl

    from h11dbg.transcript.files import OutputFileError, create_new, recording_meta, refuse_existing
    from h11dbg.transcript.textformat import TextWriter
    from h11dbg.transport import address
    from h11dbg.transport.proxy import RecordingProxy

    if (cert or key) and not tls:
        fail("--cert and --key only make sense with --tls")
    if (cafile or insecure or sni) and not upstream_tls:
        fail("--cafile, --insecure and --sni only make sense with --upstream-tls")
    try:
        listen_address = address.parse_listen_address(listen)
        upstream_address = address.parse_connect_address(upstream, 443 if upstream_tls else 80)
    except address.AddressError as exc:
        fail(str(exc))
    upstream_context = None
    if upstream_tls:
        from h11dbg.transport.tls import client_context

        try:
            upstream_context = client_context(cafile, insecure)
        except (OSError, ssl.SSLError) as exc:
            fail(f"cannot load the CA file {cafile}: {exc}")
    if not force:
        try:
            refuse_existing(output)  # before listening, so nothing starts in vain
        except OutputFileError as exc:
            fail(str(exc))

    def log(line: str) -> None:
        click.echo(line, err=True)

    writer: TextWriter | None = None  # the header names the port, known once listening

    def save(item: Record) -> None:
        if writer is not None:
            writer.write(item)

    client_tls = load_server_tls(listen_address[0], cert, key) if tls else None
    try:
        proxy = RecordingProxy(listen_address, upstream_address, save, log=log, idle_timeout=idle_timeout,
                               max_connections=max_connections, client_tls=client_tls,
                               upstream_tls=upstream_context, upstream_sni=sni)
    except OSError as exc:
        if client_tls is not None:
            client_tls.close()
        fail(f"cannot listen on {listen}: {exc.strerror or exc}", ExitCode.NETWORK)
    try:
        # opened only once listening works, so a failed start leaves an earlier file alone
        stream = create_new(output, force)
    except OutputFileError as exc:
        proxy.stop()
        if client_tls is not None:
            client_tls.close()
        fail(str(exc))
    try:
        listening = address.format_address(*proxy.address)
        upstream_name = address.format_address(*upstream_address)
        meta = recording_meta("record", peers=f"{listening} -> {upstream_name}", description=description)
        ends = [f"clients -> proxy (certificate SHA-256 {client_tls.info.certificate.sha256})"
                if client_tls is not None and client_tls.info.certificate else "",
                "proxy -> upstream" if upstream_tls else ""]
        if any(ends):
            meta.extra["tls"] = f"{', '.join(e for e in ends if e)}; the chunks are the plaintext inside TLS"
        writer = TextWriter(stream, meta, flush=True)

        def interrupt(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, interrupt)
        log(f"recording {listening} -> {upstream_name} into {output} (Ctrl-C to stop)")
        if client_tls is not None:
            from h11dbg.session.tls import serving_note

            log(serving_note(client_tls.info, listening))
        try:
            proxy.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            proxy.stop()
    finally:
        stream.close()
        if client_tls is not None:
            client_tls.close()
    limits = [f"{proxy.refused} refused at --max-connections {max_connections}" if proxy.refused else "",
              f"{proxy.idle} reset after --idle-timeout {idle_timeout:g}" if proxy.idle else ""]
    log(f"stopped; {output} is complete" + "".join(f"; {text}" for text in limits if text))


COMMANDS: list[click.Command] = [replay, diff, convert, record]
