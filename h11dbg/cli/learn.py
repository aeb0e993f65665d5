"""``h11dbg learn``: guided exercises that check themselves (lessons: h11dbg/lessons, docs/teaching.md)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from h11dbg.cli.options import diagram_option, engine_option, fail, load_engine, script_option

if TYPE_CHECKING:
    from h11dbg.session.core import Session
    from h11dbg.session.lessons import Lesson


def _find(name: str, lessons: list[Lesson]) -> Lesson:
    for number, lesson in enumerate(lessons, start=1):
        if name in (lesson.name, str(number), f"{number:02d}"):
            return lesson
    from h11dbg.transcript.escaping import quote

    fail(f"no lesson {quote(name)}: `h11dbg learn` lists them")


@click.command()
@click.argument("name", required=False)
@click.option("--list", "names_only", is_flag=True, help="One lesson name per line.")
@click.option("--file", "lesson_file", type=click.Path(dir_okay=False), default=None,
              help="A lesson of your own (TOML, docs/teaching.md).")
@click.option("--solve", is_flag=True, help="Run the reference solution; exit 0 only if every step's check passed.")
@script_option
@diagram_option
@engine_option()
def learn(name: str | None, names_only: bool, lesson_file: str | None, solve: bool, script: str | None,
          diagram: bool, engine_name: str) -> None:
    """Guided exercises on a real loopback connection or the demo server, each step checked against
    what the state machines actually did.

    Without NAME: the lessons and your progress.  `h11dbg learn NAME` starts one (NAME or its number)
    in the REPL; with --script FILE or piped commands it runs them (exit 0 when every step passed, 1
    when the commands ran out first).
    """
    from pathlib import Path

    from h11dbg.session.lessons import LessonError, builtin, load
    from h11dbg.ui import learn as tutor_ui

    try:
        lessons = builtin()
        lesson = load(Path(lesson_file)) if lesson_file else None
    except LessonError as exc:
        fail(str(exc))
    if lesson is None and name is None:
        if names_only:
            click.echo("\n".join(lesson.name for lesson in lessons))
            return
        progress = tutor_ui.read_progress()
        for number, each in enumerate(lessons, start=1):
            done = progress.get(each.name, {}).get("done", 0)
            mark = "✓ done" if done >= len(each.steps) else f"{done}/{len(each.steps)} steps" if done else ""
            click.echo(f"{number:>2}  {each.name:<22} {each.title:<52} {mark}".rstrip())
        click.echo("\nh11dbg learn NAME starts one (h11dbg learn first-get is the first)")
        return
    if lesson is None:
        assert name is not None
        lesson = _find(name, lessons)
    engine = load_engine(engine_name)
    from contextlib import ExitStack

    from h11dbg.cli.launch import interactive, read_script, stdin_script

    with ExitStack() as stack:
        if lesson.setup == "demo":
            from h11dbg.demo.server import DemoServer

            server = stack.enter_context(DemoServer(engine))

            def new_session() -> Session:
                from h11dbg.session.core import Session

                return Session.connect(engine, server.host, server.port, timeout=5.0)
        else:
            def new_session() -> Session:
                from h11dbg.session.core import LOOPBACK_READ_TIMEOUT, Session

                return Session.loopback(engine, timeout=LOOPBACK_READ_TIMEOUT)

        tutor = tutor_ui.Tutor(lesson, new_session(), new_session, keep_progress=not solve)
        if solve:
            sys.exit(tutor_ui.solve(tutor, out=sys.stdout, err=sys.stderr))
        if script is None and interactive(script, False):
            sys.exit(tutor_ui.run_repl(tutor, diagram=diagram))
        lines = read_script(script) if script is not None else stdin_script()
        sys.exit(tutor_ui.run_batch(tutor, lines.lines, source=lines.source, out=sys.stdout, err=sys.stderr,
                                    diagram=diagram))


COMMANDS: list[click.Command] = [learn]
