"""``replay --step``'s interpreter and its two front ends: piped lines (the CLI in a subprocess, and
in-process), and the prompt (keystrokes through prompt_toolkit's pipe input)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from h11dbg.engines import load_engine
from h11dbg.output.text import step_lines
from h11dbg.replay.machines import Replayer
from h11dbg.replay.run import steps
from h11dbg.replay.stepper import Stepper
from h11dbg.replay.steps import ReplayStep
from h11dbg.transcript import Chunk, Meta, open_transcript, write_transcript
from h11dbg.ui.prompt import file_history, history_path
from h11dbg.ui.step import BREAKPOINT_NAMES, StepCommands, interpret, run_stepper
from h11dbg.ui.step_prompt import StepCompleter, run_at_terminal, step_prompt_text, step_toolbar

H11DBG = str(Path(sys.executable).with_name("h11dbg"))
TRANSCRIPTS = Path(__file__).resolve().parents[2] / "transcripts"
KEEPALIVE = TRANSCRIPTS / "keepalive-curl-uvicorn.h11t"


def stepper(path: Path = KEEPALIVE, engine: str = "h11dbg") -> Stepper:
    module = load_engine(engine)
    return Stepper(steps(open_transcript(str(path)), Replayer(module), lambda why: None), module)


class Recorder:
    """The interpreter's two outputs, kept: the steps shown and the lines said."""

    def __init__(self, engine: str = "h11dbg") -> None:
        self.shown: list[ReplayStep] = []
        self.said: list[str] = []
        self.commands = StepCommands(stepper(engine=engine), self.shown.append, self.said.extend)

    def run(self, *lines: str) -> list[str]:
        del self.said[:]
        for line in lines:
            self.commands.execute(line)
        return list(self.said)


def plain(fragments: object) -> str:
    return "".join(text for _, text, *_ in fragments)  # type: ignore[attr-defined]


def test_bad_lines_on_a_pipe_are_one_line_each_and_the_walk_goes_on() -> None:
    script = ("next x\nnext 0\nnext 1 2\ncontinue now\nbreak\nbreak Respons\ndelete\nbreaks all\nexplain it\n"
              "frobnicate\nnext 2\nquit\n")
    result = subprocess.run([H11DBG, "replay", str(KEEPALIVE), "--step"], input=script, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    said = [line.removeprefix("replay> ") for line in result.stdout.splitlines() if line.startswith("replay> ")]
    assert said[:10] == [
        "usage: next [N]",
        "usage: next [N]",
        "usage: next [N]",
        "usage: continue",
        "usage: break NAME...",
        "unknown breakpoint 'Respons': one of " + ", ".join(BREAKPOINT_NAMES),
        "usage: delete NAME...|all",
        "usage: breaks",
        "usage: explain",
        "unknown command 'frobnicate': type help",
    ]
    # none of them stepped: the good `next 2` shows the first two steps
    assert said[10].startswith("[1]") and "open 127.0.0.1" in said[10]
    assert "c2s Request GET /one" in result.stdout and "c2s EndOfMessage" not in result.stdout


def test_a_pipe_never_loads_prompt_toolkit_or_rich() -> None:
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['h11dbg', 'replay', {str(KEEPALIVE)!r}, '--step']\n"
        "try:\n"
        "    runpy.run_module('h11dbg', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "loaded = [m for m in sys.modules if m.split('.')[0] in ('rich', 'prompt_toolkit')]\n"
        "print(code, sorted(loaded), file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], input="next\nexplain\n", capture_output=True,
                            text=True, timeout=30)
    assert "end of transcript" in result.stdout  # the end of the pipe replayed the rest
    assert result.stderr.strip().endswith("0 []"), result.stderr


