"""h11 is an optional extra: a plain install has no h11, and what needs it says how to get it.

The test makes a real virtual environment, installs h11dbg into it the way a user would
(``pip install -e .``: the runtime dependencies come from pip's cache, h11 is not one of them) and runs
the commands that need h11 there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRANSCRIPT = ROOT / "transcripts" / "keepalive-curl-uvicorn.h11t"
HINT = "pip install 'h11dbg[h11]'"


def _clean_env() -> dict[str, str]:
    # nothing of this test run's environment (its venv, its sys.path) may leak into the new one
    env = {key: value for key, value in os.environ.items()
           if key not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def python_without_h11(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    venv = tmp_path_factory.mktemp("no-h11") / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=120, env=_clean_env())
    python = venv / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", str(ROOT)],
                             capture_output=True, text=True, timeout=240, env=_clean_env(), cwd=venv)
    assert install.returncode == 0, install.stderr
    yield python


@pytest.mark.timeout(420)
def test_a_plain_install_has_no_h11_and_each_h11_option_says_how_to_get_it(python_without_h11: Path) -> None:
    def h11dbg(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(python_without_h11), "-m", "h11dbg", *args], capture_output=True, text=True,
                              timeout=60, env=_clean_env(), cwd=python_without_h11.parent, stdin=subprocess.DEVNULL)

    missing = subprocess.run([str(python_without_h11), "-c", "import h11"], capture_output=True, text=True,
                             timeout=30, env=_clean_env())
    assert missing.returncode == 1 and "No module named 'h11'" in missing.stderr

    works = h11dbg("replay", str(TRANSCRIPT))  # the install itself is sound
    assert works.returncode == 0, works.stderr

    for args in (["replay", str(TRANSCRIPT), "--engine", "h11"],
                 ["diff", "--engines", "h11dbg,h11", str(TRANSCRIPT)],
                 ["loopback", "--engine", "h11"],
                 ["demo", "--engine", "h11"]):
        result = h11dbg(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert result.stderr.splitlines() == [
            f"h11dbg: engine 'h11' needs the h11 package, which is not installed: {HINT}"], args
        assert result.stdout == ""


def test_the_h11_extra_is_declared() -> None:
    requirements = [req.replace("'", '"') for req in metadata.requires("h11dbg") or []]
    assert any(req.startswith("h11") and 'extra == "h11"' in req for req in requirements), requirements
    assert any(req.startswith("h11==0.16.0") and 'extra == "test"' in req for req in requirements), requirements
