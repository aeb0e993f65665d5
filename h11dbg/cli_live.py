"""Live commands: connect, listen, loopback, demo (the debugger issue)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
