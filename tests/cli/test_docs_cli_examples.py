"""Every example in docs/cli.md runs as printed, so the docs cannot drift from the code.

The test reads each fenced block and knows every kind there is: shell lines (``$ ...``, run with
bash in one directory, in order, against servers started here on 127.0.0.1: the ports the docs
print are mapped to theirs), the scripts they use (``serve.h11``, ``lesson.h11``), the header
examples, the Python API, the command synopses (each option must be in ``--help``) and samples
of output.  A block of a kind it does not know fails the test: a new example must say how to run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.servers import HELLO, Server, free_port, start_server, stop_process

from h11dbg.ui.exits import ExitCode

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
BIN = Path(sys.executable).parent
# examples that cannot run here, and why (each must still be one the test recognises)
NOT_RUN = {
    "tshark -i lo": "a live capture needs capture rights and never ends by itself",
}
SCRIPTS = {"`serve.h11` for the last line:": "serve.h11", "`h11dbg loopback --script lesson.h11`": "lesson.h11"}


def blocks() -> list[tuple[str, str]]:
    """Each fenced block's text and the prose line just before it."""
    found = []
    lines = DOCS.read_text(encoding="utf-8").splitlines()
    inside: list[str] | None = None
    before = ""
    for number, line in enumerate(lines):
        if line.startswith("```"):
            if inside is None:
                inside = []
                before = next((text for text in reversed(lines[:number]) if text.strip()), "")
            else:
                found.append(("\n".join(inside), before))
                inside = None
        elif inside is not None:
            inside.append(line)
    return found


def kind(text: str, before: str) -> str:
    first = text.splitlines()[0]
    if any(name in before for name in SCRIPTS):
        return "script"
    if first.startswith("$ "):
        return "shell"
    if first.startswith("from h11dbg"):
        return "python"
    if first.startswith("h11dbg "):
        return "synopsis"
    if first.startswith("request GET / Accept:"):
        return "headers"
    if first.startswith(("[", "conn ")):
        return "output"  # what a command printed, shown next to the prose that explains it
    return "unknown"


def test_every_block_is_of_a_known_kind() -> None:
    kinds = [kind(text, before) for text, before in blocks()]
    assert "unknown" not in kinds, [text for text, before in blocks() if kind(text, before) == "unknown"]
    assert {"script", "shell", "python", "synopsis", "headers"} <= set(kinds)


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory, uvicorn_server: Server,
            tls_server: Server) -> Iterator[dict[str, str]]:
    """The docs' ports -> ours: 8000 uvicorn, 8001 python -m http.server (hello.txt), 8443 uvicorn
    over TLS, 8080 a free port for `listen`."""
    root = tmp_path_factory.mktemp("www")
    (root / "hello.txt").write_bytes(HELLO)
    port = free_port()
    http_server = start_server([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
                               "127.0.0.1", port, root)
    yield {"8000": str(uvicorn_server.port), "8001": str(port), "8443": str(tls_server.port),
           "8080": str(free_port())}
    stop_process(http_server.proc)


def mapped(line: str, ports: dict[str, str]) -> str:
    return re.sub(r"\b(8000|8001|8443|8080)\b", lambda m: ports[m.group(1)], line)


def test_every_shell_example_runs_as_printed(servers: dict[str, str], tls_server: Server,
                                             tmp_path: Path) -> None:
    shutil.copy(tls_server.cafile, tmp_path / "ca.pem")  # type: ignore[attr-defined]
    for text, before in blocks():
        if kind(text, before) == "script":
            (tmp_path / next(name for key, name in SCRIPTS.items() if key in before)).write_text(text + "\n")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    ran = 0
    for text, before in blocks():
        if kind(text, before) != "shell":
            continue
        commands = [line for line in text.splitlines() if line.startswith("$ ")]
        printed = [line for line in text.splitlines() if not line.startswith("$ ")]
        for line in commands:
            command = line[2:]
            if any(key in command for key in NOT_RUN):
                continue
            done = subprocess.run(["bash", "-c", mapped(command, servers) + "; wait"], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=60)
            # diff says "these differ" with 1, as documented
            allowed = (ExitCode.OK, ExitCode.PROTOCOL_ERROR) if " diff " in f" {command}" else (ExitCode.OK,)
            assert done.returncode in allowed, f"{command}\n{done.stdout}\n{done.stderr}"
            if len(commands) == 1 and "explain" in command:
                # the words the docs show are the words it says ("..." stands for what is left out)
                for shown in printed:
                    if shown.strip() and shown.strip() != "...":
                        assert shown.strip() in done.stdout, shown
            ran += 1
    # the lesson is run the way the prose before it says
    lesson = subprocess.run([str(BIN / "h11dbg"), "loopback", "--script", "lesson.h11"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert lesson.returncode == 0 and lesson.stderr == "", lesson.stderr
    assert ran >= 10


def test_the_header_examples_give_the_headers_shown() -> None:
    [text] = [text for text, before in blocks() if kind(text, before) == "headers"]
    for line in text.splitlines():
        typed, _, shown = line.partition("->")
        typed = typed.strip()
        if not typed:
            continue
        prefix = {"response": "request GET /\nas server\nrun\n", "eom": "request POST / Transfer-Encoding: chunked\n"}
        script = prefix.get(typed.split()[0], "") + typed + "\n"
        done = subprocess.run([sys.executable, "-m", "h11dbg", "loopback"], input=script, capture_output=True,
                              text=True, timeout=30)
        assert done.returncode == 0, f"{typed}\n{done.stderr}"
        expected = [item for item in re.split(r"\s{2,}", shown.strip()) if ": " in item and not item.startswith("(")]
        if typed.startswith("request") and expected:
            for header in expected:
                assert f"    {header}" in done.stdout, (typed, header, done.stdout)


def test_the_python_example_runs(servers: dict[str, str], tmp_path: Path) -> None:
    [text] = [text for text, before in blocks() if kind(text, before) == "python"]
    program = mapped(text, servers) + "\nprint([entry.kind for entry in session.log])\n"
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "'event'" in done.stdout


def test_every_synopsis_option_is_in_the_commands_help() -> None:
    for text, before in blocks():
        if kind(text, before) != "synopsis":
            continue
        command = None
        for line in text.splitlines():
            words = line.split()
            if words and words[0] == "h11dbg":
                command = words[1]
                help_text = subprocess.run([sys.executable, "-m", "h11dbg", command, "--help"], capture_output=True,
                                           text=True, timeout=30).stdout
            assert command is not None
            for option in re.findall(r"--[a-z][a-z0-9-]*", line):
                assert option in help_text, f"h11dbg {command}: {option} is not in its --help"
