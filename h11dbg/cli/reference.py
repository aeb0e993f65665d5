"""``h11dbg explain``: the reference — headers, status codes, states and rules (h11dbg.output.reference)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from h11dbg.cli.options import fail

if TYPE_CHECKING:
    from h11dbg.session.log import LogEntry

@click.command()
@click.argument("kind", required=False, metavar="[header|status|state|rule]")
@click.argument("name", required=False)
def explain(kind: str | None, name: str | None) -> None:
    """What a header, a status code, a state or a rule means for HTTP/1.1 framing and connection
    management, with its RFC section.

    Without NAME, the ones the reference has.  A rule is shown with a loopback script that makes the
    engine report it, run now, and what the engine said.
    """
    from h11dbg.output import reference

    if kind is None:
        click.echo("h11dbg explain header NAME | status CODE | state STATE | rule RULE  (without NAME: a list)")
        return
    if kind not in reference.KINDS:
        from h11dbg.transcript.escaping import quote

        fail(f"explain what? {quote(kind)} is not one of {', '.join(reference.KINDS)}")
    try:
        if name is None:
            lines = reference.index_lines(kind)
        elif kind == "rule":
            example = reference.rule_example(name)
            lines = reference.rule_lines(example, _run(example.script))
        else:
            lines = reference.topic_lines(kind, name)
    except reference.UnknownTopic as exc:
        fail(str(exc))
    click.echo("\n".join(lines))


def _run(script: tuple[str, ...]) -> list[LogEntry]:
    """The log of a loopback session that ran ``script`` on h11dbg's engine."""
    from h11dbg.session.commands import execute
    from h11dbg.session.core import Session

    session = Session.loopback("h11dbg", timeout=0.3)
    try:
        for line in script:
            execute(session, line)
        return list(session.log)
    finally:
        session.close()


COMMANDS: list[click.Command] = [explain]