def test_the_interpreter_reads_commands_aliases_and_enter() -> None:
    rec = Recorder()
    assert rec.run("") == [] and len(rec.shown) == 1  # Enter is next
    rec.run("N 2")
    assert len(rec.shown) == 3
    assert rec.run("B data", "d ERROR") == ["breakpoints: data, error", "breakpoints: data"]
    rec.run("C")
    assert rec.shown[-1].event_name == "Data" and rec.commands.taken == len(rec.shown)
    assert rec.run("e")[0].startswith("connection 1, after: ")
    assert rec.run("delete all", "breaks") == ["breakpoints: (none)", "breakpoints: (none)"]
    assert rec.commands.execute("exit") is False
    assert rec.commands.execute("quit now") is False


def test_stop_ends_a_long_continue_after_the_step_it_is_on() -> None:
    # what a Ctrl-C during `continue` does at a terminal (the SIGINT handler calls stop())
    shown: list[ReplayStep] = []
    said: list[str] = []

    def show(step: ReplayStep) -> None:
        shown.append(step)
        if len(shown) == 2:
            commands.stop()

    commands = StepCommands(stepper(), show, said.extend)
    commands.execute("delete all")
    commands.execute("continue")
    assert said[-1] == "interrupted after step 2"
    assert len(shown) == 2 and not commands.stepper.finished
    commands.execute("continue")  # the next one is not stopped by the last Ctrl-C
    assert commands.stepper.finished


def test_the_end_of_the_lines_replays_the_rest_but_quit_does_not() -> None:
    rec = Recorder()
    interpret(rec.commands, iter(["next"]))
    assert rec.commands.stepper.finished and rec.said[-1] == "end of transcript"
    assert rec.shown[-1].kind == "end"
    rec = Recorder()
    interpret(rec.commands, iter(["next", "quit", "next"]))
    assert len(rec.shown) == 1 and "end of transcript" not in rec.said


