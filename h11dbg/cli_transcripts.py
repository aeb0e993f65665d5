"""Transcript commands: record, replay, diff, convert (the transcripts issue)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
