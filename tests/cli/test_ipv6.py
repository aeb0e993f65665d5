"""IPv6 end to end (docs/robustness.md "Remaining" named it): ``listen`` on [::1] answering real curl,
``record`` on [::1] between curl and ``python -m http.server --bind ::1`` whose recording replays with
the bracketed addresses, and a reset from an IPv6 peer said as it is over IPv4.  (``connect [::1]:PORT``
is test_live_connect.py's.)"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from support.servers import free_port, stop_process, wait_for_port

from bench.faults import Child, reset

pytestmark = pytest.mark.timeout(120)


def test_listen_on_ipv6_loopback_answers_curl(tmp_path: Path) -> None:
    script = tmp_path / "serve.h11"
    script.write_text("run\nresponse 200 Content-Length: 3\ndata v6\\n\neom\n")
    child = Child(["listen", "[::1]:0", "--script", str(script), "--accept-timeout", "20"])
    try:
        port = int(re.search(r"listening on \[::1\]:(\d+)", child.wait_line(r"listening on")).group(1))  # type: ignore[union-attr]
        got = subprocess.run(["curl", "-sS", "-g", f"http://[::1]:{port}/six"], capture_output=True, timeout=30)
        assert got.returncode == 0 and got.stdout == b"v6\n", got
        assert child.wait(30) == 0
    finally:
        child.kill()
    out = "\n".join(text for _, _, text in child.lines)
    assert re.search(r"GET /six", out) and "Host: [::1]:" in out, out


def test_record_on_ipv6_between_curl_and_http_server_replays(tmp_path: Path) -> None:
    (tmp_path / "hello.txt").write_bytes(b"hello over v6\n")
    upstream_port = free_port("::1")
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "::1", str(upstream_port)],
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = tmp_path / "v6.h11t"
    child = Child(["record", "--listen", "[::1]:0", "--upstream", f"[::1]:{upstream_port}", "-o", str(out)])
    try:
        wait_for_port("::1", upstream_port, server)
        port = int(re.search(r"\[::1\]:(\d+)", child.wait_line(r"^recording ")).group(1))  # type: ignore[union-attr]
        got = subprocess.run(["curl", "-sS", "-g", f"http://[::1]:{port}/hello.txt"], capture_output=True, timeout=30)
        assert got.returncode == 0 and got.stdout == b"hello over v6\n", got
        child.wait_line(r"^conn 1: closed")
        child.proc.terminate()
        assert child.wait(15) == 0
    finally:
        child.kill()
        stop_process(server)
    replay = subprocess.run([sys.executable, "-m", "h11dbg", "replay", str(out), "--json"], capture_output=True,
                            text=True, timeout=60)
    assert replay.returncode == 0, replay.stderr
    lines = [json.loads(line) for line in replay.stdout.splitlines()]
    assert any("[::1]:" in json.dumps(line) for line in lines), lines[:3]
    events = [(line.get("direction"), line.get("event")) for line in lines if "event" in line]
    assert ("c2s", "Request") in events and ("s2c", "Response") in events, events
    body = "".join(line["data"] for line in lines if line.get("event") == "Data" and line["direction"] == "s2c")
    assert body == "hello over v6\\n", body  # escaped as docs/json.md says


def test_a_reset_from_an_ipv6_server_is_said_at_once() -> None:
    with socket.socket(socket.AF_INET6) as listener:
        listener.bind(("::1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        child = Child(["connect", f"[::1]:{port}", "--timeout", "10"], stdin="request GET /\neom\nrun\n")
        try:
            conn, _ = listener.accept()
            conn.settimeout(10)
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello")
            reset(conn)  # SO_LINGER 0: a reset, not a FIN
            code = child.wait(30)
        finally:
            child.kill()
    err = [text for _, stream, text in child.lines if stream == "err"]
    assert code == 3, child.lines
    assert err and re.search(r"network error: receiving from \[::1\]:\d+: connection reset by peer", err[-1]), err
