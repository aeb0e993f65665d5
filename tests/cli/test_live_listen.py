"""`h11dbg listen` in batch mode with real curl as the client."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

CURL = "/usr/bin/curl"
pytestmark = pytest.mark.skipif(not Path(CURL).exists(), reason="curl is not installed")


def start_listen(args: list[str]) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    """Start `h11dbg listen ... --json` and read up to its "listening on" note."""
    proc = subprocess.Popen([sys.executable, "-m", "h11dbg", "listen", *args, "--json"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    assert first["kind"] == "note" and first["text"].startswith("listening on 127.0.0.1:"), first
    return proc, first


def port_of(note: dict[str, Any]) -> int:
    return int(note["text"].split()[2].rsplit(":", 1)[1])


def finish(proc: subprocess.Popen[str]) -> tuple[int, list[dict[str, Any]], str]:
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise
    return proc.returncode, [json.loads(line) for line in out.splitlines()], err


def test_curl_gets_the_scripted_response(tmp_path: Path, each_engine: str) -> None:
    body = "hello, curl\n"
    script = tmp_path / "serve.h11"
    script.write_text(
        "run\n"
        f"response 200 Content-Type: text/plain Content-Length: {len(body)} X-Served-By: h11dbg\n"
        "data hello, curl\\n\n"
        "eom\n"
    )
    proc, note = start_listen(["127.0.0.1:0", "--engine", each_engine, "--script", str(script)])
    port = port_of(note)
    curl = subprocess.run([CURL, "-s", "-i", "--max-time", "10", f"http://127.0.0.1:{port}/greet?x=1"],
                          capture_output=True, timeout=20)
    code, lines, err = finish(proc)
    assert curl.returncode == 0, curl.stderr
    head, _, got = curl.stdout.partition(b"\r\n\r\n")
    assert got == body.encode()
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"X-Served-By: h11dbg" in head
    assert code == 0, err
    request = next(e for e in lines if e.get("event") == "Request")
    assert request["target"] == "/greet?x=1" and request["direction"] == "c2s"
    assert any(name.lower() == "user-agent" and value.startswith("curl/") for name, value in request["headers"])
    assert any(e["kind"] == "note" and e["text"].startswith("connection 1 from 127.0.0.1:") for e in lines)
    # the run ended by itself once curl closed the connection
    assert lines[-1].get("event") == "ConnectionClosed"
    assert lines[-1]["states"]["client"] == "CLOSED"


def test_curl_post_with_chunked_body_and_step_by_step_server(tmp_path: Path) -> None:
    script = tmp_path / "serve.h11"
    script.write_text("run\nrun\nresponse 201 Content-Length: 0\neom\n")
    proc, note = start_listen(["127.0.0.1:0", "--script", str(script)])
    curl = subprocess.run(
        [CURL, "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "-H",
         "Transfer-Encoding: chunked", "--data-binary", "abc", f"http://127.0.0.1:{port_of(note)}/upload"],
        capture_output=True, text=True, timeout=20)
    code, lines, err = finish(proc)
    assert curl.stdout == "201"
    assert code == 0, err
    data = [e for e in lines if e.get("event") == "Data"]
    assert "".join(e["data"] for e in data) == "abc"
    assert all(e["direction"] == "c2s" for e in data)


def test_expect_100_continue_with_curl(tmp_path: Path) -> None:
    script = tmp_path / "serve.h11"
    script.write_text("run\ninfo 100\nrun\nresponse 200 Content-Length: 2\ndata ok\neom\n")
    proc, note = start_listen(["127.0.0.1:0", "--script", str(script)])
    started = time.monotonic()
    curl = subprocess.run(
        [CURL, "-s", "--max-time", "10", "--expect100-timeout", "8", "-H", "Expect: 100-continue",
         "--data-binary", "abc", f"http://127.0.0.1:{port_of(note)}/"],
        capture_output=True, timeout=20)
    code, lines, err = finish(proc)
    assert curl.stdout == b"ok"
    assert time.monotonic() - started < 5  # curl sent its body on our 100, not after its own timeout
    assert code == 0, err
    kinds = [e.get("event") or e.get("text", "")[:40] for e in lines]
    waits = next(i for i, k in enumerate(kinds) if k.startswith("the client sent Expect: 100-continue"))
    assert kinds[waits - 1] == "Request" and kinds[waits + 1] == "InformationalResponse"


def test_accept_serves_a_second_client(tmp_path: Path) -> None:
    answer = "run\nresponse 200 Content-Length: 3\ndata {}\neom\n"
    script = tmp_path / "serve.h11"
    script.write_text(answer.format("one") + "accept\n" + answer.format("two"))
    proc, note = start_listen(["127.0.0.1:0", "--script", str(script)])
    url = f"http://127.0.0.1:{port_of(note)}/"
    got = [subprocess.run([CURL, "-s", "--max-time", "10", url], capture_output=True, timeout=20).stdout
           for _ in range(2)]
    code, lines, err = finish(proc)
    assert got == [b"one", b"two"]
    assert code == 0, err
    assert sorted({e["conn"] for e in lines if "event" in e}) == [1, 2]
    assert any(e.get("text") == "connection 1 closed; waiting for the next client" for e in lines)


def test_listen_gives_up_when_no_client_connects(tmp_path: Path) -> None:
    script = tmp_path / "serve.h11"
    script.write_text("run\n")
    proc, _ = start_listen(["127.0.0.1:0", "--script", str(script), "--accept-timeout", "0.3"])
    started = time.monotonic()
    code, _, err = finish(proc)
    assert time.monotonic() - started < 10
    assert code == 3
    assert "Traceback" not in err and "no client connected" in err


def test_listen_port_in_use_is_a_network_error() -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "h11dbg", "listen", str(port)], input="",
                                capture_output=True, text=True, timeout=20)
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert f"listening on 127.0.0.1:{port}" in result.stderr and len(result.stderr.splitlines()) == 1
