"""Transcript commands: record, replay, diff, convert (the transcripts issue)."""

from __future__ import annotations

import gc
import sys
from typing import IO, Any

import click

from h11dbg.cli import EXIT_NETWORK, EXIT_OK, EXIT_PROTOCOL_ERROR, EXIT_USAGE

_ENGINES = click.Choice(["h11dbg", "h11"])
_FORMAT_HELP = ("Force the input format instead of detecting it by content: h11dbg, pcap, pcapng, "
                "curl-trace, curl-trace-ascii or har.")


def _fail(message: str, code: int = EXIT_USAGE) -> None:
    click.echo(f"h11dbg: {message}", err=True)
    sys.exit(code)


class _Quietly:
    """Ends a streaming command without a traceback when the reader goes away (``| head``) or the
    user presses Ctrl-C."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, value: Any, traceback: Any) -> None:
        if kind is BrokenPipeError:
            import os

            # stdout is gone: point it at /dev/null so the final flush at exit cannot fail again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_OK)
        if kind is KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


def _load_engine(name: str) -> Any:
    from h11dbg.engines import EngineUnavailable, load_engine

    try:
        engine = load_engine(name)
    except EngineUnavailable as exc:
        _fail(str(exc))
    if not hasattr(engine, "Connection"):  # a package still being written has no Connection yet
        _fail(f"engine {name!r} is not usable yet (no Connection); try --engine h11")
    return engine


def _open(path: str, format_name: str | None, port: int | None, *, prefetch: bool = False,
          segments: bool = False) -> Any:
    """The transcript at ``path``; with ``prefetch``, a large one is read by a second process while
    this one replays (h11dbg.transcript.prefetch)."""
    from h11dbg.transcript import TranscriptError, open_transcript

    try:
        transcript = open_transcript(path, format_name, segments=segments)
    except TranscriptError as exc:
        _fail(str(exc))
    if port is not None:
        transcript.records = _only_port(transcript.records, port)
    if prefetch:
        from h11dbg.transcript.prefetch import prefetch as read_ahead

        transcript = read_ahead(transcript, path)
    return transcript


def _only_port(records: Any, port: int) -> Any:
    # A connection belongs to the port its server peer listens on; one without an open record is kept.
    from h11dbg.transcript import Open

    dropped: set[int] = set()
    for record in records:
        if isinstance(record, Open):
            server = record.server or ""
            if server.rpartition(":")[2] != str(port):
                dropped.add(record.conn)
                continue
            dropped.discard(record.conn)
        if record.conn not in dropped:
            yield record


def _note(source_format: str, why: str) -> str:
    return f"note: {source_format} input is lossy: {why}"


def _lossy_json(source_format: str, why: str) -> str:
    from h11dbg.session import jsonl

    return jsonl.dumps({"conn": None, "event": "lossy", "source_format": source_format, "lossy": why})


def _lossy_summary(transcript: Any) -> str:
    """What the stderr summary adds for a lossy input (the notes themselves are in the output)."""
    found = len(transcript.notes or ())
    if found:
        return f"; {transcript.meta.source_format} input is lossy ({found} note(s) above)"
    if transcript.meta.lossy:
        return f"; {transcript.meta.source_format} input is lossy (see the note above)"
    return ""


_SEGMENTS = click.option(
    "--segments", is_flag=True,
    help="pcap/pcapng: one chunk per TCP segment, not per write (the senders' writes are rebuilt "
         "from the PSH flags by default).")


@click.command()
@click.argument("file")
@click.option("--format", "format_name", metavar="F", help=_FORMAT_HELP)
@click.option("--port", type=int, metavar="P", help="Only replay connections to server port P.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines (the shared schema, docs/json.md).")
@click.option("--engine", "engine_name", type=_ENGINES, default="h11dbg", show_default=True)
@click.option("--step", is_flag=True, help="Walk the replay interactively (also with piped stdin).")
@click.option("--no-headers", is_flag=True, help="Do not list each message's headers.")
@_SEGMENTS
def replay(
    file: str, format_name: str | None, port: int | None, as_json: bool, engine_name: str, step: bool,
    no_headers: bool, segments: bool,
) -> None:
    """Replay FILE through both state machines of every connection.

    Client-to-server bytes go into a SERVER connection and server-to-client bytes into a CLIENT
    connection, chunk by chunk, each side's events mirrored into the other.  FILE may be an h11dbg
    transcript, pcap/pcapng, curl --trace/--trace-ascii output or HAR (detected by content).
    Exit status: 0 every connection parsed cleanly, 1 a protocol error was found, 2 unreadable input.
    """
    from h11dbg.session.replay import Replayer, Stepper, json_line, render_text
    from h11dbg.transcript import TranscriptError
    from h11dbg.transcript.prefetch import worth_it

    engine = _load_engine(engine_name)
    # A large input replays on two CPUs: a worker process reads it and replays part of the
    # connections (h11dbg.session.parallel; the same output).  Stepping stays in one process.
    split = not step and worth_it(file)
    transcript = _open(file, format_name, port, prefetch=not split, segments=segments)
    out = sys.stdout
    source_format = transcript.meta.source_format

    def lossy_text(why: str) -> str:
        return (_lossy_json(source_format, why) if as_json else _note(source_format, why)) + "\n"

    def say_lossy(why: str) -> None:
        out.write(lossy_text(why))

    if transcript.meta.lossy:  # bytes rebuilt from a HAR or a --trace-ascii dump: said before any event
        say_lossy(transcript.meta.lossy)
    replayer = Replayer(engine)
    notes = transcript.notes  # a capture's losses, each said where reading found it

    def steps() -> Any:
        if notes is None:
            for record in transcript:
                yield from replayer.feed(record)
        else:
            seen = 0
            for record in transcript:
                if len(notes) != seen:  # found while reading up to this record: before its events
                    for why in notes[seen:]:
                        say_lossy(why)
                    seen = len(notes)
                yield from replayer.feed(record)
            for why in notes[seen:]:  # holes still open at the end of the capture
                say_lossy(why)
        yield from replayer.finish()

    def rendered(step_: Any) -> str:
        if as_json:
            return json_line(step_) + "\n"
        return "\n".join(render_text(step_, headers=not no_headers)) + "\n"

    def emit(step_: Any) -> None:
        out.write(rendered(step_))

    counts: Any = replayer
    # Everything imported and opened so far lives until the command ends: out of the collector's
    # way, a replay's many short-lived events cost less to collect (and a forked worker shares them).
    gc.freeze()
    try:
        with _Quietly():
            if step:
                _step_loop(Stepper(steps(), engine), emit, out)
            else:
                if split:
                    from h11dbg.forked import CannotFork
                    from h11dbg.session.parallel import replay_split

                    try:
                        counts = replay_split(transcript.records, file, transcript.notes, transcript.meta,
                                              engine, rendered, lossy_text, out.write)
                    except CannotFork:  # no second process to be had: all of it here
                        split = False
                if not split:
                    for item in steps():
                        emit(item)
            out.flush()
    except TranscriptError as exc:
        out.flush()
        _fail(str(exc))
    out.flush()
    if not as_json:
        click.echo(
            f"{counts.connections} connection(s), "
            + (f"{counts.errors} with a protocol error" if counts.errors else "all parsed cleanly")
            + _lossy_summary(transcript),
            err=True,
        )
    sys.exit(EXIT_PROTOCOL_ERROR if counts.errors else EXIT_OK)


def _step_loop(stepper: Any, emit: Any, out: IO[str]) -> None:
    from h11dbg.session.replay import STEP_HELP

    def say(lines: Any) -> None:
        out.write("".join(f"{line}\n" for line in lines))
        out.flush()

    say(["stepping: type help for the commands, next (or Enter) to go on"])
    while not stepper.finished:
        out.flush()
        try:
            line = input("replay> ")
        except EOFError:  # piped input ran out: finish the replay without stopping
            for item in stepper.run(ignore_breakpoints=True):
                emit(item)
            break
        words = line.split()
        command, args = (words[0].lower(), words[1:]) if words else ("next", [])
        if command in ("n", "next"):
            count = int(args[0]) if args and args[0].isdigit() else 1
            for _ in range(count):
                item = stepper.next()
                if item is None:
                    break
                emit(item)
        elif command in ("c", "continue"):
            for item in stepper.run():
                emit(item)
        elif command in ("b", "break") and args:
            stepper.breakpoints.update(a.lower() for a in args)
            say([f"breakpoints: {', '.join(sorted(stepper.breakpoints))}"])
        elif command in ("d", "delete") and args:
            if args[0].lower() == "all":
                stepper.breakpoints.clear()
            else:
                stepper.breakpoints.difference_update(a.lower() for a in args)
            say([f"breakpoints: {', '.join(sorted(stepper.breakpoints)) or '(none)'}"])
        elif command == "breaks":
            say([f"breakpoints: {', '.join(sorted(stepper.breakpoints)) or '(none)'}"])
        elif command in ("e", "explain"):
            say(stepper.explain())
        elif command in ("q", "quit", "exit"):
            return
        elif command in ("h", "help", "?"):
            say(STEP_HELP)
        else:
            say([f"unknown command {line.strip()!r}: type help"])
    if stepper.finished:
        say(["end of transcript"])


@click.command()
@click.argument("file")
@click.option("--format", "format_name", metavar="F", help=_FORMAT_HELP)
@click.option("--port", type=int, metavar="P", help="Only compare connections to server port P.")
@click.option("--json", "as_json", is_flag=True, help="One JSON line per connection.")
@click.option("--engines", default="h11dbg,h11", show_default=True, metavar="A,B",
              help="The two engines to compare.")
@_SEGMENTS
def diff(file: str, format_name: str | None, port: int | None, as_json: bool, engines: str, segments: bool) -> None:
    """Replay FILE through two engines (h11dbg.protocol and h11) and show, per connection, the
    first step where they differ: an event, a state or an error.  Exit 0 identical, 1 different."""
    from h11dbg.session import jsonl
    from h11dbg.session.replay import EngineDiff, json_record, render_text
    from h11dbg.transcript import TranscriptError

    names = [name.strip() for name in engines.split(",")]
    if len(names) != 2 or any(name not in ("h11dbg", "h11") for name in names):
        _fail(f"--engines takes two of h11dbg,h11 separated by a comma (got {engines!r})")
    first, second = (_load_engine(name) for name in names)
    transcript = _open(file, format_name, port, prefetch=True, segments=segments)
    comparison = EngineDiff(first, second)
    out = sys.stdout

    def show(differences: Any) -> None:
        for found in differences:
            if as_json:
                record = {"conn": found.conn, "event": "diff", "index": found.index}
                for name, step_ in zip(names, (found.first, found.second), strict=True):
                    record[name] = json_record(step_) if step_ is not None else None
                out.write(jsonl.dumps(record) + "\n")
                continue
            out.write(f"connection {found.conn}: the engines differ at step {found.index + 1}\n")
            width = max(len(name) for name in names)
            for name, step_ in zip(names, (found.first, found.second), strict=True):
                text = render_text(step_, headers=False) if step_ is not None else ["(no further step)"]
                out.write(f"  {name:<{width}}  {text[0].strip()}\n")
                out.writelines(f"  {'':<{width}}  {line.strip()}\n" for line in text[1:])

    try:
        with _Quietly():
            for record in transcript:
                show(comparison.feed(record))
            show(comparison.finish())
            out.flush()
    except TranscriptError as exc:
        out.flush()
        _fail(str(exc))
    for conn, steps in sorted(comparison.identical.items()):
        if as_json:
            out.write(jsonl.dumps({"conn": conn, "event": "same", "steps": steps}) + "\n")
        else:
            out.write(f"connection {conn}: identical ({steps} steps)\n")
    out.flush()
    differing = len(comparison.differences)
    if not as_json:
        for why in transcript.notes or ([transcript.meta.lossy] if transcript.meta.lossy else []):
            click.echo(_note(transcript.meta.source_format, why), err=True)
        click.echo(f"{differing} connection(s) differ, {len(comparison.identical)} identical", err=True)
    sys.exit(EXIT_PROTOCOL_ERROR if differing else EXIT_OK)


@click.command()
@click.argument("source", metavar="IN")
@click.argument("target", metavar="OUT")
@click.option("--format", "format_name", metavar="F", help=_FORMAT_HELP)
@click.option("--to", "to_format", default="h11dbg", show_default=True, metavar="F",
              help="The output format.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@_SEGMENTS
def convert(source: str, target: str, format_name: str | None, to_format: str, force: bool, segments: bool) -> None:
    """Convert the transcript IN (any readable format) into OUT (h11dbg's text format by default)."""
    import os
    from pathlib import Path

    from h11dbg import __version__
    from h11dbg.transcript import TranscriptError, write_transcript

    out_path = Path(target)
    if out_path.exists() and not force:
        _fail(f"{target}: exists already; refusing to overwrite it (use --force)")
    transcript = _open(source, format_name, None, segments=segments)
    transcript.meta.extra.setdefault("converted_by", f"h11dbg convert {__version__}")
    # Write beside the target and move it into place, so a bad input never leaves half a file.
    partial = out_path.with_name(f".{out_path.name}.partial-{os.getpid()}")
    try:
        # the file header carries Meta.lossy: a capture is read once beforehand to find its losses
        transcript.complete_meta()
        write_transcript(transcript, partial, format=to_format, overwrite=True)
        os.replace(partial, out_path)
    except TranscriptError as exc:
        _fail(str(exc).replace(str(partial), target))
    except OSError as exc:
        _fail(f"{target}: cannot write: {exc.strerror or exc}")
    finally:
        if partial.exists():
            partial.unlink()
    click.echo(f"wrote {target} ({to_format} format, from {transcript.meta.source_format})", err=True)


@click.command()
@click.option("--listen", required=True, metavar="HOST:PORT",
              help="Where clients connect (PORT 0 picks a free port and prints it).")
@click.option("--upstream", required=True, metavar="HOST:PORT", help="The real server.")
@click.option("-o", "--output", required=True, metavar="FILE", help="The transcript to write.")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@click.option("--description", metavar="TEXT", help="What the recording shows (kept in the metadata).")
def record(listen: str, upstream: str, output: str, force: bool, description: str | None) -> None:
    """Record real traffic: a proxy between real clients and a real server that forwards every byte
    unchanged and writes each read to FILE as it happens (Ctrl-C or SIGTERM stop it; the file is
    valid up to the last chunk)."""
    import datetime
    import signal
    from pathlib import Path

    from h11dbg import __version__
    from h11dbg.transcript.model import Meta
    from h11dbg.transcript.textformat import TextWriter
    from h11dbg.transport import address
    from h11dbg.transport.proxy import RecordingProxy

    try:
        listen_address = address.parse_listen_address(listen)
        upstream_address = address.parse_connect_address(upstream, 80)
    except address.AddressError as exc:
        _fail(str(exc))
    path = Path(output)
    if path.exists() and not force:  # checked before listening, so nothing starts in vain
        _fail(f"{output}: exists already; refusing to overwrite it (use --force)")

    def log(line: str) -> None:
        click.echo(line, err=True)

    writer: TextWriter | None = None  # the header names the port, known once listening

    def save(item: Any) -> None:
        if writer is not None:
            writer.write(item)

    try:
        proxy = RecordingProxy(listen_address, upstream_address, save, log=log)
    except OSError as exc:
        _fail(f"cannot listen on {listen}: {exc.strerror or exc}", EXIT_NETWORK)
    try:
        # Opened only once listening works, so a failed start leaves an earlier file alone; "x"
        # creates the file only if it is new (a recording is never replaced by accident).
        stream = open(path, "wb" if force else "xb")  # noqa: SIM115  (closed in the finally below)
    except FileExistsError:
        proxy.stop()
        _fail(f"{output}: exists already; refusing to overwrite it (use --force)")
    except OSError as exc:
        proxy.stop()
        _fail(f"{output}: cannot write: {exc.strerror or exc}")
    try:
        listening = address.format_address(*proxy.address)
        upstream_name = address.format_address(*upstream_address)
        meta = Meta(
            tool=f"h11dbg record {__version__}",
            peers=f"{listening} -> {upstream_name}",
            recorded_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            description=description,
        )
        writer = TextWriter(stream, meta, flush=True)

        def interrupt(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, interrupt)
        log(f"recording {listening} -> {upstream_name} into {output} (Ctrl-C to stop)")
        try:
            proxy.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            proxy.stop()
    finally:
        stream.close()
    log(f"stopped; {output} is complete")


COMMANDS: list[click.Command] = [replay, diff, convert, record]