def test_run_stepper_on_a_pipe_prints_as_input_did(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = load_engine("h11dbg")
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdin", io.StringIO("next\nbreaks\n"))
    run_stepper(steps(open_transcript(str(KEEPALIVE)), Replayer(engine), lambda why: None), engine,
                lambda step: "\n".join(step_lines(step, headers=False)) + "\n", out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "stepping: type help for the commands, next (or Enter) to go on"
    assert lines[1].startswith("replay> [1]") and "open" in lines[1]
    assert lines[2] == "replay> breakpoints: error"
    assert lines[3].startswith("replay> [1]")  # the end of the input: the rest, each step once
    assert lines[-1] == "end of transcript"


def completions(text: str, rec: Recorder | None = None) -> list[str]:
    completer = StepCompleter((rec or Recorder()).commands)
    return [c.text for c in completer.get_completions(Document(text), CompleteEvent(completion_requested=True))]


def test_every_event_and_step_kind_is_a_breakpoint_name() -> None:
    assert sorted(BREAKPOINT_NAMES) == sorted([
        "Request", "Response", "InformationalResponse", "Data", "EndOfMessage", "ConnectionClosed",
        "error", "open", "close", "reset", "cycle", "switch", "end", "paused", "resumed", "timing"])


def test_break_timing_stops_where_an_exchange_completes() -> None:
    result = subprocess.run([H11DBG, "replay", str(KEEPALIVE), "--step"], input="break timing\ncontinue\ncontinue\n"
                            "quit\n", capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    shown = [line for line in result.stdout.splitlines()
             if " s2c " in line and "EndOfMessage" in line or "timing:" in line]
    # each stop is the response's EndOfMessage and, under it, its exchange's timing; then the walk waits
    assert [line.split()[2:4] for line in shown] == [["s2c", "EndOfMessage"], ["s2c", "timing:"]] * 2
    assert "timing: GET /one: first byte after " in shown[1] and "timing: GET /two: " in shown[3]
    assert "GET /three" not in result.stdout


def test_completion_of_commands_and_breakpoint_names() -> None:
    assert completions("") == [
        "next ", "continue ", "break ", "delete ", "breaks ", "explain ", "diagram ", "quit ", "help "]
    assert completions("br") == ["break ", "breaks "]
    assert completions("E") == ["explain "]
    assert completions("break ") == [name + " " for name in BREAKPOINT_NAMES]
    assert completions("break resp") == ["Response "]
    assert completions("b Request Re") == ["Response ", "reset ", "resumed "]  # not again what the line names
    assert completions("break e") == ["EndOfMessage ", "error ", "end "]
    rec = Recorder()
    rec.run("break Data")
    assert completions("delete ", rec) == ["Data ", "error ", "all "]
    assert completions("d Data ", rec) == ["error "]
    assert completions("next ", rec) == []


def test_prompt_and_toolbar_follow_the_walk() -> None:
    rec = Recorder()
    assert plain(step_prompt_text(rec.commands)) == "replay> "
    assert plain(step_toolbar(rec.commands)) == (
        "conn -  client -  server -  step 0  breaks error  engine h11dbg")
    rec.run("break Response", "continue")
    assert plain(step_prompt_text(rec.commands)) == "replay #1 DONE/SEND_BODY> "
    assert plain(step_toolbar(rec.commands)) == (
        "conn #1  client DONE  server SEND_BODY  step 4  breaks error,Response  engine h11dbg")
    rec = Recorder(engine="h11")
    rec.run("continue", "next 100", "next")
    assert plain(step_toolbar(rec.commands)).endswith("step end  breaks error  engine h11")


def test_the_prompt_front_end_with_keystrokes() -> None:
    rec = Recorder()
    with create_pipe_input() as pipe:
        # a half-typed `quit` abandoned with Ctrl-C, Enter (next), a bad line, then Ctrl-D
        pipe.send_text("quit\x03\rnext x\rbreaks\r\x04")
        with create_app_session(input=pipe, output=DummyOutput()):
            run_at_terminal(rec.commands, history=InMemoryHistory())
    assert rec.said[:2] == ["usage: next [N]", "breakpoints: error"]
    assert rec.said[-1] == "end of transcript" and rec.shown[-1].kind == "end"  # Ctrl-D replayed the rest


def test_each_front_end_has_its_history_file_and_a_read_only_home_keeps_it_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert history_path() == tmp_path / "data" / "h11dbg" / "history"
    assert history_path("replay-history") == tmp_path / "data" / "h11dbg" / "replay-history"
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "file"))  # no directory can be made in a file
    warned: list[str] = []
    history = file_history("replay-history", warned.append)
    assert type(history).__name__ == "InMemoryHistory"
    assert len(warned) == 1 and warned[0].startswith("note: history not saved (")


def test_step_mode_with_piped_stdin(tmp_path: Path, engine_name: str) -> None:
    path = tmp_path / "t.h11t"
    write_transcript([
        Chunk(1, "c2s", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        Chunk(1, "s2c", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        Chunk(2, "c2s", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
        Chunk(3, "c2s", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    ], path, Meta(tool="test"))
    script = "next\nbreak Response\ncontinue\nexplain\ncontinue\nexplain\nquit\n"
    result = subprocess.run([sys.executable, "-m", "h11dbg", "replay", str(path), "--engine", engine_name, "--step"],
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


def test_help_lists_every_command_its_aliases_and_the_breakpoint_names(tmp_path: Path) -> None:
    from h11dbg.ui.step import BREAKPOINT_NAMES, COMMANDS

    transcript = Path(__file__).resolve().parents[2] / "transcripts" / "head-curl-uvicorn.h11t"
    result = subprocess.run([sys.executable, "-m", "h11dbg", "replay", str(transcript), "--step"],
                            input="help\nquit\n", capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.replace("replay> ", "").splitlines()[1:]
    for name, command in COMMANDS.items():
        [line] = [line for line in lines if line.startswith(command.usage)]
        assert line.split()[0] == name and command.summary in line
        assert all(f"{alias}" in line for alias in command.aliases)
    assert f"NAME: {', '.join(BREAKPOINT_NAMES)}" in result.stdout
