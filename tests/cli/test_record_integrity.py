"""h11dbg record's integrity under a kill: SIGKILL mid-stream leaves a file ``replay`` reads, holding a
prefix of what crossed each way and every byte that reached the other end; and a smoke run of
bench/integrity.py (concurrent connections, kills, SIGTERM and SIGINT) finds no byte lost or changed."""

from __future__ import annotations

import contextlib
import json
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from h11dbg.transcript import Chunk, Open, open_transcript

ROOT = Path(__file__).resolve().parents[2]
BODY = 2 * 1024 * 1024


class _Ends:
    """What one connection's client sent and received and its upstream end received and sent."""

    def __init__(self) -> None:
        self.client_sent = bytearray()
        self.client_received = bytearray()
        self.upstream_received = bytearray()
        self.upstream_sent = bytearray()
        self.port = 0


def _pump(sock: socket.socket, data: bytes, sent: bytearray) -> None:
    with contextlib.suppress(OSError):
        for start in range(0, len(data), 16384):
            sock.sendall(data[start:start + 16384])
            sent += data[start:start + 16384]


def _drain(sock: socket.socket, received: bytearray, head_in: threading.Event | None = None) -> None:
    with contextlib.suppress(OSError):
        while data := sock.recv(65536):
            received += data
            if head_in is not None and b"\r\n\r\n" in received:
                head_in.set()
    if head_in is not None:
        head_in.set()


def _answer(sock: socket.socket, data: bytes, sent: bytearray, head_in: threading.Event) -> None:
    head_in.wait(15)  # the response starts once the request's head is in, its body still coming
    _pump(sock, data, sent)


def test_sigkill_mid_stream_leaves_a_readable_prefix_of_what_crossed(recorder: Callable, tmp_path: Path) -> None:
    rng = random.Random(14)
    upstream = socket.create_server(("127.0.0.1", 0))
    upstream.settimeout(10)
    rec = recorder(upstream.getsockname()[1])
    ends = [_Ends() for _ in range(8)]
    threads: list[threading.Thread] = []
    sockets: list[socket.socket] = []
    for index, end in enumerate(ends):  # each upload and download runs at once, both mid-body at the kill
        client = socket.create_connection(("127.0.0.1", rec.port), timeout=10)
        server, _ = upstream.accept()
        server.settimeout(10)
        end.port = client.getsockname()[1]
        upload = b"POST /%d HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (index, BODY) + rng.randbytes(BODY)
        download = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BODY + rng.randbytes(BODY)
        sockets += [client, server]
        head_in = threading.Event()
        threads += [threading.Thread(target=_pump, args=(client, upload, end.client_sent)),
                    threading.Thread(target=_drain, args=(client, end.client_received)),
                    threading.Thread(target=_drain, args=(server, end.upstream_received, head_in)),
                    threading.Thread(target=_answer, args=(server, download, end.upstream_sent, head_in))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while rec.output.stat().st_size < 4 * BODY and time.monotonic() < deadline:
        time.sleep(0.005)
    crossed = sum(len(e.upstream_received) + len(e.client_received) for e in ends)
    assert rec.stop(signal.SIGKILL) == -signal.SIGKILL
    for thread in threads:
        thread.join(15)
        assert not thread.is_alive()
    for sock in [*sockets, upstream]:
        sock.close()
    assert 0 < crossed < 2 * len(ends) * BODY, "the kill was not mid-stream"

    replayed = subprocess.run([sys.executable, "-m", "h11dbg", "replay", str(rec.output)], capture_output=True,
                              text=True, timeout=120)
    # every connection is mid-body at the end; the file may end inside the record being written (a
    # kill mid-write): then replay says so in a note and reads every record before it
    assert replayed.returncode == 0, replayed.stderr
    assert "Traceback" not in replayed.stderr
    summary = f"{len(ends)} connection(s), all parsed cleanly"
    assert replayed.stderr.startswith(summary + "\n") or replayed.stderr.startswith(
        summary + "; h11dbg input is lossy (1 note(s) above)\n"), replayed.stderr

    in_file: dict[int, dict[str, bytearray]] = {}
    by_conn: dict[int, dict[str, bytearray]] = {}
    for record in open_transcript(rec.output):
        if isinstance(record, Open):
            port = int((record.client or ":0").rsplit(":", 1)[1])
            by_conn[record.conn] = in_file[port] = {"c2s": bytearray(), "s2c": bytearray()}
        elif isinstance(record, Chunk):
            by_conn[record.conn][record.direction] += record.data
    for end in ends:
        recorded = in_file[end.port]
        for sent, kept, arrived in ((end.client_sent, recorded["c2s"], end.upstream_received),
                                    (end.upstream_sent, recorded["s2c"], end.client_received)):
            assert sent.startswith(kept)  # the file holds what was sent, unchanged ...
            assert kept.startswith(arrived)  # ... and everything that reached the other end: nothing lost


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_the_integrity_bench_finds_no_byte_lost_or_changed(tmp_path: Path, tls: bool) -> None:
    """With ``--tls`` the clients and the upstream speak TLS to record (--tls --upstream-tls): the bytes
    compared are the plaintext at each end and in the file, the half-closes are close_notify alerts."""
    figures = tmp_path / "integrity.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "integrity.py"), "--connections", "30", "--kills", "1",
         "--streams", "20", "--stream-mib", "1", "--run-limit", "30", "--json", str(figures),
         *(["--tls"] if tls else [])],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    runs = {run["run"].removesuffix(" TLS"): run for run in json.loads(figures.read_text())}
    assert all(run["run"].endswith(" TLS") == tls for run in runs.values())
    assert list(runs) == ["concurrent 30", "kill mid-body 1", "kill mid-write 1", "SIGTERM mid-body",
                          "SIGINT mid-write"]
    for run in runs.values():
        assert run["ok"] and run["mismatches"] == 0 and run["lost"] == 0 and run["stuck"] == 0, run
        assert not run["read_error"] and run["bytes_c2s"] > 0 and run["bytes_s2c"] > 0
        assert run["peak_rss"] > 0 and run["peak_threads"] > 1
    concurrent = runs["concurrent 30"]
    assert set(concurrent["kinds"]) == {"keep-alive", "large", "chunked", "pipelined", "half-closed",
                                        "client-reset", "upstream-reset"}
    assert concurrent["recorder_exit"] == 0 and concurrent["replay_exit"] == 1  # the reset ones: bodies cut short
    for name in ("kill mid-body 1", "kill mid-write 1"):
        assert runs[name]["recorder_exit"] == -signal.SIGKILL and runs[name]["replay_exit"] in (0, 1)
        assert runs[name]["crossed_at_stop"] > 0
    for name in ("SIGTERM mid-body", "SIGINT mid-write"):
        assert runs[name]["recorder_exit"] == 0 and runs[name]["replay_exit"] == 0 and not runs[name]["notes"]
    assert "0 mismatches, 0 bytes lost, 0 stuck, 0 failed" in done.stdout.splitlines()[-1]
