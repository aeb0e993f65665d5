"""The interactive debugger: a prompt_toolkit REPL over :func:`h11dbg.session.commands.execute`.

Keystrokes become command lines, command lines go to the session layer, and what comes back (log
entries, output lines, an error) is drawn by :mod:`h11dbg.output.rich`.  Nothing here decides anything
about HTTP: the REPL only adds completion, history, the prompt and the toolbar.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from prompt_toolkit import PromptSession
from prompt_toolkit.application import get_app, run_in_terminal
from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import History
from rich.console import Console
from rich.text import Text

from h11dbg.output.describe import hexdump_said
from h11dbg.output.ladder import arrow_width
from h11dbg.output.rich import diagram, error_line, ladder, render_entries, render_entry
from h11dbg.output.text import explanation_lines, help_lines
from h11dbg.session import commands
from h11dbg.session.commands import moves_a_state
from h11dbg.session.hints import legal_commands, suggestions
from h11dbg.transport import NetworkError
from h11dbg.ui.completion import complete_from, words_at_cursor
from h11dbg.ui.exits import ExitCode
from h11dbg.ui.exporting import exported
from h11dbg.ui.prompt import (
    HISTORY,
    build_prompt,
    fields_width,
    file_history,
    history_path,
    prompt_lines,
    state_style,
    toolbar_fields,
)

if TYPE_CHECKING:
    from h11dbg.session.commands import CommandResult
    from h11dbg.session.core import Session

__all__ = ["CommandCompleter", "Repl", "history_path", "prompt_text", "run_repl", "toolbar_text"]

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE")
HEADER_NAMES = (
    "Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Cache-Control", "Connection",
    "Content-Encoding", "Content-Length", "Content-Type", "Cookie", "Date", "ETag", "Expect", "Host",
    "If-Modified-Since", "If-None-Match", "Keep-Alive", "Last-Modified", "Location", "Range", "Referer",
    "Retry-After", "Server", "Set-Cookie", "TE", "Trailer", "Transfer-Encoding", "Upgrade", "User-Agent",
    "Vary", "WWW-Authenticate",
)  # fmt: skip
# header values worth offering after ``Name:``: the fields whose values are a known set
HEADER_VALUES = {
    "connection": ("close", "keep-alive", "Upgrade"),
    "content-type": ("text/plain", "text/html", "application/json", "application/x-www-form-urlencoded",
                     "multipart/form-data", "application/octet-stream", "text/css", "text/javascript",
                     "image/png"),
    "expect": ("100-continue",),
    "transfer-encoding": ("chunked",),
    "upgrade": ("websocket", "h2c"),
    "accept": ("*/*", "text/html", "application/json"),
    "accept-encoding": ("gzip", "deflate", "br", "identity"),
    "cache-control": ("no-cache", "no-store", "max-age=0"),
    "te": ("trailers",),
}
STATUS_CODES = tuple(status for status in HTTPStatus if status.value >= 100)
# commands whose first argument is a status code, and those whose words after it are headers
_STATUS_COMMANDS = {"response": 1, "info": 1}
_HEADER_COMMANDS = {"request": 2, "response": 1, "info": 1, "eom": 0}


def _command_infos(session: Session | None = None) -> list[tuple[str, str]]:
    """Command names and what each does; with a session, only those that make sense now (the
    suggested ones first, with the reason they are suggested)."""
    if session is None:
        infos = [(name, info.help) for name, info in commands.COMMANDS.items()]
    else:
        reasons = {s.command.split()[0]: s.reason for s in suggestions(session)}
        infos = [(name, reasons.get(name, commands.COMMANDS[name].help)) for name in legal_commands(session)]
    return infos


class CommandCompleter(Completer):
    """Completes command names (with a session: those that make sense in its state now), then what
    each command takes: methods, targets, status codes with their reasons, header names, the values
    of headers whose values are a known set, and the file after ``data @``.  ``targets`` are paths
    worth offering after a method (the demo passes its routes)."""

    def __init__(self, targets: Sequence[str] = (), session: Session | None = None) -> None:
        self.targets = tuple(targets)
        self.session = session
        self._paths = PathCompleter(expanduser=True)

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        done, current = words_at_cursor(document)
        if not done:
            infos = _command_infos(self.session)
            yield from complete_from([name for name, _ in infos], current, suffix=" ", meta=dict(infos))
            return
        command = commands.ALIASES.get(done[0], done[0])
        arguments = [w for w in done[1:] if not w.startswith("--")]
        position = len(arguments)
        if command == "request" and position == 0:
            yield from complete_from(METHODS, current, match=current.upper(), suffix=" ")
        elif command == "request" and position == 1:
            if self.targets:
                yield from complete_from(self.targets, current, suffix=" ")
            elif not current:
                yield Completion("/", 0, display_meta="the request target")
        elif command in ("data", "raw") and position == 0 and current.startswith("@"):
            # data/raw @FILE send a file's bytes: complete the path after the @
            inner = Document(current[1:], len(current) - 1)
            yield from self._paths.get_completions(inner, complete_event)
        elif command == "save" and position == 0:
            # save [--force] FILE: complete the file name (a transcript to write)
            yield from self._paths.get_completions(Document(current, len(current)), complete_event)
        elif command in _STATUS_COMMANDS and position == 0:
            wanted = [s for s in STATUS_CODES if (s.value < 200) == (command == "info")]
            for status in wanted:
                if str(status.value).startswith(current):
                    yield Completion(
                        f"{status.value} ",
                        -len(current),
                        display=str(status.value),
                        display_meta=status.phrase,
                    )
        elif command == "as" and position == 0:
            yield from complete_from(("client", "server"), current)
        elif command == "help" and position == 0:
            yield from complete_from([name for name, _ in _command_infos()], current)
        elif command == "hex" and position == 0:
            yield from complete_from(("on", "off"), current)
        elif (command in _HEADER_COMMANDS and position > _HEADER_COMMANDS[command]
              and done[-1].endswith(":") and done[-1][:-1].lower() in HEADER_VALUES):
            for value in HEADER_VALUES[done[-1][:-1].lower()]:
                if value.lower().startswith(current.lower()):
                    yield Completion(f"{value} ", -len(current), display=value)
        elif (command in _HEADER_COMMANDS and position >= _HEADER_COMMANDS[command] and ":" not in current
              and not (position > _HEADER_COMMANDS[command] and done[-1].endswith(":"))):
            # (right after ``Name:`` a value is due, not another name)
            # a header value may follow; only offer names at a word that can start a header
            for name in HEADER_NAMES:
                if name.lower().startswith(current.lower()):
                    yield Completion(f"{name}: ", -len(current), display=f"{name}:")


def prompt_text(session: Session) -> FormattedText:
    """``client IDLE/IDLE> ``, or ``loopback:server ...`` so you always know which side you act as."""
    bar = session.toolbar()
    role = str(bar.get("role", "?"))
    label = f"loopback:{role}" if session.mode == "loopback" else role
    colour = "ansicyan" if role == "client" else "ansimagenta"
    return FormattedText(
        [
            (f"bold {colour}", label),
            ("", " "),
            ("ansigray", f"{bar.get('our_state', '-')}/{bar.get('their_state', '-')}"),
            ("bold", "> "),
        ]
    )


Field = tuple[str, object, str]


def _without(label: str) -> Callable[[list[Field]], list[Field]]:
    return lambda fields: [f for f in fields if f[0] != label]


def _relabel(old: str, new: str, value: Callable[[str], str] = str) -> Callable[[list[Field]], list[Field]]:
    return lambda fields: [(new, value(str(v)), s) if label == old else (label, v, s) for label, v, s in fields]


def _middle_cut(text: str, keep: int = 12) -> str:
    return text if len(text) <= keep else text[: keep // 2 - 1] + "…" + text[-(keep - keep // 2):]


_SHORT_STATES = {"SEND_RESPONSE": "SEND_RESP", "MIGHT_SWITCH_PROTOCOL": "MIGHT_SWITCH",
                 "SWITCHED_PROTOCOL": "SWITCHED"}


def _states_joined(fields: list[Field]) -> list[Field]:
    """``us X  them Y`` -> ``X/Y`` (in the first one's place, ERROR's style kept)."""
    values = {label: (v, s) for label, v, s in fields}
    if "us" not in values or "them" not in values:
        return fields
    (ours, style), (theirs, their_style) = values["us"], values["them"]
    joined: Field = ("", f"{ours}/{theirs}", style or their_style)
    return [joined if label == "us" else (label, v, s) for label, v, s in fields if label != "them"]


# What the toolbar gives up, in this order, until it fits the terminal (docs/cli.md lists it):
# the engine, the clock, the recording's directories, "buffered N B" -> "buf N", the peer's
# address cut in the middle, "as ROLE" -> "ROLE", ours/theirs -> us/them, the peer, what is
# buffered, long state names shortened, both states as one "X/Y".
TOOLBAR_ABBREVIATIONS: tuple[Callable[[list[Field]], list[Field]], ...] = (
    _without("engine"),
    _without("t"),
    _relabel("rec", "rec", lambda path: os.path.basename(path) or path),
    _relabel("buffered", "buf", lambda value: value.removesuffix(" B")),
    _relabel("peer", "peer", _middle_cut),
    _relabel("as", ""),
    _relabel("theirs", "them"),
    _relabel("ours", "us"),
    _without("peer"),
    _without("buf"),
    lambda fields: [(label, _SHORT_STATES.get(str(v), v) if label in ("us", "them") else v, s)
                    for label, v, s in fields],
    _states_joined,
)


def toolbar_text(bar: Mapping[str, Any], width: int | None = None) -> FormattedText:
    """The bottom toolbar: who we are, the peer, both states, what is buffered, the engine, the clock;
    abbreviated (:data:`TOOLBAR_ABBREVIATIONS`, in order) until it fits ``width`` columns."""
    our, their = str(bar.get("our_state", "-")), str(bar.get("their_state", "-"))
    fields: list[Field] = [
        ("as", bar.get("role", "?"), ""),
        ("peer", bar.get("peer") or "-", ""),
        ("ours", our, state_style(our)),
        ("theirs", their, state_style(their)),
        ("buffered", f"{bar.get('buffered', 0)} B", ""),
        ("engine", bar.get("engine", "?"), ""),
        ("t", f"{float(bar.get('elapsed', 0.0)):.1f}s", ""),
    ]
    if bar.get("recording"):
        fields.append(("rec", bar["recording"], "bold fg:ansired"))
    for abbreviate in TOOLBAR_ABBREVIATIONS:
        if width is None or fields_width(fields) <= width:
            break
        fields = abbreviate(fields)
    return toolbar_fields(fields)


def _columns() -> int:
    from prompt_toolkit.application import get_app

    return get_app().output.get_size().columns


class Repl:
    """One interactive run: reads lines, executes them, renders what happened."""

    def __init__(
        self,
        session: Session,
        *,
        console: Console | None = None,
        history: History | None = None,
        targets: Sequence[str] = (),
        diagram: bool = False,
    ) -> None:
        self.session = session
        self.diagram = diagram
        self.console = console or Console(highlight=False)
        self.hexdump = False
        # what was logged before the prompt opened is the caller's to show (as the hint)
        self.printed = len(session.log)
        self.prompt: PromptSession[str] = build_prompt(
            completer=CommandCompleter(targets, session),
            toolbar=lambda: toolbar_text(self.session.toolbar(), _columns() - 1),  # the last column wraps
            message=lambda: prompt_text(self.session),
            history=history if history is not None else file_history(HISTORY, self._note),
            refresh_interval=1.0,  # the toolbar clock keeps ticking while you think
        )

    def _note(self, text: str) -> None:
        self.console.print(Text(text, style="dim"))

    def show_fresh(self) -> None:
        """What the log gained since it was last drawn."""
        log = self.session.log
        fresh = log[self.printed :]
        self.printed = len(log)
        for entry in fresh:
            self.console.print(render_entry(entry, hexdump=self.hexdump))

    def show(self, result: CommandResult) -> None:
        # draw what the log gained rather than result.entries: a command interrupted by Ctrl-C
        # returns no entries, but what it read before the interrupt is in the log and worth seeing
        self.show_fresh()
        if result.recap:
            self.console.print(render_entries(result.recap, hexdump=self.hexdump))
        if result.ladder is not None:
            self.console.print(ladder(result.ladder, width=arrow_width(self.console.width)))
        if result.diagram is not None:
            self.console.print(diagram(result.diagram, width=self.console.width))
        if result.explanation is not None:
            for line in explanation_lines(result.explanation):
                self.console.print(line, markup=False, highlight=False)
        if result.help is not None:
            for line in help_lines(result.help, width=self.console.width):
                self.console.print(line, markup=False, highlight=False, soft_wrap=True)
        for line in result.output:
            self.console.print(line, markup=False, highlight=False)
        if result.hexdump is not None:
            self.hexdump = result.hexdump_after(self.hexdump)
            self.console.print(hexdump_said(self.hexdump), highlight=False)
        if result.error:
            self.console.print(error_line(result.error))

    def watch_peer(self) -> None:
        """While the prompt waits, wait on the session's socket too: a peer closing the connection
        is shown (and the toolbar redrawn) when it happens, without a keypress."""
        fd = self.session.watch_fileno()
        if fd is None:
            return
        loop = asyncio.get_running_loop()

        def readable() -> None:
            loop.remove_reader(fd)  # before poll, which may close it
            self.session.poll()
            if len(self.session.log) > self.printed:
                run_in_terminal(self.show_fresh)
            get_app().invalidate()
            self.watch_peer()  # again, while there is still something to notice

        loop.add_reader(fd, readable)

    def execute(self, line: str) -> bool:
        """Run one line; False when the session should end."""
        try:
            result = exported(self.session, commands.execute(self.session, line))
        except NetworkError as exc:  # execute() reports these itself; this is a last guard
            self.console.print(error_line(f"network error: {exc}"))
            return True
        self.show(result)
        if self.diagram and moves_a_state(result):
            self.show(commands.execute(self.session, "diagram"))
        return not result.quit

    def run(self, hint: str | None = None) -> ExitCode:
        if hint:
            self.console.print(Text(hint, style="dim"))
        for line in prompt_lines(self.prompt, pre_run=self.watch_peer):  # until Ctrl-D; Ctrl-C: a new line
            if not self.execute(line):
                break
        return ExitCode.PROTOCOL_ERROR if _any_error(self.session) else ExitCode.OK


def _any_error(session: Session) -> bool:
    return any(entry.kind == "error" for entry in session.log)


def run_repl(
    session: Session,
    *,
    hint: str | None = None,
    console: Console | None = None,
    history: History | None = None,
    targets: Sequence[str] = (),
    diagram: bool = False,
) -> ExitCode:
    """Run the REPL until ``quit`` or Ctrl-D; the exit code is 1 if a protocol error happened, else 0.

    ``targets`` are request targets to offer on Tab after ``request METHOD``; with ``diagram`` the
    state machines are drawn after every command that moves a state."""
    return Repl(session, console=console, history=history, targets=targets, diagram=diagram).run(hint)
