"""Batch mode: run commands from a script or a pipe, print each log entry, exit with a status.

A run ends by itself: ``connect`` and ``loopback`` after the last command; ``listen`` once the
one connection the script served has closed (the peer's EOF, or the session timeout after the
last command).  Exit status (h11dbg.ui.exits.ExitCode): 0 no protocol error, 1 a protocol error
was logged, 2 a usage/input error in the script (reported as ``FILE:LINE: message``; the run
stops there), 3 a network failure, a read that timed out, a request the server closed the connection
on instead of answering, or one that could not be sent because the peer had closed the connection.

While it waits for the next line of a pipe, the run watches the connection (Session.poll), so a
peer closing it between messages is shown when it happens.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TextIO

from h11dbg.output.describe import hexdump_said
from h11dbg.output.jsonl import entry_line
from h11dbg.output.text import render_entry, result_lines
from h11dbg.session.commands import execute, moves_a_state
from h11dbg.session.core import Session
from h11dbg.transport import NetworkError
from h11dbg.ui.exits import ExitCode
from h11dbg.ui.exporting import exported


def not_utf8(source: str, number: int, exc: UnicodeDecodeError) -> str:
    """Where a script stops being text: ``FILE:LINE: ...``, the byte escaped."""
    return f"{source}:{number}: not UTF-8 text (byte {exc.start} of the line is \\x{exc.object[exc.start]:02x})"


# How often a batch run waiting for its next piped line looks at the connection: a close is seen
# this soon, and its time is exact (poll returns as soon as the socket is readable).
WATCH_INTERVAL = 0.1


def _watching(session: Session, lines: Iterable[str], printer: _Printer) -> Iterator[str]:
    """``lines``, noticing what the peer does while the next line is awaited (a pipe fed slowly:
    a server closing the idle connection is said when it happens, not at the next command).  A
    script file's lines are all there, so they only get a look before each."""
    if isinstance(lines, (list, tuple)):
        for line in lines:
            session.poll()
            printer.flush()
            yield line
        return
    arrived: queue.Queue[tuple[str, BaseException | None] | None] = queue.Queue()

    def read() -> None:
        try:
            for line in lines:
                arrived.put((line, None))
        except BaseException as exc:  # noqa: BLE001  (a line that is not UTF-8: raised where it is read)
            arrived.put(("", exc))
        arrived.put(None)

    threading.Thread(target=read, name="h11dbg-script", daemon=True).start()
    while True:
        try:
            item = arrived.get_nowait()
        except queue.Empty:
            if session.watch_fileno() is None:
                item = arrived.get()
            else:
                session.poll(WATCH_INTERVAL)
                printer.flush()
                continue
        if item is None:
            return
        line, error = item
        if error is not None:
            raise error
        yield line


class _Printer:
    """Prints the session log as it grows, each entry once."""

    def __init__(self, session: Session, out: TextIO, as_json: bool) -> None:
        self.session = session
        self.out = out
        self.as_json = as_json
        self.printed = 0
        self.hexdump = False  # `hex on`: each entry's bytes as a hex dump too (JSON: a "hex" field)

    def flush(self) -> None:
        log = self.session.log
        while self.printed < len(log):
            entry = log[self.printed]
            self.printed += 1
            if self.as_json:
                print(entry_line(entry, hexdump=self.hexdump), file=self.out)
            else:
                for line in render_entry(entry, hexdump=self.hexdump):
                    print(line, file=self.out)
        self.out.flush()

    def text(self, lines: list[str]) -> None:
        # states/explain/help output is for people; in JSON mode it would break the line format
        if not self.as_json:
            for line in lines:
                print(line, file=self.out)
            self.out.flush()


def _network_line(session: Session, text: str) -> str:
    """The one stderr line of a run that ends in a network failure: with the session's plain-vs-TLS
    note when it made one, since that is the cause (and gives the command that works)."""
    return f"h11dbg: {text}" + (f"; {session.tls_hint}" if session.tls_hint else "")


def run_batch(
    session: Session,
    lines: Iterable[str],
    *,
    source: str,
    as_json: bool,
    out: TextIO,
    err: TextIO,
    accept_timeout: float | None = None,
    diagram: bool = False,
) -> ExitCode:
    """Execute ``lines`` against ``session`` and close it; returns the exit status."""
    printer = _Printer(session, out, as_json)
    status = ExitCode.OK
    try:
        printer.flush()
        if session.mode == "listen":
            session.accept(accept_timeout, said=printer.flush)  # a failed handshake is said when it happens
            printer.flush()
        numbered = enumerate(_watching(session, lines, printer), start=1)
        number = 0
        while True:
            try:
                number, line = next(numbered)
            except StopIteration:
                break
            except UnicodeDecodeError as exc:
                # a pipe of bytes that are not UTF-8: say where, never a traceback
                print(not_utf8(source, number + 1, exc), file=err)
                status = ExitCode.USAGE
                break
            result = exported(session, execute(session, line))
            printer.flush()
            printer.text(result_lines(result, hexdump=printer.hexdump))
            if result.hexdump is not None:
                printer.hexdump = result.hexdump_after(printer.hexdump)
                printer.text([hexdump_said(printer.hexdump)])
            if diagram and moves_a_state(result):
                printer.text(result_lines(execute(session, "diagram")))
            if result.error_kind == "network":
                print(_network_line(session, str(result.error)), file=err)
                return ExitCode.NETWORK
            if result.error:
                print(f"{source}:{number}: {result.error}", file=err)
                status = ExitCode.USAGE
                break
            if result.quit:
                break
        if session.mode == "listen" and status == ExitCode.OK and session.connected:
            session.wait_closed()
            printer.flush()
    except NetworkError as exc:
        printer.flush()
        print(_network_line(session, f"network error: {exc}"), file=err)
        return ExitCode.NETWORK
    finally:
        session.close()
    if status != ExitCode.OK:
        return status
    if session.timeouts:
        reads = "a read" if session.timeouts == 1 else f"{session.timeouts} reads"
        print(_network_line(session, f"network error: {reads} timed out waiting for the peer"), file=err)
        return ExitCode.NETWORK
    if any(entry.kind == "error" for entry in session.log):
        return ExitCode.PROTOCOL_ERROR
    if any(entry.closed is not None and entry.closed.situation == "unanswered" for entry in session.log):
        # a request got no response: not a protocol error (the keep-alive race), but not done either
        print(_network_line(session, "network error: the server closed the connection without answering"), file=err)
        return ExitCode.NETWORK
    return ExitCode.OK
