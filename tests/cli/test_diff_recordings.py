"""h11dbg diff A B: two recordings compared exchange by exchange, from the CLI.

The recordings are real: curl (or a raw socket) through ``h11dbg record`` to uvicorn and to
``python -m http.server``; plus committed transcripts/ files and the captures in tests/data.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support.servers import Server

CURL = "/usr/bin/curl"
ROOT = Path(__file__).resolve().parents[2]
TRANSCRIPTS = ROOT / "transcripts"
CAPTURES = ROOT / "tests" / "data" / "captures"
HOST = "Host: h11dbg.test"  # the proxy's port changes between recordings; the Host field need not

Run = Callable[..., subprocess.CompletedProcess[str]]


def _record_curl(recorder: Callable, upstream: int, name: str, *args: str, closes: int = 2) -> Path:
    """Record curl's requests (``PATH`` in args is the proxy's URL) and return the transcript."""
    rec = recorder(upstream, name)
    url = f"http://127.0.0.1:{rec.port}"
    done = subprocess.run([CURL, "-s", "-S", "-o", "/dev/null", "-H", HOST,
                           *(arg.replace("URL", url) for arg in args)], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    rec.wait_for_closes(closes)
    assert rec.stop() == 0
    return Path(rec.output)


def _record_raw(recorder: Callable, upstream: int, name: str, request: bytes) -> Path:
    rec = recorder(upstream, name)
    with socket.create_connection(("127.0.0.1", rec.port), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass
    rec.wait_for_closes(2)
    rec.stop()
    return Path(rec.output)


def _json(result: subprocess.CompletedProcess[str]) -> list[dict]:
    return [json.loads(line) for line in result.stdout.splitlines()]


def _caret_is_under_first_difference(lines: list[str], start: int) -> None:
    """Lines ``start`` and ``start + 1`` are the A and B runs, the next one the caret."""
    a, b, caret = lines[start], lines[start + 1], lines[start + 2]
    assert a.startswith("  A  ") and b.startswith("  B  ") and caret.strip() == "^"
    first = next(i for i, (x, y) in enumerate(zip(a[3:], b[3:], strict=False)) if x != y) + 3
    assert caret.index("^") == first


def test_same_request_twice_is_the_same_with_date_ignored(
        uvicorn_server: Server, recorder: Callable, h11dbg: Run) -> None:
    a = _record_curl(recorder, uvicorn_server.port, "a.h11t", "URL/one")
    time.sleep(1.05)  # HTTP dates count seconds: B's Date differs from A's
    b = _record_curl(recorder, uvicorn_server.port, "b.h11t", "URL/one")
    same = h11dbg(["diff", str(a), str(b)])
    assert same.returncode == 0, same.stderr
    assert same.stdout == "exchange 1: same\n"
    assert same.stderr == f"A {a}: 1 exchange(s), B {b}: 1 exchange(s); 0 differ, 1 same (ignoring Date)\n"

    dated = h11dbg(["diff", str(a), str(b), "--compare-header", "Date"])
    assert dated.returncode == 1
    lines = dated.stdout.splitlines()
    assert lines[0] == "first difference: exchange 1 (A conn 1 #1, B conn 1 #1)"
    assert lines[1].startswith("  response: header date changed: A ")
    _caret_is_under_first_difference(lines, 2)
    assert "(ignoring" not in dated.stderr

    as_json = _json(h11dbg(["diff", str(a), str(b), "--json", "--compare-header", "date"]))
    assert as_json[0]["event"] == "first_difference"
    assert as_json[0]["change"]["what"] == "header" and as_json[0]["change"]["name"] == "date"
    assert as_json[0]["a_bytes"].startswith("date: ") and as_json[0]["a_bytes"] != as_json[0]["b_bytes"]
    assert as_json[-1]["event"] == "summary" and as_json[-1]["ignored_headers"] == []
    assert as_json[-1]["differing"] == 1 and as_json[-1]["a"]["exchanges"] == 1

    # other names can be ignored too (repeatable); here they change nothing
    also = h11dbg(["diff", str(a), str(b), "--ignore-header", "Server", "--ignore-header", "X-None"])
    assert also.returncode == 0 and "(ignoring Date, Server, X-None)" in also.stderr


def test_uvicorn_and_http_server_differ_in_start_line_headers_body_and_states(
        uvicorn_server: Server, http_server: Server, recorder: Callable, h11dbg: Run) -> None:
    a = _record_curl(recorder, uvicorn_server.port, "uvicorn.h11t", "URL/hello.txt")
    b = _record_curl(recorder, http_server.port, "http-server.h11t", "URL/hello.txt")
    result = h11dbg(["diff", str(a), str(b)])
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    # the request is the same: the first divergence is the response's version
    assert lines[:2] == ["first difference: exchange 1 (A conn 1 #1, B conn 1 #1)",
                         "  response: start line differs: A HTTP/1.1 200 OK | B HTTP/1.0 200 OK"]
    assert lines[2:4] == ["  A  HTTP/1.1 200 OK", "  B  HTTP/1.0 200 OK"]
    _caret_is_under_first_difference(lines, 2)
    changes = lines[lines.index("exchange 1: A GET /hello.txt HTTP/1.1 -> HTTP/1.1 200 OK | "
                                "B GET /hello.txt HTTP/1.1 -> HTTP/1.0 200 OK   (A conn 1 #1, B conn 1 #1)") + 1:]
    assert "  response: header server changed: A uvicorn | B SimpleHTTP/" in "\n".join(changes)
    # the same field in another case is said as such, not as one removed and one added
    assert "  response: header name differs only in case: A content-type | B Content-type" in changes
    assert "  response: header name differs only in case: A content-length | B Content-Length" in changes
    assert not any("content-type removed" in line or "Content-type added" in line for line in changes)
    assert any(line.startswith("  response: header Last-Modified added (only in B): ") for line in changes)
    # both bodies are 23 bytes ("GET /hello.txt 0 bytes\n", "hello from http.server\n")
    assert "  response: body differs: A 23 bytes | B 23 bytes, first difference at byte 0" in changes
    assert "  states at the end differ: A client DONE, server DONE | B client MUST_CLOSE, server MUST_CLOSE" in changes
    assert not any("order" in line for line in changes)  # Date is ignored, and the rest agree on order

    # with Date compared, the fields both have come in another order: said as an order difference
    ordered = h11dbg(["diff", str(a), str(b), "--compare-header", "Date"]).stdout.splitlines()
    assert ("  response: header order differs: A date, server, content-type, content-length | "
            "B Server, Date, Content-type, Content-Length") in ordered

    records = _json(h11dbg(["diff", str(a), str(b), "--json"]))
    assert [record["event"] for record in records] == ["first_difference", "exchange", "summary"]
    first = records[0]
    assert first["change"] == {"what": "start-line", "message": "response", "a": "HTTP/1.1 200 OK",
                               "b": "HTTP/1.0 200 OK", "offset": 7,
                               "text": "response: start line differs: A HTTP/1.1 200 OK | B HTTP/1.0 200 OK"}
    assert first["a"]["messages"] == ["GET /hello.txt HTTP/1.1", "HTTP/1.1 200 OK"]
    whats = {(change["what"], change.get("name")) for change in records[1]["changes"]}
    assert {("header-case", "content-type"), ("header", "server"), ("body", None), ("states", None)} <= whats
    body = next(change for change in records[1]["changes"] if change["what"] == "body")
    assert (body["a"], body["b"], body["offset"]) == (23, 23, 0)
    assert records[2]["b"]["format"] == "h11dbg" and records[2]["ignored_headers"] == ["Date"]


def test_framing_chunked_against_content_length(uvicorn_server: Server, recorder: Callable, h11dbg: Run) -> None:
    # the committed transcript POSTs "a chunked request body" chunked; the recording sends it with a length
    b = _record_curl(recorder, uvicorn_server.port, "length.h11t", "--data-binary", "a chunked request body",
                     "URL/upload")
    result = h11dbg(["diff", str(TRANSCRIPTS / "chunked-request-curl-uvicorn.h11t"), str(b), "--ignore-header", "Host"])
    assert result.returncode == 1
    changes = result.stdout.splitlines()
    assert "  request: framing differs: A chunked | B Content-Length 22" in changes
    assert "  request: header Transfer-Encoding removed (only in A): chunked" in changes
    assert "  request: header Content-Length added (only in B): 22" in changes
    assert not any("body differs" in line for line in changes)  # the same 22 bytes, framed two ways
    assert not any(line.startswith("  response") for line in changes)


def test_trailers_compared_like_headers(tmp_path: Path, h11dbg: Run) -> None:
    original = TRANSCRIPTS / "chunked-trailers-curl-node.h11t"
    changed = tmp_path / "trailer-changed.h11t"
    text = original.read_bytes()
    assert text.count(b"X-Checksum: c0ffee") == 1
    changed.write_bytes(text.replace(b"X-Checksum: c0ffee", b"X-Checksum: c0ffef"))  # same length
    result = h11dbg(["diff", str(original), str(changed)])
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[1] == "  response: trailer X-Checksum changed: A c0ffee | B c0ffef"
    assert lines[2:4] == ["  A  X-Checksum: c0ffee", "  B  X-Checksum: c0ffef"]
    _caret_is_under_first_difference(lines, 2)


def test_body_difference_at_its_offset(uvicorn_server: Server, recorder: Callable, h11dbg: Run) -> None:
    body = "x" * 80 + "A" + "y" * 19
    a = _record_curl(recorder, uvicorn_server.port, "a.h11t", "--data-binary", body, "URL/post")
    b = _record_curl(recorder, uvicorn_server.port, "b.h11t", "--data-binary", body.replace("A", "B"), "URL/post")
    result = h11dbg(["diff", str(a), str(b)])
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[1] == "  request: body differs: A 100 bytes | B 100 bytes, first difference at byte 80"
    # a window of the body around the byte: 24 bytes before it, 48 from it
    assert lines[2] == "  A  ..." + "x" * 24 + "A" + "y" * 19
    assert lines[3] == "  B  ..." + "x" * 24 + "B" + "y" * 19
    _caret_is_under_first_difference(lines, 2)
    assert result.stdout.count("exchange 1:") == 1 and "response" not in result.stdout  # the same reply
    first = _json(h11dbg(["diff", str(a), str(b), "--json"]))[0]
    assert first["bytes_from"] == 56 and first["a_bytes"] == "x" * 24 + "A" + "y" * 19
    assert first["change"]["offset"] == 80


def test_an_error_in_one_recording(uvicorn_server: Server, recorder: Callable, h11dbg: Run) -> None:
    good = _record_curl(recorder, uvicorn_server.port, "good.h11t", "--data-binary", "hello", "URL/post")
    smuggled = _record_raw(recorder, uvicorn_server.port, "smuggled.h11t",
                           b"POST /post HTTP/1.1\r\nHost: h11dbg.test\r\nContent-Length: 5\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
    result = h11dbg(["diff", str(good), str(smuggled)])
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[1] == ("  error differs: A no error | B RemoteProtocolError: both Content-Length and "
                        "Transfer-Encoding (c2s, at byte 0)")
    assert lines[2] == "  A  (none)"
    assert lines[3].startswith("  B  POST /post HTTP/1.1\\r\\nHost: h11dbg.test")
    assert "  request: only in A: POST /post HTTP/1.1" in lines
    error = next(change for change in _json(h11dbg(["diff", str(good), str(smuggled), "--json"]))[1]["changes"]
                 if change["what"] == "error")
    assert error["a"] is None
    assert error["b"] == {"direction": "c2s", "error": "RemoteProtocolError",
                          "message": "both Content-Length and Transfer-Encoding", "offset": 0}


def test_differing_exchange_counts(uvicorn_server: Server, recorder: Callable, h11dbg: Run) -> None:
    two = _record_curl(recorder, uvicorn_server.port, "two.h11t", "URL/one", "URL/two")  # one connection
    one = _record_curl(recorder, uvicorn_server.port, "one.h11t", "URL/one")
    result = h11dbg(["diff", str(two), str(one)])
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "first difference: exchange 2 (A conn 1 #2, B absent)",
        "  only in A (B has fewer exchanges)",
        "  A  GET /two HTTP/1.1",
        "  B  (none)",
        "exchange 1: same",
        "exchange 2: A GET /two HTTP/1.1 -> HTTP/1.1 200 OK | B (absent)   (A conn 1 #2, B absent)",
        "  only in A (B has fewer exchanges)",
    ]
    assert f"A {two}: 2 exchange(s), B {one}: 1 exchange(s); 1 differ, 1 same" in result.stderr
    records = _json(h11dbg(["diff", str(two), str(one), "--json"]))
    assert records[1] == {"event": "same_exchanges", "first": 1, "last": 1}
    assert records[2]["b"] is None and records[2]["changes"][0]["what"] == "exchange"
    assert records[2]["changes"][0]["change"] == "removed"


def test_half_a_request_and_a_reset_are_exchanges_of_their_own(
        uvicorn_server: Server, recorder: Callable, h11dbg: Run) -> None:
    request = b"GET /one HTTP/1.1\r\nHost: h11dbg.test\r\n\r\n"

    def record(name: str, then: bytes) -> Path:
        rec = recorder(uvicorn_server.port, name)
        with socket.create_connection(("127.0.0.1", rec.port), timeout=10) as sock:
            sock.sendall(request)
            answer = b""
            while not answer.endswith(b"GET /one 0 bytes\n"):
                answer += sock.recv(65536)
            sock.sendall(then)  # half of a second request, then the client closes
        rec.wait_for_closes(2)
        rec.stop()
        return Path(rec.output)

    whole, cut = record("whole.h11t", b""), record("cut.h11t", b"GET /tw")
    result = h11dbg(["diff", str(whole), str(cut)])
    assert result.returncode == 1
    assert result.stdout.splitlines()[:4] == [
        "first difference: exchange 2 (A absent, B conn 1 #2)",
        "  only in B (A has fewer exchanges): RemoteProtocolError: peer unexpectedly closed connection "
        "(c2s, at byte 47); c2s: stopped at its error (byte 47); s2c: read to its end",
        "  A  (none)",
        # an error at the close: the (up to 48) bytes before it, the cut request at their end
        "  B  GET /one HTTP/1.1\\r\\nHost: h11dbg.test\\r\\n\\r\\nGET /tw",
    ]
    assert "exchange 1: same" in result.stdout


def test_a_server_that_resets(uvicorn_server: Server, port_for: Callable[[str], int], recorder: Callable,
                              h11dbg: Run) -> None:
    answered = _record_curl(recorder, uvicorn_server.port, "answered.h11t", "URL/one")
    rec = recorder(port_for("127.0.0.1"), "reset.h11t")  # nothing listens there: the proxy resets
    done = subprocess.run([CURL, "-s", "-H", HOST, f"http://127.0.0.1:{rec.port}/one"], capture_output=True,
                          timeout=30)
    assert done.returncode != 0
    rec.wait_for_closes(1)
    rec.stop()
    result = h11dbg(["diff", str(answered), str(rec.output)])
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    # curl's request reached the proxy, but the reset came first: B read no request at all
    assert lines[1] == "  request: only in A: GET /one HTTP/1.1"
    assert "  response: only in A: HTTP/1.1 200 OK" in lines
    assert "  ending differs: A normal | B the server reset the connection" in lines


@pytest.mark.parametrize("other", ["http-lo.pcapng", "http-trace.txt"])
def test_the_same_traffic_in_other_formats_is_the_same(other: str, h11dbg: Run) -> None:
    result = h11dbg(["diff", str(CAPTURES / "http-lo.pcap"), str(CAPTURES / other)])
    assert (result.returncode, result.stdout) == (0, "exchanges 1-5: same\n")


def test_a_port_filter_applies_to_both_and_must_match(h11dbg: Run) -> None:
    a, b = str(CAPTURES / "http-lo.pcap"), str(CAPTURES / "http-trace.txt")
    result = h11dbg(["diff", a, b, "--port", "8765"])  # the capture's keep-alive connection: 4 of its 5 exchanges
    assert (result.returncode, result.stdout) == (0, "exchanges 1-4: same\n"), result.stderr
    nothing = h11dbg(["diff", a, b, "--port", "1"])
    assert nothing.returncode == 2
    assert nothing.stderr == f"h11dbg: no connection matched server port 1 in {a}; server ports present: 8765, 8766\n"


def test_standard_input_as_one_recording(h11dbg: Run) -> None:
    pcap, trace = CAPTURES / "http-lo.pcap", CAPTURES / "http-trace.txt"
    result = h11dbg(["diff", "-", str(pcap)], stdin=trace.read_text())
    assert (result.returncode, result.stdout) == (0, "exchanges 1-5: same\n"), result.stderr
    assert result.stderr.startswith("A <stdin>: 5 exchange(s), B ")


def test_a_lossy_input_is_said_and_its_losses_show(h11dbg: Run) -> None:
    result = h11dbg(["diff", str(CAPTURES / "http-lo.pcap"), str(CAPTURES / "http-trace-ascii.txt")])
    assert result.returncode == 1
    # --trace-ascii turns the body's line feed into '.'
    assert result.stdout.splitlines()[1] == ("  response: body differs: A 13 bytes | B 13 bytes, "
                                             "first difference at byte 12")
    assert result.stderr.startswith("B: note: curl-trace-ascii input is lossy: ")


def test_unreadable_input_is_one_located_line(tmp_path: Path, h11dbg: Run) -> None:
    good = TRANSCRIPTS / "keepalive-curl-uvicorn.h11t"
    broken = tmp_path / "broken.h11t"
    broken.write_bytes(b"h11dbg-transcript 1\nc2s 1 at 0 len 2\n| ok\nc2s 1 at 0 len 5\n| short\\x\n")
    for args in ([str(good), str(broken)], [str(broken), str(good)]):
        result = h11dbg(["diff", *args])
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"h11dbg: {broken}:5: ")
    missing = h11dbg(["diff", str(good), str(tmp_path / "nope.pcap")])
    assert missing.returncode == 2
    assert missing.stderr == f"h11dbg: {tmp_path / 'nope.pcap'}: cannot open: No such file or directory\n"


def test_engine_comparison_keeps_its_spellings(h11dbg: Run) -> None:
    file = str(TRANSCRIPTS / "http10-keepalive-curl-node.h11t")
    new = h11dbg(["diff", "--engines", file])
    old = h11dbg(["diff", file])  # one FILE: the engine comparison, as before
    named = h11dbg(["diff", "--engines", "h11dbg,h11", file])
    assert new.returncode == old.returncode == named.returncode == 1  # HTTP/1.0 keep-alive: h11 closes
    assert new.stdout == old.stdout == named.stdout
    assert "connection 1: the engines differ at step" in new.stdout
    assert new.stderr.startswith("engines h11dbg and h11: 1 connection(s) differ")
    same = h11dbg(["diff", file, "--engines", "h11,h11"])
    assert same.returncode == 0 and "identical" in same.stdout


@pytest.mark.parametrize(("args", "message"), [
    ([], "diff takes two recordings (diff A B) or one FILE to compare engines on (diff --engines FILE); "
         "got 0 file(s)"),
    (["a", "b", "c"], "got 3 file(s)"),
    (["--engines", "a", "b"], "--engines takes two of h11dbg,h11"),
    (["a", "b", "--engines"], "got 2 file(s)"),
    (["--engines", "h11dbg,h11"], "diff --engines compares one FILE through two engines: give the FILE"),
    (["a", "--ignore-header", "Server"], "--ignore-header and --compare-header apply to diff A B"),
])
def test_usage_errors(args: list[str], message: str, h11dbg: Run) -> None:
    result = h11dbg(["diff", *args])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_large_bodies_are_compared_whole(tmp_path: Path, h11dbg: Run) -> None:
    """Past the first MiB of a body only its size and hash are kept: a difference there is found
    and said as such; before it, at its byte."""
    from h11dbg.transcript import Chunk, Close, Meta, write_transcript

    size = 3 << 20
    body = bytes(range(256)) * (size // 256)

    def recording(name: str, data: bytes) -> Path:
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data)
        records = [Chunk(1, "c2s", b"GET /big HTTP/1.1\r\nHost: h11dbg.test\r\n\r\n"), Chunk(1, "s2c", head)]
        records += [Chunk(1, "s2c", data[at : at + 65536]) for at in range(0, len(data), 65536)]
        path = tmp_path / name
        write_transcript([*records, Close(1, "c2s"), Close(1, "s2c")], path, Meta(tool="test"))
        return path

    a = recording("a.h11t", body)
    late = recording("late.h11t", body[: 2 << 20] + b"!" + body[(2 << 20) + 1 :])
    early = recording("early.h11t", body[:1000] + b"!" + body[1001:])
    assert h11dbg(["diff", str(a), str(recording("same.h11t", body))]).returncode == 0
    result = h11dbg(["diff", str(a), str(late)])
    assert result.returncode == 1
    assert result.stdout.splitlines()[1] == (f"  response: body differs: A {size} bytes | B {size} bytes, "
                                             "past the first 1048576 bytes (compared by hash there)")
    assert _json(h11dbg(["diff", str(a), str(late), "--json"]))[0]["change"]["offset"] is None
    result = h11dbg(["diff", str(a), str(early)])
    assert result.stdout.splitlines()[1].endswith("first difference at byte 1000")
    _caret_is_under_first_difference(result.stdout.splitlines(), 2)


def test_a_long_field_is_shown_around_its_first_difference(tmp_path: Path, h11dbg: Run) -> None:
    from h11dbg.transcript import Chunk, Close, Meta, write_transcript

    def recording(name: str, cookie: bytes) -> Path:
        path = tmp_path / name
        write_transcript([Chunk(1, "c2s", b"GET / HTTP/1.1\r\nHost: x\r\nCookie: " + cookie + b"\r\n\r\n"),
                          Close(1, "c2s")], path, Meta(tool="test"))
        return path

    cookie = b"session=" + b"0123456789" * 20
    a = recording("a.h11t", cookie)
    b = recording("b.h11t", cookie[:150] + b"X" + cookie[151:])
    lines = h11dbg(["diff", str(a), str(b)]).stdout.splitlines()
    assert lines[1].startswith("  request: header Cookie changed: A session=0123")
    # "Cookie: " and 150 bytes before the difference: 24 of them shown, then 48 from it
    shown = (b"Cookie: " + cookie)[158 - 24 : 158 + 48].decode()
    assert lines[2] == "  A  ..." + shown + "..."
    assert lines[3] == "  B  ..." + shown[:24] + "X" + shown[25:] + "..."
    _caret_is_under_first_difference(lines, 2)
