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


def test_replaying_a_pcap_loads_only_what_a_pcap_needs(tmp_path: object) -> None:
    """dpkt (pcapng only), the curl and HAR importers and the UI stay out of a pcap replay."""
    from pathlib import Path

    capture = Path(__file__).resolve().parents[1] / "data" / "captures" / "http-lo.pcap"
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['h11dbg', 'replay', {str(capture)!r}]\n"
        "try:\n"
        "    runpy.run_module('h11dbg', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('dpkt', 'rich', 'prompt_toolkit')\n"
        "          or m.endswith(('.curl_trace', '.har'))]\n"
        "print(code, sorted(loaded), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert "Request GET" in result.stdout
    assert result.stderr.strip().endswith("0 []"), result.stderr
