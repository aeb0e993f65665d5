"""The live commands on a real terminal: ``python -m h11dbg ARGS`` in a pexpect pty."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect


def spawn(tmp_path: Path, *args: str, timeout: float = 10) -> pexpect.spawn:
    # the REPL keeps history in the user's data directory: keep the tests' out of $HOME
    # NO_CPR: no cursor-position queries, which would make every prompt wait about a second for a reply
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "PROMPT_TOOLKIT_NO_CPR": "1"}
    return pexpect.spawn(sys.executable, ["-m", "h11dbg", *args], encoding="utf-8", timeout=timeout,
                         dimensions=(50, 160), env=env)
