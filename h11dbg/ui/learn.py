"""``h11dbg learn``: a lesson over a live session, in the REPL or from a script.

The learner types the normal commands; after each one the tutor checks the step
(:func:`h11dbg.session.lessons.unmet`) and, when it holds, says so and shows the next step.  ``check``
says what is still missing, in terms of what the machines saw; ``hint`` adds the lesson's own hint;
``show`` prints the reference solution; ``task`` repeats the step; ``answer TEXT`` answers a question;
``file NAME`` shows a capture the lesson is about.  Progress is kept in the user data directory.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TextIO

from h11dbg.session.lessons import Lesson, unmet
from h11dbg.transcript.escaping import quote
from h11dbg.ui.exits import ExitCode

if TYPE_CHECKING:
    from rich.console import Console

    from h11dbg.session.core import Session

PROGRESS = "learn-progress.json"
LESSON_COMMANDS = {
    "check": "check the step now: what is still missing, as the machines see it",
    "hint": "what is missing, and the lesson's hint",
    "show": "the reference solution of this step (the commands that pass it)",
    "task": "this step's text and task again",
    "answer": "answer TEXT: answer the step's question",
    "file": "file NAME: the capture the lesson is about, replayed (as a ladder, then every event)",
}


def _wrap(text: str, indent: str = "  ") -> list[str]:
    lines: list[str] = []
    for paragraph in text.strip().split("\n\n"):
        lines += textwrap.wrap(" ".join(paragraph.split()), 100, initial_indent=indent, subsequent_indent=indent)
        lines.append("")
    return lines[:-1]


def progress_path() -> Any:
    from h11dbg.ui.prompt import history_path

    return history_path(PROGRESS)


def read_progress() -> dict[str, dict[str, int]]:
    try:
        data = json.loads(progress_path().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_progress(lesson: Lesson, done: int) -> None:
    progress = read_progress()
    best = max(done, progress.get(lesson.name, {}).get("done", 0))
    progress[lesson.name] = {"done": best, "steps": len(lesson.steps)}
    path = progress_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(progress, indent=1, sort_keys=True), encoding="utf-8")
    except OSError:
        pass  # a read-only home must not stop a lesson: the progress of this run is only not kept


class Tutor:
    """Walks ``lesson`` over a session: shows each step, checks it after every command."""

    def __init__(self, lesson: Lesson, session: Session, new_session: Callable[[], Session],
                 keep_progress: bool = True) -> None:
        self.lesson = lesson
        self.session = session
        self.new_session = new_session
        self.keep_progress = keep_progress
        self.index = 0
        self.start = len(session.log)
        self.answer: str | None = None

    @property
    def done(self) -> bool:
        return self.index >= len(self.lesson.steps)

    def intro(self) -> list[str]:
        lesson = self.lesson
        lines = [f"lesson: {lesson.title} ({len(lesson.steps)} steps, on {lesson.setup})"]
        if lesson.intro:
            lines += _wrap(lesson.intro)
        lines.append("  lesson commands: " + ", ".join(LESSON_COMMANDS) + "; every other command as in the REPL")
        return [*lines, "", *self.task()]

    def task(self) -> list[str]:
        if self.done:
            return ["the lesson is complete"]
        step = self.lesson.steps[self.index]
        lines = [f"step {self.index + 1} of {len(self.lesson.steps)}: {step.title}"]
        if step.text:
            lines += _wrap(step.text)
        lines += _wrap("task: " + step.task)
        if step.question:
            lines += _wrap("question: " + step.question + "  (answer TEXT)")
        return lines

    def missing(self) -> list[str]:
        if self.done:
            return []
        step = self.lesson.steps[self.index]
        return unmet(step, self.session, self.session.log[self.start :], self.answer)

    def _advance(self) -> list[str]:
        step = self.lesson.steps[self.index]
        self.index += 1
        self.start = len(self.session.log)
        self.answer = None
        if self.keep_progress:
            _save_progress(self.lesson, self.index)
        lines = [f"✓ step {self.index} done: {step.title}", ""]
        if self.done:
            return [*lines, f"lesson complete: {self.lesson.title}. `h11dbg learn` lists the others."]
        if self.lesson.steps[self.index].fresh:
            self.session.close()
            self.session = self.new_session()
            self.start = len(self.session.log)
            lines.append("(a new connection for this step)")
        return lines + self.task()

    def after_command(self) -> list[str]:
        """After one of the learner's session commands: the next step if this one now holds."""
        if self.done or self.missing():
            return []
        return self._advance()

    def command(self, line: str) -> list[str] | None:
        """A lesson command's answer; None when ``line`` is not one (it goes to the session)."""
        name, _, rest = line.strip().partition(" ")
        if name not in LESSON_COMMANDS:
            return None
        if self.done and name != "file":
            return ["the lesson is complete"]
        step = self.lesson.steps[min(self.index, len(self.lesson.steps) - 1)]
        if name == "task":
            return self.task()
        if name == "show":
            return ["the reference solution:", *(f"  {command}" for command in step.solution)]
        if name == "file":
            return self._file(rest.strip())
        if name == "answer":
            if not step.question:
                return ["this step asks no question: do the task (task repeats it)"]
            self.answer = rest
        missing = self.missing()
        if not missing:
            return self._advance()
        lines = ["not yet:", *(f"  - {said}" for said in missing)]
        if name == "hint" and step.hint:
            lines += _wrap("hint: " + step.hint)
        elif name != "hint":
            lines.append("  (hint adds the lesson's hint; show prints a solution)")
        return lines

    def _file(self, name: str) -> list[str]:
        path = self.lesson.files.get(name)
        if path is None:
            known = ", ".join(self.lesson.files) or "none in this lesson"
            return [f"no file {quote(name)} (files: {known})"]
        from h11dbg.engines import load_engine
        from h11dbg.output import ladder
        from h11dbg.output.text import step_lines
        from h11dbg.replay.spans import replay_whole
        from h11dbg.transcript import TranscriptError, open_transcript

        try:
            replayed = replay_whole(open_transcript(str(path)), load_engine("h11dbg"))
        except TranscriptError as exc:
            return [str(exc)]
        lines = list(ladder.text_lines(ladder.step_rows(s.step for s in replayed.steps)))
        return lines + [""] + [line for s in replayed.steps for line in step_lines(s.step, headers=True)]


def run_batch(tutor: Tutor, lines: Iterable[str], *, source: str, out: TextIO, err: TextIO,
              diagram: bool = False) -> ExitCode:
    """A lesson from a script or a pipe: 0 when every step passed, 1 when the lines ran out first, 2 for
    a line that is not a command."""
    from h11dbg.output.text import render_entry, result_lines
    from h11dbg.session.commands import execute, moves_a_state
    from h11dbg.ui.exporting import exported

    def say(text: Iterable[str]) -> None:
        for line in text:
            print(line, file=out)
        out.flush()

    say(tutor.intro())
    printed = len(tutor.session.log)
    try:
        for number, line in enumerate(lines, start=1):
            answer = tutor.command(line)
            if answer is not None:
                say(answer)
                continue
            result = exported(tutor.session, execute(tutor.session, line))
            say(line for entry in tutor.session.log[printed:] for line in render_entry(entry))
            printed = len(tutor.session.log)
            say(result_lines(result))
            if diagram and moves_a_state(result):
                say(result_lines(execute(tutor.session, "diagram")))
            if result.error:
                print(f"{source}:{number}: {result.error}", file=err)
                return ExitCode.USAGE
            session_before = tutor.session
            say(tutor.after_command())
            if tutor.session is not session_before:
                printed = 0
            if tutor.done:
                break
    finally:
        tutor.session.close()
    if tutor.done:
        return ExitCode.OK
    step = tutor.lesson.steps[tutor.index]
    print(f"h11dbg: lesson not finished: step {tutor.index + 1} ({step.title}): " + "; ".join(tutor.missing()),
          file=err)
    return ExitCode.PROTOCOL_ERROR


def solve(tutor: Tutor, *, out: TextIO, err: TextIO) -> ExitCode:
    """Run every step's reference solution; 0 only when each step's check passed after its own."""
    from h11dbg.output.text import render_entry, result_lines
    from h11dbg.session.commands import execute

    print("\n".join(tutor.intro()), file=out)
    try:
        while not tutor.done:
            index = tutor.index
            step = tutor.lesson.steps[index]
            for line in step.solution:
                print(f"> {line}", file=out)
                answer = tutor.command(line)
                if answer is None:
                    mark = len(tutor.session.log)
                    result = execute(tutor.session, line)
                    for entry in tutor.session.log[mark:]:
                        print("\n".join(render_entry(entry)), file=out)
                    print("\n".join(result_lines(result)), file=out)
                    if result.error:
                        print(f"h11dbg: step {index + 1}: {quote(line)}: {result.error}", file=err)
                        return ExitCode.USAGE
                    answer = tutor.after_command()
                print("\n".join(answer), file=out)
                if tutor.index != index:
                    break
            if tutor.index == index:
                print(f"h11dbg: step {index + 1} ({step.title}): its solution does not pass: "
                      + "; ".join(tutor.missing()), file=err)
                return ExitCode.PROTOCOL_ERROR
    finally:
        tutor.session.close()
    return ExitCode.OK


def run_repl(tutor: Tutor, *, console: Console | None = None, diagram: bool = False) -> ExitCode:
    """The lesson in the REPL: the live REPL, its commands, and the lesson's."""
    from rich.text import Text

    from h11dbg.ui.repl import Repl

    class LessonRepl(Repl):
        def execute(self, line: str) -> bool:
            answer = tutor.command(line)
            if answer is not None:
                self._say(answer)
                return True
            going_on = super().execute(line)
            self._say(tutor.after_command())
            if tutor.session is not self.session:  # a fresh connection for the next step
                self.session = tutor.session
                self.printed = len(self.session.log)
            return going_on and not tutor.done

        def _say(self, lines: list[str]) -> None:
            for line in lines:
                missing = line.startswith(("not yet", "  -"))
                style = "bold green" if line.startswith("✓") else "yellow" if missing else ""
                self.console.print(Text(line, style=style))

    repl = LessonRepl(tutor.session, console=console, diagram=diagram)
    repl._say(tutor.intro())
    try:
        repl.run()
    finally:
        tutor.session.close()
    return ExitCode.OK if tutor.done else ExitCode.PROTOCOL_ERROR
