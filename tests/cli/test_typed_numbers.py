"""Numbers typed by a person.  Durations: every option and session command that takes seconds refuses
NaN, infinity, huge, negative and non-numbers with one line and exit 2 (they used to give tracebacks
from the socket layer, ValueError or OverflowError, or were taken silently) — issue 14 item 4.  Ports,
`replay --step`'s `next N` and `explain status CODE`: thousands of digits, or digits of another
script, are refused as any bad value is (int() used to raise ValueError past 4300 digits)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BAD = ["nan", "inf", "1e20", "-1", "abc"]


def run_h11dbg(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "h11dbg", *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def assert_usage_error(result: subprocess.CompletedProcess[str], where: str, value: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(where), result.stderr
    assert "must be a number of seconds" in lines[0] and f"not {value!r}" in lines[0], lines[0]


@pytest.mark.parametrize("value", BAD + ["0"])
@pytest.mark.parametrize("command", [["connect", "127.0.0.1:9", "--timeout"],
                                     ["listen", "127.0.0.1:0", "--timeout"],
                                     ["listen", "127.0.0.1:0", "--accept-timeout"],
                                     ["loopback", "--timeout"]])
def test_duration_options_refuse_what_is_not_a_usable_number(tmp_path: Path, command: list[str], value: str) -> None:
    script = tmp_path / "never.h11"
    script.write_text("run\n")
    result = run_h11dbg(*command, value, "--script", str(script))
    assert_usage_error(result, f"h11dbg: {command[-1]} must be", value)


@pytest.mark.parametrize("value", BAD)
def test_record_idle_timeout_takes_zero_but_nothing_unusable(tmp_path: Path, value: str) -> None:
    output = tmp_path / "never.h11t"
    result = run_h11dbg("record", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "-o", str(output),
                        f"--idle-timeout={value}")
    assert_usage_error(result, "h11dbg: --idle-timeout must be", value)
    assert "0 or more" in result.stderr and not output.exists()


@pytest.mark.parametrize("command", ["run", "recv"])
@pytest.mark.parametrize("value", BAD + ["0"])
def test_session_commands_refuse_what_is_not_a_usable_number(tmp_path: Path, command: str, value: str) -> None:
    script = tmp_path / "session.h11"
    script.write_text(f"request GET /\neom\n{command} {value}\n")
    result = run_h11dbg("loopback", "--script", str(script))
    assert_usage_error(result, f"{script}:3: SECONDS must be", value)


@pytest.mark.parametrize("value", ["-inf", "1e400", "1000001", "1_e3", ""])
def test_more_unusable_numbers(tmp_path: Path, value: str) -> None:
    script = tmp_path / "never.h11"
    script.write_text("run\n")
    assert_usage_error(run_h11dbg("loopback", "--timeout", value, "--script", str(script)),
                       "h11dbg: --timeout must be", value)


def test_usable_durations_still_work(tmp_path: Path) -> None:
    script = tmp_path / "session.h11"
    script.write_text("request GET /\neom\nas server\nrun 0.5\nresponse 204\nas client\nrecv 1e-1\nrun 2\n")
    result = run_h11dbg("loopback", "--timeout", "1e3", "--script", str(script))
    assert result.returncode == 0, result.stderr
    assert "Response HTTP/1.1 204 No Content" in result.stdout


HUGE = "9" * 5000


@pytest.mark.parametrize(("command", "said"), [
    (["connect", f"127.0.0.1:{HUGE}"], "h11dbg: bad port '99999"),
    (["connect", "127.0.0.1:\u00b2"], "h11dbg: bad port '\u00b2'"),
    (["listen", HUGE], "h11dbg: bad port '99999"),
    (["explain", "status", HUGE], "h11dbg: no status '99999"),
])
def test_huge_or_foreign_numbers_are_bad_values(command: list[str], said: str) -> None:
    result = run_h11dbg(*command, "--script", "/dev/null") if command[0] != "explain" else run_h11dbg(*command)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(said), result.stderr[:200]


def test_a_port_with_thousands_of_leading_zeros_is_that_port() -> None:
    """Leading zeros are fine, as in the protocol's numbers: port 9 (nothing listens; exit 3)."""
    result = run_h11dbg("connect", "127.0.0.1:" + "0" * 5000 + "9", "--script", "/dev/null")
    assert result.returncode == 3 and "connecting to 127.0.0.1:9:" in result.stderr, result.stderr[:200]


def test_replay_step_next_with_a_huge_count() -> None:
    transcript = Path(__file__).resolve().parents[2] / "transcripts" / "head-curl-uvicorn.h11t"
    result = subprocess.run([sys.executable, "-m", "h11dbg", "replay", "--step", str(transcript)],
                            input=f"next {HUGE}\nnext \u00b2\nnext 1\nquit\n", capture_output=True, text=True,
                            timeout=20)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout.count("usage: next [N]") == 2 and "open 127.0.0.1:" in result.stdout
