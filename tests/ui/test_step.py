"""The replay stepper (``h11dbg replay --step``): its commands read from a pipe, its output read back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from h11dbg.transcript import Chunk, Meta, write_transcript

H11DBG = str(Path(sys.executable).with_name("h11dbg"))


def _write(path: Path, records: list) -> Path:
    write_transcript(records, path, Meta(tool="test"))
    return path


def test_step_mode_with_piped_stdin(tmp_path: Path, engine_name: str) -> None:
    path = _write(tmp_path / "t.h11t", [
        Chunk(1, "c2s", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        Chunk(1, "s2c", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        Chunk(2, "c2s", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
        Chunk(3, "c2s", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    ])
    script = "next\nbreak Response\ncontinue\nexplain\ncontinue\nexplain\nquit\n"
    result = subprocess.run([H11DBG, "replay", str(path), "--engine", engine_name, "--step"],
                            input=script, capture_output=True, text=True, timeout=30)
    out = result.stdout
    assert result.returncode == 1  # the error in connection 2 was replayed
    first, rest = out.split("breakpoints: error, response", 1)
    assert "Request GET /" in first and "Response" not in first  # `next` showed one step
    at_response, after = rest.split("replay> connection 1, after:", 1)
    assert "s2c Response HTTP/1.1 200 OK" in at_response and "Data" not in at_response  # continue stopped there
    assert "server may send next: Data, EndOfMessage" in after
    # the next continue stopped at the error (a default breakpoint); explain shows it
    assert "ERROR" in after and "last error (connection 2)" in after
    assert "[3]" not in after  # quit before connection 3
