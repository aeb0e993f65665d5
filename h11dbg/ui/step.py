"""``h11dbg replay --step``: walk a replay step by step, at a terminal or from a pipe.

One interpreter (:class:`StepCommands`) parses and runs every command; the two front ends only
differ in how lines reach it.  At a terminal they come from the prompt_toolkit prompt the live
REPL uses too (:mod:`h11dbg.ui.step_prompt`: completion, history, toolbar); from a pipe they are
read plainly, each after a ``replay> `` prompt, and prompt_toolkit is never imported.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from typing import IO, TYPE_CHECKING, NamedTuple, get_args

from h11dbg.output import diagram
from h11dbg.output.text import step_explanation
from h11dbg.replay.stepper import Stepper
from h11dbg.replay.steps import ReplayStep, StepKind
from h11dbg.transcript.escaping import quote

if TYPE_CHECKING:
    from h11dbg.engines import Engine

PROMPT = "replay> "
BANNER = "stepping: type help for the commands, next (or Enter) to go on"

# what `break` takes: h11's event classes (both engines name them alike), then the steps of the
# replay itself ("event" is not one: an event step is named after its event), then "timing" (the
# response's EndOfMessage that completes an exchange of a timed input)
EVENT_NAMES = ("Request", "Response", "InformationalResponse", "Data", "EndOfMessage", "ConnectionClosed")
BREAKPOINT_NAMES: tuple[str, ...] = (EVENT_NAMES + tuple(kind for kind in get_args(StepKind) if kind != "event")
                                     + ("timing",))
_CANONICAL = {name.lower(): name for name in BREAKPOINT_NAMES}


class Command(NamedTuple):
    aliases: tuple[str, ...]
    usage: str
    summary: str  # one line, for the completion menu and help


COMMANDS = {
    "next": Command(("n",), "next [N]", "show the next step, or the next N"),
    "continue": Command(("c",), "continue", "run to the next breakpoint or to the end"),
    "break": Command(("b",), "break NAME...", "stop at steps named NAME (an event or a step kind)"),
    "delete": Command(("d",), "delete NAME...|all", "remove breakpoints"),
    "breaks": Command((), "breaks", "list the breakpoints"),
    "explain": Command(("e",), "explain", "why the machines are in their states, what may come next"),
    "diagram": Command((), "diagram", "both state machines: where each side is now and its last move"),
    "quit": Command(("q", "exit"), "quit", "stop replaying"),
    "help": Command(("h", "?"), "help", "list the commands"),
}
ALIASES = {alias: name for name, command in COMMANDS.items() for alias in (name, *command.aliases)}


def help_lines() -> list[str]:
    """``help``: every command with its usage, aliases and what it does, then what ``break`` takes."""
    lines = []
    for command in COMMANDS.values():
        aliases = f" ({', '.join(command.aliases)})" if command.aliases else ""
        lines.append(f"{command.usage + aliases:<28}{command.summary}")
    lines.append(f"{'':<28}NAME: {', '.join(BREAKPOINT_NAMES)}")
    lines.append(f"{'':<28}an empty line (Enter) is next")
    return lines


def breakpoint_name(name: str) -> str:
    """How a breakpoint reads (``response`` -> ``Response``): the stepper keeps them lower-cased."""
    return _CANONICAL.get(name, name)


class StepCommands:
    """Parses and runs ``replay --step`` command lines against a :class:`Stepper`.

    ``emit`` shows a step (the CLI's rendering, text or JSON), ``say`` shows lines of the stepper's
    own (breakpoints, explanations, errors).  A bad line gets one line saying why, never an
    exception, and the walk goes on."""

    def __init__(self, stepper: Stepper, emit: Callable[[ReplayStep], None],
                 say: Callable[[Iterable[str]], None], *, diagram: bool = False) -> None:
        self.stepper = stepper
        self.diagram = diagram  # draw the state machines after every walk that moved a state
        self._emit = emit
        self.say = say
        self.taken = 0  # steps shown so far, for the toolbar
        self._stop = False

    @property
    def engine_name(self) -> str:
        return self.stepper.engine.__name__.split(".")[0]

    def stop(self) -> None:
        """Ask a running ``next N``/``continue`` to stop after the step it is on (safe from a signal
        handler: the replay's generators would be broken by an exception raised inside them)."""
        self._stop = True

    def _walk(self, steps: Iterable[ReplayStep]) -> None:
        self._stop = False
        moved = False
        for step in steps:
            self.taken += 1
            self._emit(step)
            moved = moved or bool(step.transitions) or step.kind in ("error", "cycle")
            if self._stop:
                self.say([f"interrupted after step {self.taken}"])
                break
        if self.diagram and moved:
            self._diagram()

    def _diagram(self) -> None:
        step = self.stepper.current
        if step is None:
            self.say(["nothing replayed yet: type next"])
            return
        moves = self.stepper.last_moves.get(step.conn, {})
        self.say(diagram.text_lines(diagram.lines(step.states, {role: diagram.Move(*move)
                                                                for role, move in moves.items()})))

    def _next(self, count: int) -> Iterator[ReplayStep]:
        for _ in range(count):
            step = self.stepper.next()
            if step is None:
                return
            yield step

    def execute(self, line: str) -> bool:
        """Run one line (an empty one is ``next``); False when the walk should end."""
        words = line.split()
        if not words:
            words = ["next"]
        name = ALIASES.get(words[0].lower())
        args = words[1:]
        if name is None:
            self.say([f"unknown command {quote(line.strip())}: type help"])
            return True
        if not self._run(name, args):
            self.say([f"usage: {COMMANDS[name].usage}"])
        return name != "quit"

    def _run(self, name: str, args: list[str]) -> bool:
        """Run the command ``name``; False when its arguments do not fit its usage."""
        if name == "next":
            # ASCII digits only, and few: int() refuses other scripts' digits and past 4300 digits
            if len(args) > 1 or (args and not (args[0].isascii() and args[0].isdigit() and len(args[0]) <= 18
                                               and int(args[0]) > 0)):
                return False
            self._walk(self._next(int(args[0]) if args else 1))
        elif name == "break":
            if not args:
                return False
            unknown = [arg for arg in args if arg.lower() not in _CANONICAL]
            if unknown:
                # a misspelt breakpoint would never stop anything: say so now
                self.say([f"unknown breakpoint {quote(unknown[0])}: one of {', '.join(BREAKPOINT_NAMES)}"])
                return True
            self.stepper.breakpoints.update(arg.lower() for arg in args)
            self._breaks()
        elif name == "delete":
            if not args:
                return False
            if args[0].lower() == "all":
                self.stepper.breakpoints.clear()
            else:
                self.stepper.breakpoints.difference_update(arg.lower() for arg in args)
            self._breaks()
        elif name == "help":
            self.say(help_lines())  # whatever follows: help on one command would be the same lines
        elif name == "quit":
            pass  # (``quit now`` quits too: nothing is worth a usage line on the way out)
        elif args:  # the rest take no arguments
            return False
        elif name == "continue":
            self._walk(self.stepper.run())
        elif name == "breaks":
            self._breaks()
        elif name == "explain":
            self.say(step_explanation(self.stepper))
        elif name == "diagram":
            self._diagram()
        return True

    def _breaks(self) -> None:
        self.say([f"breakpoints: {', '.join(sorted(self.stepper.breakpoints)) or '(none)'}"])

    def finish(self) -> None:
        """The input ran out: replay the rest without stopping, so the exit status covers it all."""
        self._walk(self.stepper.run(ignore_breakpoints=True))


def interpret(commands: StepCommands, lines: Iterator[str]) -> None:
    """Run ``lines`` until ``quit``, the end of the replay, or the end of the lines (which finishes
    the replay)."""
    stepper = commands.stepper
    for line in lines:  # asked for only while steps remain: no prompt after the last one
        if not commands.execute(line):
            return
        if stepper.finished:
            break
    else:
        commands.finish()
    if stepper.finished:
        commands.say(["end of transcript"])


def piped_lines(stream: IO[str], out: IO[str]) -> Iterator[str]:
    """Lines from a pipe, each asked for with the prompt as ``input()`` would (so a transcript of the
    run shows where each command was read)."""
    while True:
        out.write(PROMPT)
        out.flush()
        line = stream.readline()
        if not line:
            return
        yield line.rstrip("\n")


def run_stepper(steps: Iterable[ReplayStep], engine: Engine, render: Callable[[ReplayStep], str],
                out: IO[str], *, interactive: bool | None = None, diagram: bool = False) -> None:
    """Walk ``steps``: with the prompt at a terminal, from the lines of stdin otherwise (``interactive``
    decides when given)."""
    stepper = Stepper(steps, engine)

    def emit(step: ReplayStep) -> None:
        out.write(render(step))

    def say(lines: Iterable[str]) -> None:
        out.write("".join(f"{line}\n" for line in lines))
        out.flush()

    commands = StepCommands(stepper, emit, say, diagram=diagram)
    say([BANNER])
    stdin = sys.stdin
    if interactive is None:
        interactive = stdin is not None and stdin.isatty()
    if interactive:
        from h11dbg.ui.step_prompt import run_at_terminal

        run_at_terminal(commands)
    else:
        # no stdin at all (a detached process) reads as an empty pipe: the replay runs to its end
        interpret(commands, piped_lines(stdin, out) if stdin is not None else iter(()))
