"""`h11dbg --help` stays fast: the session layer, rich and prompt_toolkit load only inside commands."""

from __future__ import annotations

import subprocess
import sys


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys, h11dbg.cli\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('rich', 'prompt_toolkit')"
        " or m.startswith('h11dbg.session') or m.startswith('h11dbg.transport')]\n"
        "print(sorted(heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    listed = subprocess.run([sys.executable, "-m", "h11dbg", "--help"], capture_output=True, text=True,
                            timeout=30)
    for command in ("connect", "listen", "loopback", "demo"):
        assert f"  {command} " in listed.stdout
