"""The prompt machinery every interactive front end shares: a prompt_toolkit PromptSession put
together from a completer, a toolbar, a prompt and a history file, and the loop that reads it.

The live REPL (:mod:`h11dbg.ui.repl`) and ``replay --step`` (:mod:`h11dbg.ui.step_prompt`) differ
only in what they pass in here, so Tab, history, the toolbar and Ctrl-C/Ctrl-D behave alike in both.
Importing this module imports prompt_toolkit: only a front end that is at a terminal should.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import Completer
from prompt_toolkit.formatted_text import AnyFormattedText, FormattedText
from prompt_toolkit.history import FileHistory, History, InMemoryHistory

HISTORY = "history"  # the live REPL's file name, kept from before there were two front ends
REPLAY_HISTORY = "replay-history"  # ``replay --step``: its commands have nothing to do with the live ones


def history_path(name: str = HISTORY) -> Path:
    """Where a front end keeps its history: the user's data directory (created on first use)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("h11dbg")) / name


def file_history(name: str, warn: Callable[[str], None]) -> History:
    """The history file ``name``, or this run's history in memory when it cannot be written."""
    path = history_path(name)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
    except OSError as exc:
        # a read-only home must not stop the debugger: keep this run's history in memory
        warn(f"note: history not saved ({path}: {exc.strerror or exc})")
        return InMemoryHistory()
    return FileHistory(os.fspath(path))


def build_prompt(
    *,
    completer: Completer,
    toolbar: Callable[[], AnyFormattedText],
    message: Callable[[], AnyFormattedText],
    history: History,
    refresh_interval: float = 0.0,
) -> PromptSession[str]:
    """One front end's PromptSession.  ``toolbar`` and ``message`` are called at every redraw, so
    they show the state at the moment the prompt is on screen."""
    return PromptSession(
        message=message,
        history=history,
        completer=completer,
        # Tab completes; popping up a menu at every keystroke would hide the output above
        complete_while_typing=False,
        refresh_interval=refresh_interval,
        bottom_toolbar=toolbar,
    )


def toolbar_fields(fields: Iterable[tuple[str, object, str]]) -> FormattedText:
    """A bottom toolbar of ``label value`` fields two spaces apart (a field without a label is its
    value alone); each value in its style (bold when the style is "")."""
    parts: list[tuple[str, str]] = []
    for label, value, style in fields:
        if parts:
            parts.append(("", "  "))
        if label:
            parts.append(("", f"{label} "))
        parts.append((style or "bold", str(value)))
    return FormattedText(parts)


def fields_width(fields: Iterable[tuple[str, object, str]]) -> int:
    """How many columns :func:`toolbar_fields` takes for ``fields``."""
    widths = [len(label) + bool(label) + len(str(value)) for label, value, _ in fields]
    return sum(widths) + 2 * max(len(widths) - 1, 0)


def state_style(state: str) -> str:
    """A machine state's style: ERROR stands out, the rest are plain bold."""
    return "bold fg:ansired" if state == "ERROR" else ""


def prompt_lines(session: PromptSession[str], pre_run: Callable[[], None] | None = None) -> Iterator[str]:
    """The lines typed at ``session`` until Ctrl-D.  Ctrl-C abandons the line being typed, not the
    front end, as it does in a shell.  ``pre_run`` is called in the prompt's event loop as each
    prompt starts (to watch a socket while the user types)."""
    while True:
        try:
            yield session.prompt(pre_run=pre_run)
        except KeyboardInterrupt:
            continue
        except EOFError:
            return
