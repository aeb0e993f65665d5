"""The ``h11dbg`` command line: a thin click layer.

Each command parses its options, builds what it needs and hands over.  Heavy
imports (rich, prompt_toolkit, the session layer) happen inside the command
functions so that ``h11dbg --help`` starts fast.
"""

from __future__ import annotations

import click

from h11dbg import __version__

# Exit codes shared by every command (documented in docs/cli.md).
EXIT_OK = 0
EXIT_PROTOCOL_ERROR = 1
EXIT_USAGE = 2
EXIT_NETWORK = 3


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="h11dbg")
def main() -> None:
    """See, step through and teach HTTP/1.1.

    Drive one side of a real connection by hand (connect, listen), play both
    sides (loopback), or replay recorded traffic through both state machines.
    """


def _register() -> None:
    from h11dbg import cli_demo, cli_live, cli_transcripts

    for module in (cli_live, cli_demo, cli_transcripts):
        for command in module.COMMANDS:
            main.add_command(command)


_register()
