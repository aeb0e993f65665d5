"""`h11dbg explain` as a reference: headers, statuses, states and every rule the engine can report,
each rule shown with an example the engine runs on the spot."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from h11dbg.cli import main
from h11dbg.output import reference
from h11dbg.protocol import RULES

PROTOCOL = Path(__file__).resolve().parents[2] / "h11dbg" / "protocol"
NOT_RULES = {"content-length"}  # a header name the engine compares, not a rule


def explain(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["explain", *args])
    return result.exit_code, result.output


def rules_in_the_engine() -> set[str]:
    """Every rule id the engine's source names: the kebab-case strings it passes around."""
    found = set()
    for path in PROTOCOL.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", node.value)):
                found.add(node.value)
    return found - NOT_RULES


def test_every_rule_the_engine_can_report_is_in_the_reference() -> None:
    engine = rules_in_the_engine()
    assert set(RULES) <= engine
    assert engine - set(reference.RULE_EXAMPLES) == set(), "rules the reference does not explain"
    assert set(reference.RULE_EXAMPLES) - engine == set(), "rules the engine no longer has"


@pytest.mark.parametrize("rule", sorted(reference.RULE_EXAMPLES))
def test_each_rule_example_makes_the_engine_report_it(rule: str) -> None:
    code, out = explain("rule", rule)
    assert code == 0, out
    said = out[out.index("the engine says:") :].split("run it yourself:")[0]
    if rule in ("body-data", "informational-response"):  # a move that stays put: no Transition
        assert " stays " in said
    elif rule in RULES:  # a move: the transition line names the rule
        assert f"({rule})" in said and "->" in said
    else:  # an error: the engine's own rule, section and explanation
        assert f"rule: {rule}\n" in said and "section: RFC " in said and "Error: " in said


@pytest.mark.parametrize("rule", ["content-length-and-transfer-encoding", "trailers-need-chunked",
                                  "max-incomplete-event-size", "next-cycle"])
def test_the_printed_command_runs_as_printed(rule: str) -> None:
    code, out = explain("rule", rule)
    command = out.splitlines()[-1].strip()
    assert command.endswith("| h11dbg loopback")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60, env=env,
                          check=False)
    assert "Traceback" not in done.stderr
    assert (f"({rule})" if rule in RULES else f"rule: {rule}") in done.stdout


@pytest.mark.parametrize(("kind", "name", "first"), [
    ("header", "content-length", "Content-Length (header) [RFC 9112 §6.2]"),
    ("header", "TRANSFER-ENCODING", "Transfer-Encoding (header) [RFC 9112 §6.1, §7.1]"),
    ("status", "304", "304 Not Modified (status) [RFC 9110 §15.4.5]"),
    ("status", "101", "101 Switching Protocols (status) [RFC 9110 §15.2.2]"),
    ("state", "must_close", "MUST_CLOSE (state)"),
])
def test_topics(kind: str, name: str, first: str) -> None:
    code, out = explain(kind, name)
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == first
    assert any(line.startswith("  framing and connection: ") for line in lines) or kind == "state"


def test_every_state_says_what_each_role_may_do_and_where_it_goes() -> None:
    for state in reference.STATES:
        code, out = explain("state", state)
        assert code == 0 and out.startswith(f"{state} (state)")
        assert "may send:" in out
    _, send_response = explain("state", "SEND_RESPONSE")
    assert "CLIENT:" not in send_response and "SERVER:" in send_response  # the server's state only
    _, error = explain("state", "ERROR")
    assert "any state -> ERROR on a protocol error (protocol-error)" in error


def test_lists_and_mistakes() -> None:
    code, out = explain("header")
    assert code == 0 and {"Content-Length", "Transfer-Encoding", "Connection", "Expect", "Upgrade"} <= {
        line.split()[0] for line in out.splitlines()}
    code, out = explain("rule")
    assert code == 0 and len(out.splitlines()) == len(reference.RULE_EXAMPLES)
    done = subprocess.run([sys.executable, "-m", "h11dbg", "explain", "rule", "bare-c"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert done.stderr == ("h11dbg: no rule 'bare-c' in the reference: did you mean bare-cr? "
                           "`h11dbg explain rule` lists them\n")
    for args in (["status", "999"], ["header", "X-Nope"], ["colour", "red"]):
        code, out = explain(*args)
        assert code == 2 and out.count("\n") == 1 and "Traceback" not in out


TRANSCRIPTS = Path(__file__).resolve().parents[2] / "transcripts"


def h11dbg(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "h11dbg", *args], input=stdin, capture_output=True, text=True,
                          timeout=60, check=False)


def test_the_reference_speaks_inline_in_a_replay() -> None:
    out = h11dbg("replay", str(TRANSCRIPTS / "expect-100-continue-curl-node.h11t")).stdout.splitlines()
    request = next(n for n, line in enumerate(out) if " c2s Request POST " in line)
    interim = next(n for n, line in enumerate(out) if " s2c InformationalResponse HTTP/1.1 100 " in line)
    notes = [line.strip() for line in out if line.strip().startswith("note: ")]
    assert notes == [f"note: {reference.INLINE_FIELDS[b'expect'][1]}", f"note: {reference.INLINE_STATUSES[100]}"]
    assert request < out.index(next(line for line in out if "Expect: 100-continue" in line and "note" in line))
    assert out.index(next(line for line in out if "note: 100 Continue" in line)) > interim
    replayed = h11dbg("replay", "--json", str(TRANSCRIPTS / "expect-100-continue-curl-node.h11t")).stdout
    assert "note" not in replayed  # JSON carries the facts, not the words


def test_the_reference_speaks_inline_in_a_live_session() -> None:
    script = ("request GET / Connection: close\neom\nas server\nrun\nresponse 304\neom\n"
              "as client\nrun\n")
    out = h11dbg("loopback", stdin=script).stdout
    # the request sent and received, and the response received (the engine adds Connection: close to
    # the bytes of the 304: the event the server sent has no such field, the one the client read has)
    assert out.count(f"note: {reference.INLINE_FIELDS[b'connection'][1]}") == 3
    assert out.count(f"note: {reference.INLINE_STATUSES[304]}") == 2
    assert "note: Upgrade" not in out and "note: Expect" not in out
