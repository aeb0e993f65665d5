"""``replay --step`` at a terminal: the live REPL's prompt machinery (:mod:`h11dbg.ui.prompt`) around
the step interpreter (:class:`h11dbg.ui.step.StepCommands`): Tab completes the commands and the
breakpoint names, history is kept in its own file, and the toolbar and prompt show where the walk is.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable
from types import FrameType

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.formatted_text import FormattedText
from prompt_toolkit.history import History

from h11dbg.ui.completion import complete_from, words_at_cursor
from h11dbg.ui.prompt import (
    REPLAY_HISTORY,
    build_prompt,
    file_history,
    prompt_lines,
    state_style,
    toolbar_fields,
)
from h11dbg.ui.step import ALIASES, BREAKPOINT_NAMES, COMMANDS, StepCommands, breakpoint_name, interpret


class StepCompleter(Completer):
    """Completes the step commands, then breakpoint names: every name after ``break`` (matched
    without case, as breakpoints are), the ones that are set (and ``all``) after ``delete``."""

    def __init__(self, commands: StepCommands) -> None:
        self.commands = commands

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        done, current = words_at_cursor(document)
        if not done:
            meta = {name: command.summary for name, command in COMMANDS.items()}
            yield from complete_from(COMMANDS, current, match=current.lower(), suffix=" ", meta=meta)
            return
        command = ALIASES.get(done[0].lower())
        typed = {word.lower() for word in done[1:]}
        if command == "break":
            choices = [name for name in BREAKPOINT_NAMES if name.lower() not in typed]
        elif command == "delete" and "all" not in typed:
            breakpoints = sorted(self.commands.stepper.breakpoints - typed)
            choices = [breakpoint_name(name) for name in breakpoints] + ([] if done[1:] else ["all"])
        else:
            return
        for name in choices:
            if name.lower().startswith(current.lower()):
                yield Completion(name + " ", -len(current), display=name)


def step_prompt_text(commands: StepCommands) -> FormattedText:
    """``replay #1 DONE/SEND_BODY> ``: the connection of the last step and both machines' states
    after it (client first), or ``replay> `` before the first step."""
    step = commands.stepper.current
    if step is None:
        return FormattedText([("bold ansiyellow", "replay"), ("bold", "> ")])
    client, server = step.states.get("client", "-"), step.states.get("server", "-")
    return FormattedText([
        ("bold ansiyellow", "replay"),
        ("", " "),
        ("bold", f"#{step.conn}"),
        ("", " "),
        ("fg:ansired" if client == "ERROR" else "ansigray", client),
        ("ansigray", "/"),
        ("fg:ansired" if server == "ERROR" else "ansigray", server),
        ("bold", "> "),
    ])


def step_toolbar(commands: StepCommands) -> FormattedText:
    """The bottom toolbar: the connection, both states after the current step, how many steps were
    shown, the breakpoints, the engine."""
    stepper = commands.stepper
    step = stepper.current
    client = step.states.get("client", "-") if step is not None else "-"
    server = step.states.get("server", "-") if step is not None else "-"
    breaks = ",".join(breakpoint_name(name) for name in sorted(stepper.breakpoints)) or "(none)"
    return toolbar_fields([
        ("conn", f"#{step.conn}" if step is not None else "-", ""),
        ("client", client, state_style(client)),
        ("server", server, state_style(server)),
        ("step", "end" if stepper.finished else commands.taken, ""),
        ("breaks", breaks, ""),
        ("engine", commands.engine_name, ""),
    ])


def run_at_terminal(commands: StepCommands, *, history: History | None = None) -> None:
    """Read commands at the prompt until ``quit``, the end of the replay or Ctrl-D (which replays the
    rest, as the end of a pipe does)."""

    def notice(text: str) -> None:
        commands.say([text])

    session = build_prompt(
        completer=StepCompleter(commands),
        toolbar=lambda: step_toolbar(commands),
        message=lambda: step_prompt_text(commands),
        history=history if history is not None else file_history(REPLAY_HISTORY, notice),
    )

    def interrupt(signum: int, frame: FrameType | None) -> None:
        commands.stop()

    # While the prompt is up, prompt_toolkit reads Ctrl-C as a key (the line is abandoned) and puts
    # this handler back afterwards; while a command runs, Ctrl-C stops a long `continue` at a step
    # instead of ending the replay.
    try:
        previous = signal.signal(signal.SIGINT, interrupt)
    except ValueError:  # not the main thread: Ctrl-C keeps its default meaning
        interpret(commands, prompt_lines(session))
        return
    try:
        interpret(commands, prompt_lines(session))
    finally:
        # (None: a handler installed outside Python, which cannot be put back from here)
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
