"""`h11dbg loopback` in batch mode: both sides in one process, driven through click."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from h11dbg.cli import main

TEACHING_SCRIPT = """\
# the client asks
request POST /submit Content-Length: 5
data hello
eom
# the server reads one event at a time
as server
recv
next
next
next
response 200 Transfer-Encoding: chunked
data ok
eom
as client
run
states
"""


def test_loopback_json_schema(each_engine: str) -> None:
    result = CliRunner().invoke(main, ["loopback", "--engine", each_engine, "--json"], input=TEACHING_SCRIPT)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    for line in lines:
        assert {"conn", "kind", "seq", "time"} <= set(line)
    evs = [e for e in lines if "event" in e]
    assert [(e["event"], e["direction"], e["actor"]) for e in evs] == [
        ("Request", "c2s", "client"), ("Data", "c2s", "client"), ("EndOfMessage", "c2s", "client"),
        ("Request", "c2s", "server"), ("Data", "c2s", "server"), ("EndOfMessage", "c2s", "server"),
        ("Response", "s2c", "server"), ("Data", "s2c", "server"), ("EndOfMessage", "s2c", "server"),
        ("Response", "s2c", "client"), ("Data", "s2c", "client"), ("EndOfMessage", "s2c", "client"),
    ]
    for e in evs:
        assert set(e["states"]) == {"client", "server"}
    assert evs[7]["bytes"] == "2\\r\\nok\\r\\n" and evs[7]["data"] == "ok" and evs[7]["length"] == 2
    assert evs[8]["bytes"] == "0\\r\\n\\r\\n" and evs[8]["headers"] == []
    assert evs[-1]["states"] == {"client": "DONE", "server": "DONE"}
    # `states` output is for people: it never breaks the JSON Lines
    assert not any("connection:" in line for line in result.output.splitlines())


def test_loopback_plain_output_and_explain(tmp_path: Path, h11dbg: Any) -> None:
    script = tmp_path / "teach.h11"
    script.write_text("request GET / Connection: close\neom\nexplain\n")
    result = h11dbg(["loopback", "--script", str(script)])
    assert result.returncode == 0, result.stderr
    assert "client sent Request GET / HTTP/1.1" in result.stdout
    assert "Connection: close" in result.stdout
    assert "client (we) is MUST_CLOSE" in result.stdout
    assert "last rule applied:" in result.stdout


def test_loopback_protocol_errors_exit_1_and_keep_going() -> None:
    script = "data early\nas server\nraw HTTP/1.1 200 OK\\r\\n\\r\\n\nas client\nstates\n"
    result = CliRunner().invoke(main, ["loopback", "--json"], input=script)
    assert result.exit_code == 1, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    [error] = [e for e in lines if e.get("event") == "error"]
    assert error["error"] == "LocalProtocolError" and error["states"]["client"] == "ERROR"
    raw = next(e for e in lines if e["kind"] == "sent")
    assert raw["bytes"] == "HTTP/1.1 200 OK\\r\\n\\r\\n" and raw["direction"] == "s2c"


def test_remote_protocol_error_has_offset_fields_on_h11dbg_engine() -> None:
    script = "as client\nraw GET / HTTP/1.1\\r\\nHost: a\\r\\nBad Header: x\\r\\n\\r\\n\nas server\nrun\n"
    result = CliRunner().invoke(main, ["loopback", "--engine", "h11dbg", "--json"], input=script)
    assert result.exit_code == 1, result.output
    [error] = [json.loads(x) for x in result.output.splitlines() if '"event":"error"' in x]
    assert error["error"] == "RemoteProtocolError" and error["direction"] == "c2s"
    assert error["offset"] == len("GET / HTTP/1.1\r\nHost: a\r\nBad")  # the space in the field name
    assert error["states"]["client"] == "ERROR"
    assert (error["rule"], error["section"], error["offending"]) == (
        "field-name-whitespace", "RFC 9112 §5.1", "Bad Header: x")
    assert {"role": "client", "old_state": "IDLE", "new_state": "ERROR"}.items() <= error["transitions"][-1].items()


def test_usage_error_stops_the_script_with_location() -> None:
    result = CliRunner().invoke(main, ["loopback"], input="request GET /\nas nobody\neom\n")
    assert result.exit_code == 2
    assert "<stdin>:2: usage: as client|server" in result.output
    assert "sent EndOfMessage" not in result.output


def test_run_timeout_in_loopback_is_exit_3() -> None:
    result = CliRunner().invoke(main, ["loopback"], input="as server\nrun\n")
    assert result.exit_code == 3
    assert "timed out waiting for the peer" in result.output


def test_stdin_that_is_not_utf8_is_a_located_usage_error() -> None:
    result = CliRunner().invoke(main, ["loopback"], input=b"states\ndata \xff\n")
    assert result.exit_code == 2
    assert "<stdin>:2: not UTF-8 text (byte 5 of the line is \\xff)" in result.output
    assert "Traceback" not in result.output


def test_raw_and_data_send_a_files_bytes_exactly(tmp_path: Path, h11dbg: Any) -> None:
    # a hand-made malformed request (bare LF, NUL, a high byte) replayed into the peer as it is
    malformed = b"GET /a\x00\xff HTTP/1.1\nHost: x\r\n\r\n"
    (tmp_path / "bad.http").write_bytes(malformed)
    (tmp_path / "body.bin").write_bytes(bytes(range(256)))
    script = tmp_path / "raw.h11dbg"
    script.write_text(f"raw @{tmp_path / 'bad.http'}\nas server\nrecv\n"
                      f"as client\nrequest POST / Content-Length: 256\ndata @{tmp_path / 'body.bin'}\n")
    result = h11dbg(["loopback", "--json", "--script", str(script)])
    assert result.returncode == 0, result.stderr  # raw bytes move no state, and recv only reads them
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    sent = [e for e in lines if e["kind"] == "sent"]
    received = [e for e in lines if e["kind"] == "received" and e["actor"] == "server"]
    assert [e["bytes"] for e in sent] == ["GET /a\\x00\\xff HTTP/1.1\\nHost: x\\r\\n\\r\\n"]
    assert received[0]["bytes"] == sent[0]["bytes"]  # byte for byte across the socket
    body = next(e for e in lines if e.get("event") == "Data" and e["actor"] == "client")
    assert body["length"] == 256 and body["data"].startswith("\\x00\\x01\\x02")
    missing = h11dbg(["loopback", "--script", str(script.with_name("none.h11dbg"))])
    assert missing.returncode == 2
    gone = tmp_path / "gone.h11dbg"
    gone.write_text(f"raw @{tmp_path / 'absent.bin'}\n")
    refused = h11dbg(["loopback", "--script", str(gone)])
    assert refused.returncode == 2
    assert refused.stderr == f"{gone}:1: cannot read {tmp_path / 'absent.bin'}: No such file or directory\n"


def test_a_header_name_that_is_not_ascii_is_refused_not_joined_to_the_value_before(h11dbg: Any) -> None:
    result = h11dbg(["loopback", "--json"], "request GET / X-A: 1 X-Ünï: 1\n")
    assert result.returncode == 2
    assert result.stderr == ("<stdin>:1: header name 'X-Ünï' is not ASCII: a field name is a token "
                             "(RFC 9110 §5.1); `raw` sends any bytes\n")
    assert not [line for line in result.stdout.splitlines() if '"kind":"event"' in line]  # nothing was sent
    fine = h11dbg(["loopback", "--json"], "request GET / X-A: café\n")  # a value may be any text
    assert fine.returncode == 0, fine.stderr
    [request] = [json.loads(line) for line in fine.stdout.splitlines() if '"event":"Request"' in line]
    assert ["X-A", "caf\\xc3\\xa9"] in request["headers"]


def test_the_loopback_lesson_in_docs_cli_runs_as_printed(tmp_path: Path, h11dbg: Any) -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text(encoding="utf-8")
    lesson = docs.split("A loopback lesson (`h11dbg loopback --script lesson.h11`):", 1)[1]
    block = lesson.split("```", 2)[1].strip("\n")
    assert "recv          # the raw bytes, exactly" in block  # end-of-line comments, as printed
    script = tmp_path / "lesson.h11"
    script.write_text(block + "\n")
    result = h11dbg(["loopback", "--script", str(script)])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "server received Request POST /submit HTTP/1.1" in result.stdout
    assert "client received EndOfMessage with 1 trailer(s)" in result.stdout
    assert "last rule applied:" in result.stdout


def test_end_of_line_comments_outside_quotes_and_never_in_data(h11dbg: Any) -> None:
    script = 'request POST / Content-Length: 14 X-A: "a # b"   # the value keeps its #\ndata body # and all\n'
    result = h11dbg(["loopback", "--json"], script)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    request = next(e for e in events if e.get("event") == "Request")
    assert ["X-A", "a # b"] in request["headers"]
    body = next(e for e in events if e.get("event") == "Data")
    assert body["data"] == "body # and all"


def test_an_event_that_cannot_be_built_moves_no_state_and_one_refused_does(h11dbg: Any) -> None:
    # docs/json.md: an invalid header value never reaches the state machine; an event not allowed does
    result = h11dbg(["loopback", "--json"], "request GET / X: a\\r\\nInjected: 1\ndata early\n")
    assert result.returncode == 1
    built, refused = [json.loads(line) for line in result.stdout.splitlines() if '"kind":"error"' in line]
    assert (built["rule"], built["states"]["client"]) == ("field-value-chars", "IDLE")
    assert (refused["rule"], refused["states"]["client"]) == ("event-not-allowed", "ERROR")
    text = h11dbg(["loopback"], "data early\n").stdout
    assert text.count("in state IDLE the client may send: Request, ConnectionClosed") == 1  # said once


# -- hints that work when followed (issue 12 item 2) -------------------------------------------------

PIPELINED = ("raw GET /a HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /b HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n\n"
             "as server\nrecv\nnext\nnext\nnext\n")


def _loopback(script: str, *options: str) -> Any:
    return CliRunner().invoke(main, ["loopback", *options], input=script)


def test_paused_with_a_response_owed_hints_the_response_and_following_it_works() -> None:
    hinted = _loopback(PIPELINED)
    assert hinted.exit_code == 0, hinted.output
    assert "PAUSED: the peer's message is complete; `response 200` answers the request" in hinted.output
    assert "`cycle`" not in hinted.output
    # following the hints: the response's body is owed next, then the client has the move (its
    # machine never saw the raw requests, so `cycle`, which resets both, is never offered)
    followed = _loopback(PIPELINED + "response 200 Content-Length: 2\nexplain\ndata xx\neom\nexplain\n")
    assert followed.exit_code == 0, followed.output
    assert "next: `data xx` sends the 2 bytes Content-Length still owes" in followed.output
    assert "next: `as client` acts as the client, whose move it is" in followed.output
    assert "`cycle`" not in followed.output


def test_explain_in_error_never_suggests_next_and_its_suggestion_works() -> None:
    script = "as server\nraw BAD\\r\\n\\r\\n\nas client\nrecv\nnext\nexplain\nclose\n"
    result = _loopback(script)
    assert result.exit_code == 1, result.output  # the peer's protocol error, found once
    assert "next: `close` closes our side: nothing more can be read from a server in ERROR" in result.output
    assert "`next`" not in result.output
    assert result.output.count("ERROR RemoteProtocolError") == 1
    assert "client sent ConnectionClosed" in result.output


def test_run_as_a_server_that_owes_the_response_says_so(tmp_path: Path) -> None:
    result = _loopback("request GET /\nas server\nrun\nrun\n", "--json")
    assert result.exit_code == 0, result.output
    notes = [json.loads(line) for line in result.output.splitlines() if '"note"' in line]
    nothing = [n for n in notes if n.get("text", "").startswith("nothing to run")]
    assert nothing and nothing[-1]["text"] == "nothing to run: the peer is DONE"
    assert nothing[-1]["suggestions"] == [{"command": "response 200", "reason": "answers the request"}]


def test_hex_works_in_scripts_and_pipes_text_and_json(tmp_path: Path) -> None:
    script = "request GET /hex\nhex\nas server\nrecv\nhex off\nnext\nhex on\nlog\nhex sideways\n"
    text = _loopback(script)
    assert text.exit_code == 2  # the last line is a usage error, located
    assert "<stdin>:9: usage: hex [on|off]" in text.output
    assert "hex dumps on\n" in text.output and "hex dumps off\n" in text.output
    # only the bytes received while hex dumps were on are dumped, and `log` redraws them with hex on
    log = text.output.split("hex dumps on\n")[-1]
    before_log = text.output[: len(text.output) - len(log)]
    first_row = "00000000  47 45 54 20 2f 68 65 78 20 48 54 54 50 2f 31 2e  GET /hex HTTP/1."
    assert before_log.count(first_row) == 1
    assert log.count(first_row) == 3  # sent, read, parsed
    assert "00000020  73 74 0d 0a 0d 0a" in text.output
    file = tmp_path / "hex.script"
    file.write_text("hex on\nrequest GET /hex\n")
    as_json = CliRunner().invoke(main, ["loopback", "--json", "--script", str(file)])
    assert as_json.exit_code == 0, as_json.output
    [request] = [json.loads(line) for line in as_json.output.splitlines() if '"Request"' in line]
    assert bytes.fromhex(request["hex"]) == b"GET /hex HTTP/1.1\r\nHost: localhost\r\n\r\n"


def test_an_engine_that_fails_on_its_own_is_an_error_entry_not_a_traceback() -> None:
    # found by the hint walk with --engine h11: h11 0.16 raises AttributeError while refusing a
    # request that reaches a server whose machine is in ERROR, parsing it or sending it
    for script in ("request GET /\nas server\nrequest GET /\nrun\n",
                   "as server\nresponse 204\nas client\nrun\nrequest GET /\n"):
        result = _loopback(script, "--engine", "h11")
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert result.exit_code == 1, result.output
        assert "ERROR AttributeError" in result.output
