"""Values a user typed, quoted back in an error, are cut like a peer's bytes (issue 14, nits 4: the
other places that printed them whole on one line): the first 64 characters, "…" and the length."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

TRANSCRIPT = Path(__file__).resolve().parents[2] / "transcripts" / "204-304-curl-node.h11t"
LONG = "9" * 3000
CUT = f"'{'9' * 64}'… (3000 characters)"


@pytest.mark.parametrize(("args", "said"), [
    (["connect", "127.0.0.1:9", "--timeout", LONG, "--script", "/dev/null"],
     f"h11dbg: --timeout must be a number of seconds, more than 0 and at most 1000000, not {CUT}"),
    (["explain", "status", LONG], f"h11dbg: no status {CUT} in the reference: `h11dbg explain status` lists them"),
    (["explain", LONG], f"h11dbg: explain what? {CUT} is not one of header, status, state, rule"),
    (["diff", "--engines", LONG, str(TRANSCRIPT)],
     f"h11dbg: --engines takes two of h11dbg,h11 separated by a comma (got {CUT})"),
    (["learn", LONG], f"h11dbg: no lesson {CUT}: `h11dbg learn` lists them"),
    (["connect", "[::1" + LONG], f"h11dbg: missing ']' in '[::1{'9' * 60}'… (3004 characters)"),
])
def test_a_long_typed_value_is_quoted_cut(args: list[str], said: str) -> None:
    result = subprocess.run([sys.executable, "-m", "h11dbg", *args], capture_output=True, text=True, timeout=60,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [said]


def test_a_long_script_line_is_quoted_cut(tmp_path: Path) -> None:
    script = tmp_path / "long.h11"
    script.write_text("x" * 3000 + "\n")
    result = subprocess.run([sys.executable, "-m", "h11dbg", "loopback", "--script", str(script)],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert f"'{'x' * 64}'… (3000 characters)" in result.stdout + result.stderr
    assert max(map(len, (result.stdout + result.stderr).splitlines())) < 300
