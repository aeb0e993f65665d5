"""`h11dbg learn`: every lesson's reference solution passes, every step's plausible mistake fails its
check with what the machines saw, progress is kept, and a lesson file of one's own works."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from h11dbg.cli import main
from h11dbg.session.lessons import builtin

LESSONS = builtin()
STEPS = [(lesson.name, number) for lesson in LESSONS for number in range(len(lesson.steps))]


@pytest.fixture(autouse=True)
def own_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Progress goes to this test's own data directory, never the user's."""
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data"


def learn(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, ["learn", *args], input=stdin, catch_exceptions=False)


def test_the_lessons_build_in_order() -> None:
    names = learn("--list").output.split()
    assert len(names) >= 12
    assert names[:2] == ["first-get", "keep-alive"] and "smuggling" in names and "reading-a-capture" in names
    assert names == [lesson.name for lesson in LESSONS]


@pytest.mark.parametrize("name", [lesson.name for lesson in LESSONS])
def test_every_reference_solution_passes_every_check(name: str) -> None:
    result = learn(name, "--solve")
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().splitlines()[-1].startswith("lesson complete: ")


@pytest.mark.parametrize(("name", "number"), STEPS)
def test_every_steps_mistake_fails_its_check_and_says_what_the_machines_saw(name: str, number: int) -> None:
    lesson = next(lesson for lesson in LESSONS if lesson.name == name)
    before = [line for step in lesson.steps[:number] for line in step.solution]
    step = lesson.steps[number]
    assert step.mistake, f"{name} step {number + 1} has no mistake to test"
    result = learn(name, stdin="\n".join([*before, *step.mistake, "check"]) + "\n")
    assert result.exit_code == 1, result.output
    assert f"✓ step {number} done" in result.output if number else "✓ step" not in result.output
    assert f"✓ step {number + 1} done" not in result.output
    said = result.output.split("not yet:")[-1]
    assert said.strip().startswith("- "), result.output  # what is missing, one line per condition


def test_progress_is_kept_and_listed(own_data_dir: Path) -> None:
    first = LESSONS[0]
    half = [line for step in first.steps[:2] for line in step.solution]
    assert learn(first.name, stdin="\n".join(half) + "\n").exit_code == 1
    assert f"2/{len(first.steps)} steps" in learn().output
    whole = [line for step in first.steps for line in step.solution]
    assert learn(first.name, stdin="\n".join(whole) + "\n").exit_code == 0
    listing = learn().output
    assert "first-get" in listing and "✓ done" in listing
    assert (own_data_dir / "h11dbg" / "learn-progress.json").exists()


def test_hint_show_and_check_say_what_is_missing() -> None:
    result = learn("first-get", stdin="check\nhint\nshow\n")
    assert result.exit_code == 1
    assert "  - no Request was sent in this step (sent: nothing)" in result.output
    assert "  - the client is in IDLE, not SEND_BODY" in result.output
    assert "hint: `request METHOD TARGET` sends a Request event" in result.output
    assert "the reference solution:\n  request GET /" in result.output


def test_a_lesson_of_ones_own(tmp_path: Path) -> None:
    lesson = tmp_path / "mine.toml"
    lesson.write_text('title = "Mine"\n[[step]]\ntitle = "HEAD"\ntask = "send HEAD /"\n'
                      'solution = ["request HEAD /"]\n[step.check]\nsent = ["Request"]\n')
    assert learn("--file", str(lesson), "--solve").exit_code == 0
    assert learn("--file", str(lesson), stdin="request HEAD /\n").exit_code == 0
    lesson.write_text('title = "Bad"\n[[step]]\ntitle = "x"\ntask = "y"\n[step.check]\nsmells = 1\n')
    done = subprocess.run([sys.executable, "-m", "h11dbg", "learn", "--file", str(lesson)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith(f"h11dbg: {lesson}: step 1: unknown check 'smells'") and done.stderr.count("\n") == 1
    lesson.write_text("title = \n")
    done = subprocess.run([sys.executable, "-m", "h11dbg", "learn", "--file", str(lesson)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2 and "line 1" in done.stderr and "Traceback" not in done.stderr


def test_unknown_lesson_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["learn", "no-such-lesson"])
    assert result.exit_code == 2 and "no lesson 'no-such-lesson'" in result.output


def test_a_lesson_in_the_repl_on_a_real_terminal(tmp_path: Path) -> None:
    import pexpect
    from support.terminal import spawn

    child = spawn(tmp_path, "learn", "first-get")
    try:
        child.expect("step 1 of 5: Send a request head")
        child.expect("loopback:client")  # the normal REPL prompt
        child.sendline("hint")
        child.expect("no Request was sent in this step")
        child.sendline("request GET /")
        child.expect("✓ step 1 done: Send a request head")
        child.expect("step 2 of 5: End the request")
        child.sendline("eom")
        child.expect("✓ step 2 done")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 1  # the lesson is not finished
    listing = subprocess.run([sys.executable, "-m", "h11dbg", "learn"], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}, check=False)
    assert "2/5 steps" in listing.stdout


def test_the_diagram_follows_a_lesson() -> None:
    result = learn("first-get", "--diagram", stdin="request GET /\n")
    assert "CLIENT   (● now, ★ last move)" in result.output
    assert "  ● SEND_BODY" in result.output
