"""The exit statuses every command and front end ends with (documented in docs/cli.md).

They live here, below the CLI, because the front ends decide them: the batch runner and the
REPL return one, and the click commands only pass it on.
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    OK = 0  # every connection clean
    PROTOCOL_ERROR = 1  # a protocol error was met (the run itself went fine)
    USAGE = 2  # bad options, a bad script line, an unreadable input file
    NETWORK = 3  # connecting, accepting or a read failed or timed out
    INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT
