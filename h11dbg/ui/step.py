"""``h11dbg replay --step``: walk a replay step by step, at a terminal or from a pipe."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import IO, TYPE_CHECKING

from h11dbg.output.text import step_explanation
from h11dbg.replay.stepper import STEP_HELP, Stepper
from h11dbg.replay.steps import ReplayStep

if TYPE_CHECKING:
    from h11dbg.engines import Engine


def run_stepper(steps: Iterable[ReplayStep], engine: Engine, render: Callable[[ReplayStep], str],
                out: IO[str]) -> None:
    stepper = Stepper(steps, engine)

    def emit(step: ReplayStep) -> None:
        out.write(render(step))

    def say(lines: Iterable[str]) -> None:
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
            say(step_explanation(stepper))
        elif command in ("q", "quit", "exit"):
            return
        elif command in ("h", "help", "?"):
            say(STEP_HELP)
        else:
            say([f"unknown command {line.strip()!r}: type help"])
    if stepper.finished:
        say(["end of transcript"])
