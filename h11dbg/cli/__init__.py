"""The ``h11dbg`` command line: the click group and its commands, each thin.

A command parses its options and calls into the layers below (:mod:`h11dbg.cli.launch` for live
sessions, :mod:`h11dbg.replay.run` for replays).  Rules of the house: nothing here decides anything
about HTTP or draws anything; heavy imports (the session and replay layers, rich, prompt_toolkit)
happen inside the command functions, so that ``h11dbg --help`` starts fast; every failure is one
``h11dbg: ...`` line and an :class:`~h11dbg.ui.exits.ExitCode`.
"""

from __future__ import annotations

import click

from h11dbg import __version__
from h11dbg.cli import demo, desync, export, learn, live, reference, transcripts


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="h11dbg")
def main() -> None:
    """See, step through and teach HTTP/1.1.

    Drive one side of a real connection by hand (connect, listen), play both
    sides (loopback), or replay recorded traffic through both state machines.
    """


for _module in (live, demo, transcripts, reference, export, desync, learn):
    for _command in _module.COMMANDS:
        main.add_command(_command)
