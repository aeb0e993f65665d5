"""`--record FILE` and `save FILE` through the real CLI: subprocesses, real servers and curl on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pexpect
import pytest

from h11dbg.transcript import Chunk, Close, Open, open_transcript

Run = Callable[..., subprocess.CompletedProcess[str]]
CURL = "/usr/bin/curl"
H11_EVENTS = {"Request", "InformationalResponse", "Response", "Data", "EndOfMessage", "ConnectionClosed"}
# what an event is, independent of who parsed it and when
EVENT_KEYS = ("conn", "direction", "event", "method", "target", "http_version", "headers", "status_code",
              "reason", "length", "data")


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def session_events(lines: list[dict[str, Any]], loopback: bool = False) -> list[dict[str, Any]]:
    """The session's events; in loopback only the sending side's (the receiving side parses each again)."""
    sender = {"c2s": "client", "s2c": "server"}
    picked = [e for e in lines if e.get("kind") == "event"
              and (not loopback or e["actor"] == sender[e["direction"]])]
    return [{k: e[k] for k in EVENT_KEYS if k in e} for e in picked]


def replayed_events(h11dbg: Run, path: Path) -> list[dict[str, Any]]:
    result = h11dbg(["replay", str(path), "--json"])
    assert result.returncode == 0, result.stderr
    return [{k: e[k] for k in EVENT_KEYS if k in e} for e in json_lines(result.stdout)
            if e.get("event") in H11_EVENTS]


def joined(records: list[Any], direction: str, conn: int | None = None) -> bytes:
    return b"".join(r.data for r in records if isinstance(r, Chunk) and r.direction == direction
                    and (conn is None or r.conn == conn))


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_connect_record_replays_to_the_same_events(h11dbg: Run, http_server: Any, tmp_path: Path,
                                                   each_engine: str) -> None:
    path = tmp_path / "get.h11t"
    # read to the server's EOF and close our side too, so both ends of the connection are in the file
    script = "request GET /hello.txt Accept: */*\neom\nrun\nrecv\nnext\nclose\n"
    result = h11dbg(["connect", http_server.address, "--engine", each_engine, "--json", "--record", str(path)],
                    script)
    assert result.returncode == 0, result.stderr
    lines = json_lines(result.stdout)
    assert {"kind": "note", "text": f"recording to {path}"}.items() <= lines[1].items()
    live = session_events(lines)
    assert [e["event"] for e in live] == ["Request", "EndOfMessage", "Response", "Data", "EndOfMessage",
                                          "ConnectionClosed", "ConnectionClosed"]
    assert replayed_events(h11dbg, path) == live

    transcript = open_transcript(path)
    meta = transcript.meta
    records = list(transcript)
    assert meta.tool == "h11dbg 0.1.0 connect" and meta.extra == {"engine": each_engine}
    assert meta.recorded_at and meta.recorded_at.startswith(time.strftime("%Y-", time.gmtime()))
    opened = records[0]
    assert isinstance(opened, Open) and opened.server == http_server.address
    assert meta.peers == f"{opened.client} -> {http_server.address}"
    # exactly the bytes the session logged as sent and as received, read by read
    sent = [e["bytes"] for e in lines if e.get("actor") == "client" and e["kind"] == "event"
            and e["direction"] == "c2s" and e["bytes"]]
    received = [e["bytes"] for e in lines if e["kind"] == "received"]
    from h11dbg.transcript.escaping import escape

    assert [escape(r.data) for r in records if isinstance(r, Chunk) and r.direction == "c2s"] == sent
    assert [escape(r.data) for r in records if isinstance(r, Chunk) and r.direction == "s2c"] == received
    assert [(r.direction, r.reset) for r in records if isinstance(r, Close)] == [("s2c", False), ("c2s", False)]


PEER_SERVER = r'''
import socket, sys, time
port, log = int(sys.argv[1]), sys.argv[2]
listener = socket.create_server(("127.0.0.1", port))
listener.settimeout(20)  # stop by itself if nobody comes
while True:
    conn, _ = listener.accept()  # the first may be a probe that only checks the port is open
    conn.settimeout(5)
    got = b""
    while b"\r\n\r\n" not in got:
        more = conn.recv(65536)
        if not more:
            break
        got += more
    if b"\r\n\r\n" in got:
        break
    conn.close()
reply = [b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\nX-Bin: \xff\r\n", b"\r\nbinary\x00\r\n", b"\n\xfe\x80"]
for piece in reply:
    conn.sendall(piece)
    time.sleep(0.05)
conn.settimeout(5)
try:
    while True:
        more = conn.recv(65536)
        if not more:
            break
        got += more
except TimeoutError:
    got += b"<the client never closed>"
open(log, "wb").write(got)
open(log + ".sent", "wb").write(b"".join(reply))
conn.close()
'''


def test_recorded_bytes_are_exactly_what_the_peer_received_and_sent(h11dbg: Run, tmp_path: Path,
                                                                    serve: Any, port_for: Any) -> None:
    (tmp_path / "peer.py").write_text(PEER_SERVER)
    port = port_for("127.0.0.1")
    log = tmp_path / "server-received.bin"
    server = serve([sys.executable, str(tmp_path / "peer.py"), str(port), str(log)], "127.0.0.1", port, tmp_path)
    path = tmp_path / "exact.h11t"
    script = ("request POST /up Content-Length: 7 X-Odd: caf\\xe9\\x80\ndata \\x00\\r\\n\\xff\\x20 x\n"
              "raw \\x80\\x81\neom\nrun\nclose\n")
    result = h11dbg(["connect", f"127.0.0.1:{port}", "--record", str(path), "--json"], script)
    server.proc.wait(timeout=10)
    records = list(open_transcript(path))
    assert joined(records, "c2s") == log.read_bytes()
    assert joined(records, "s2c") == Path(f"{log}.sent").read_bytes()
    # the three pauses made three reads: the chunk boundaries are the real recv() calls
    assert len([r for r in records if isinstance(r, Chunk) and r.direction == "s2c"]) == 3
    assert result.returncode == 0, result.stderr


def start_listen(args: list[str]) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen([sys.executable, "-m", "h11dbg", "listen", "127.0.0.1:0", "--json", *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    assert first["text"].startswith("listening on 127.0.0.1:"), first
    return proc, int(first["text"].split()[2].rsplit(":", 1)[1])


@pytest.mark.skipif(not Path(CURL).exists(), reason="curl is not installed")
def test_listen_record_with_two_curl_clients(h11dbg: Run, tmp_path: Path) -> None:
    script = tmp_path / "serve.h11"
    script.write_text("run\nresponse 200 Content-Length: 5 X-N: 1\ndata first\neom\naccept\n"
                      "run\nresponse 200 Content-Length: 6 X-N: 2\ndata second\neom\n")
    path = tmp_path / "served.h11t"
    proc, port = start_listen(["--script", str(script), "--record", str(path)])
    try:
        curls = [subprocess.run([CURL, "-s", "-i", "--max-time", "10", f"http://127.0.0.1:{port}/{name}"],
                                capture_output=True, timeout=20) for name in ("one", "two")]
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert [c.returncode for c in curls] == [0, 0]
    transcript = open_transcript(path)
    records = list(transcript)
    opens = [r for r in records if isinstance(r, Open)]
    assert [o.conn for o in opens] == [1, 2]
    assert {o.server for o in opens} == {f"127.0.0.1:{port}"}
    accepted = [e["text"].split()[-1] for e in json_lines(out) if e.get("text", "").startswith("connection ")
                and " from " in e["text"]]
    assert [o.client for o in opens] == accepted
    for conn, curl, name in ((1, curls[0], b"one"), (2, curls[1], b"two")):
        # what curl printed is byte for byte what the transcript says the server sent on that connection
        assert joined(records, "s2c", conn) == curl.stdout
        request = joined(records, "c2s", conn)
        assert request.startswith(b"GET /" + name + b" HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % port)
        assert b"\r\nUser-Agent: curl/" in request and request.endswith(b"\r\n\r\n")
    assert transcript.meta.tool == "h11dbg 0.1.0 listen"
    assert transcript.meta.peers == f"clients -> 127.0.0.1:{port}"
    # the server's side of each close: the transcript holds its FIN, so replay shows it for both; the
    # session sends ConnectionClosed itself only when it saw the client close between messages (before
    # `accept`, if curl's FIN came before it), else it closes the socket at `accept` and at the end
    ours = {"direction": "s2c", "event": "ConnectionClosed"}
    replayed = replayed_events(h11dbg, path)
    assert [e["conn"] for e in replayed if ours.items() <= e.items()] == [1, 2]
    assert [e for e in replayed if not ours.items() <= e.items()] == \
        [e for e in session_events(json_lines(out)) if not ours.items() <= e.items()]


def test_loopback_save_writes_what_replay_reads_back(h11dbg: Run, tmp_path: Path) -> None:
    saved = tmp_path / "lesson.h11t"
    script = tmp_path / "lesson.h11"
    script.write_text(
        "request POST /submit Transfer-Encoding: chunked\ndata hel\ndata lo\neom X-Sum: 5\n"
        "as server\nrun\nresponse 200 Content-Length: 2\ndata ok\neom\nas client\nrun\n"
        f"save {saved}\n"
        "# after the save: not in the file\ncycle\nrequest GET /later\n"
    )
    result = h11dbg(["loopback", "--script", str(script)])
    assert result.returncode == 0, result.stderr
    assert f"saved 1 connection, 6 chunks, 140 bytes to {saved}\n" in result.stdout
    records = list(open_transcript(saved))
    assert b"/later" not in joined(records, "c2s")
    assert joined(records, "s2c") == b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

    json_run = h11dbg(["loopback", "--json"], script.read_text().replace(str(saved), str(tmp_path / "b.h11t")))
    assert json_run.returncode == 0, json_run.stderr
    live = session_events(json_lines(json_run.stdout), loopback=True)
    live = live[: [e.get("target") for e in live].index("/later")]
    assert replayed_events(h11dbg, tmp_path / "b.h11t") == live


def test_demo_record(h11dbg: Run, tmp_path: Path) -> None:
    path = tmp_path / "tour.h11t"
    result = h11dbg(["demo", "--json", "--record", str(path)])
    assert result.returncode == 0, result.stderr
    transcript = open_transcript(path)
    assert transcript.meta.tool == "h11dbg 0.1.0 demo"
    live = session_events(json_lines(result.stdout))
    replayed = replayed_events(h11dbg, path)
    # the session ends with the socket closed by us (a FIN the tour never turned into an event)
    assert replayed[: len(live)] == live
    assert [e["event"] for e in replayed[len(live):]] == ["ConnectionClosed"]


def test_sigterm_mid_session_leaves_a_parseable_transcript(h11dbg: Run, uvicorn_server: Any,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "killed.h11t"
    proc = subprocess.Popen([sys.executable, "-m", "h11dbg", "connect", uvicorn_server.address, "--json",
                             "--record", str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write("request GET /first\neom\nrun\ncycle\nrequest POST /second Content-Length: 9\n"
                         "data half\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 15
        seen: list[dict[str, Any]] = []
        while not any(e.get("event") == "Data" and e.get("actor") == "client" and e["direction"] == "c2s"
                      for e in seen):
            assert time.monotonic() < deadline, seen
            seen.append(json.loads(proc.stdout.readline()))
        # the session waits on stdin in the middle of a request body: kill it there
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGTERM
    records = list(open_transcript(path))
    assert joined(records, "c2s").endswith(b"POST /second HTTP/1.1\r\nHost: %s\r\nContent-Length: 9\r\n\r\nhalf"
                                           % uvicorn_server.address.encode())
    assert joined(records, "s2c").endswith(b"\r\n\r\nGET /first 0 bytes\n")
    assert not any(isinstance(r, Close) for r in records)  # killed: nothing closed cleanly
    replay = h11dbg(["replay", str(path), "--json"])
    assert replay.returncode == 0, replay.stderr
    assert [e["target"] for e in json_lines(replay.stdout) if e.get("event") == "Request"] == ["/first", "/second"]


def test_record_refuses_to_overwrite_before_any_network(h11dbg: Run, tmp_path: Path, port_for: Any) -> None:
    path = tmp_path / "precious.h11t"
    path.write_bytes(b"my recording")
    dead = f"127.0.0.1:{port_for('127.0.0.1')}"
    for args in (["connect", dead], ["listen", "127.0.0.1:0"], ["loopback"], ["demo"]):
        result = h11dbg([*args, "--record", str(path)], "")
        assert result.returncode == 2, (args, result.stderr)  # 2, not 3: refused before connecting
        assert one_line(result.stderr) == f"h11dbg: {path}: exists already; refusing to overwrite it (use --force)"
        assert path.read_bytes() == b"my recording"
    # --force, but the connection fails: the old file stays
    result = h11dbg(["connect", dead, "--record", str(path), "--force"], "")
    assert result.returncode == 3 and path.read_bytes() == b"my recording"
    # a failed connection leaves no empty file behind either
    fresh = tmp_path / "fresh.h11t"
    assert h11dbg(["connect", dead, "--record", str(fresh)], "").returncode == 3
    assert not fresh.exists()
    result = h11dbg(["loopback", "--record", str(path), "--force"], "request GET /\n")
    assert result.returncode == 0, result.stderr
    assert joined(list(open_transcript(path)), "c2s") == b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"
    result = h11dbg(["loopback", "--force"], "")
    assert result.returncode == 2
    assert one_line(result.stderr) == "h11dbg: --force only makes sense with --record FILE"
    result = h11dbg(["loopback", "--record", str(tmp_path)], "")
    assert result.returncode == 2 and "is a directory" in one_line(result.stderr)


def test_save_in_a_script_refuses_an_existing_file(h11dbg: Run, tmp_path: Path) -> None:
    path = tmp_path / "kept.h11t"
    path.write_bytes(b"keep me")
    result = h11dbg(["loopback"], f"request GET /\nsave {path}\nrequest GET /never\n")
    assert result.returncode == 2
    assert one_line(result.stderr) == (f"<stdin>:2: {path}: exists already; refusing to overwrite it "
                                       f"(use save --force {path})")
    assert path.read_bytes() == b"keep me"
    result = h11dbg(["loopback"], f"request GET /\nsave --force {path}\n")
    assert result.returncode == 0, result.stderr
    assert joined(list(open_transcript(path)), "c2s").startswith(b"GET / HTTP/1.1\r\n")
    result = h11dbg(["loopback"], "help save\n")
    assert "save [--force] FILE" in result.stdout


def test_repl_save_and_record_on_a_pty(tmp_path: Path) -> None:
    import os

    recorded, saved = tmp_path / "live.h11t", tmp_path / "snapshots" / "one.h11t"
    saved.parent.mkdir()
    # keep REPL history out of $HOME; without a terminal answering cursor-position requests
    # prompt_toolkit would wait a second for each one
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data"), "PROMPT_TOOLKIT_NO_CPR": "1"}
    child = pexpect.spawn(sys.executable, ["-m", "h11dbg", "loopback", "--record", str(recorded)],
                          encoding="utf-8", timeout=10, dimensions=(50, 200), env=env, cwd=str(tmp_path))
    try:
        child.expect(f"recording to {recorded}")
        child.expect("loopback:client")
        child.sendline("request GET /pty")
        child.expect("SEND_BODY")
        child.send("save snap\t")  # Tab completes the path
        child.expect("hots")  # "snap" became "snapshots"
        child.sendline("/one.h11t")
        child.expect(r"saved 1 connection, 1 chunk, 38 bytes to snapshots/one\.h11t")
        child.sendline("save snapshots/one.h11t")
        child.expect(r"exists already; refusing to overwrite it \(use save --force snapshots/one\.h11t\)")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0
    request = b"GET /pty HTTP/1.1\r\nHost: localhost\r\n\r\n"
    assert joined(list(open_transcript(saved)), "c2s") == request
    # the live file also has the closes the session made when it ended
    live = list(open_transcript(recorded))
    assert joined(live, "c2s") == request
    assert [(r.direction, r.reset) for r in live if isinstance(r, Close)] == [("c2s", False), ("s2c", False)]


def test_tls_connect_records_the_plaintext(h11dbg: Run, tls_server: Any, tmp_path: Path) -> None:
    path = tmp_path / "tls.h11t"
    result = h11dbg(["connect", f"localhost:{tls_server.port}", "--tls", "--cafile", str(tls_server.cafile),
                     "--record", str(path), "--json"], "request GET /secret\neom\nrun\n")
    assert result.returncode == 0, result.stderr
    transcript = open_transcript(path)
    records = list(transcript)
    assert joined(records, "c2s").startswith(b"GET /secret HTTP/1.1\r\n")
    assert joined(records, "s2c").endswith(b"\r\ncontent-length: 20\r\n\r\nGET /secret 0 bytes\n")
    assert transcript.meta.extra["tls"].startswith("TLS TLSv1.3")
    assert transcript.meta.extra["tls"].endswith("; the chunks are the plaintext inside TLS")
    assert [e["event"] for e in replayed_events(h11dbg, path)][:5] == [
        "Request", "EndOfMessage", "Response", "Data", "EndOfMessage"]
