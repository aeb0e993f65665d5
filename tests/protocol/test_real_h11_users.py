"""Real h11 users (uvicorn as a server, httpx as a client, curl as an outside client) running on the
engine under test in h11's place.

The swap happens in subprocesses, so the real h11 this test process imports stays untouched: the driver
script below puts ``h11dbg.protocol`` into ``sys.modules['h11']`` (and its ``_connection`` module into
``sys.modules['h11._connection']``, which uvicorn imports a constant from) before uvicorn or httpx is
imported.  Each run also reports which module the live connection objects came from, so a swap that
silently did not happen fails the test instead of testing h11 twice.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.servers import read_head

from h11dbg.engines import ENGINE_NAMES

REPO = Path(__file__).resolve().parents[2]
CURL = "/usr/bin/curl"

DRIVER = r'''
import asyncio, gc, json, socket, sys, threading

engine, mode = sys.argv[1], sys.argv[2]
if engine == "h11dbg":
    import h11dbg.protocol as ours
    import h11dbg.protocol._connection as ours_connection
    sys.modules["h11"] = ours
    sys.modules["h11._connection"] = ours_connection
import h11


async def read_body(receive):
    body, more = b"", True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    return body


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = await read_body(receive)
    path = scope["path"]

    async def reply(status, payload, headers=()):
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", str(len(payload)).encode()), *headers]})
        await send({"type": "http.response.body", "body": payload})

    if path == "/echo":
        await reply(200, body, [(b"x-method", scope["method"].encode()),
                                (b"x-received", str(len(body)).encode())])
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x-stream", b"yes")]})
        for i in range(5):
            await send({"type": "http.response.body", "body": b"part%d;" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/nocontent":
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    elif path == "/engine":
        # The H11Protocol objects uvicorn made for the live connections, and where their
        # Connection class came from: proof that uvicorn really runs on the swapped engine.
        protocols = [o for o in gc.get_objects() if type(o).__name__ == "H11Protocol"]
        info = {"h11": h11.__name__,
                "conn_modules": sorted({type(p.conn).__module__ for p in protocols}),
                "client": list(scope["client"]), "http_version": scope["http_version"]}
        await reply(200, json.dumps(info).encode(), [(b"content-type", b"application/json")])
    else:
        await reply(200, b"hello from " + path.encode())


def serve():
    import uvicorn
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    config = uvicorn.Config(app, http="h11", lifespan="off", log_level="warning",
                            access_log=False, timeout_keep_alive=30)
    server = uvicorn.Server(config)

    def stop_when_told():
        # The parent closes our stdin to stop us; a hard cap keeps a lost server from lingering.
        timer = threading.Timer(90, lambda: setattr(server, "should_exit", True))
        timer.daemon = True
        timer.start()
        sys.stdin.read()
        server.should_exit = True

    threading.Thread(target=stop_when_told, daemon=True).start()
    print(sock.getsockname()[1], flush=True)
    asyncio.run(server.serve(sockets=[sock]))


def client(url):
    import httpcore
    import httpx
    out = {"h11": h11.__name__, "httpcore_h11": httpcore._sync.http11.h11.__name__}
    with httpx.Client(base_url=url, timeout=10) as c:
        r = c.get("/")
        out["get"] = [r.status_code, r.text, r.http_version]
        payload = bytes(range(256)) * 40
        r = c.post("/echo", content=payload)
        out["post"] = [r.status_code, r.content == payload, r.headers["x-received"]]
        with c.stream("GET", "/stream") as r:
            out["stream"] = [r.status_code, r.headers.get("transfer-encoding"),
                             [chunk.decode() for chunk in r.iter_raw()]]
        r = c.head("/")
        out["head"] = [r.status_code, r.headers.get("content-length"), r.content.decode()]
        r = c.get("/nocontent")
        out["nocontent"] = [r.status_code, r.content.decode(), r.headers.get("content-length")]
        r = c.post("/echo", content=b"y" * 5000, headers={"Expect": "100-continue"})
        out["expect"] = [r.status_code, r.headers["x-received"]]
        r = c.post("/echo", content=iter([b"first,", b"second," * 500, b"last"]))
        out["chunked_upload"] = [r.status_code, r.request.headers.get("transfer-encoding"),
                                 r.headers["x-received"], r.content[:6].decode(), r.content[-4:].decode()]
        engine_info = [c.get("/engine").json() for _ in range(3)]
        out["client_ports"] = [info["client"][1] for info in engine_info]
        out["server"] = engine_info[-1]
        pool = c._transport._pool
        out["pool_connections"] = len(pool.connections)
        out["client_conn_module"] = type(pool.connections[0]._connection._h11_state).__module__
    print(json.dumps(out))


def fetch(url):
    # One GET with a fresh client: against an HTTP/1.0 server the body ends when the server closes.
    import httpx
    with httpx.Client(timeout=10) as c:
        r = c.get(url)
        conn = c._transport._pool.connections
        module = type(conn[0]._connection._h11_state).__module__ if conn else None
        print(json.dumps({"status": r.status_code, "http_version": r.http_version,
                          "body": r.content.decode("latin-1"), "h11": h11.__name__, "conn_module": module,
                          "content_length": r.headers.get("content-length")}))


if mode == "serve":
    serve()
elif mode == "fetch":
    fetch(sys.argv[3])
else:
    client(sys.argv[3])
'''


@pytest.fixture(scope="module", params=ENGINE_NAMES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("driver") / "swap_driver.py"
    path.write_text(DRIVER)
    return path


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("HTTP_PROXY", None)
    env.pop("http_proxy", None)
    env.pop("ALL_PROXY", None)
    env["NO_PROXY"] = "*"
    return env


class Server:
    def __init__(self, proc: subprocess.Popen[str], port: int, stderr_path: Path) -> None:
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}"
        self.stderr_path = stderr_path

    def log(self) -> str:
        return self.stderr_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def server(engine_name: str, driver: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    stderr_path = tmp_path_factory.mktemp("uvicorn") / "stderr.txt"
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, str(driver), engine_name, "serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, env=child_env(),
        )
    try:
        lines: queue.Queue[str] = queue.Queue()
        assert proc.stdout is not None
        threading.Thread(target=lambda: lines.put(proc.stdout.readline()), daemon=True).start()
        try:
            first = lines.get(timeout=20)
        except queue.Empty:
            pytest.fail(f"uvicorn did not start in 20 s: {stderr_path.read_text()}")
        assert first.strip().isdigit(), f"uvicorn failed to start: {first!r} {stderr_path.read_text()}"
        yield Server(proc, int(first), stderr_path)
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def curl(server: Server, *args: str, timeout: float = 15) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(
        [CURL, "--silent", "--show-error", "--noproxy", "*", "--max-time", "10", *args],
        capture_output=True, timeout=timeout,
    )
    assert proc.returncode == 0, f"curl {args} failed: {proc.stderr!r}\nserver log:\n{server.log()}"
    return proc


def test_httpx_client_and_uvicorn_server_on_the_engine(
    server: Server, driver: Path, engine_name: str
) -> None:
    proc = subprocess.run(
        [sys.executable, str(driver), engine_name, "client", server.url],
        capture_output=True, text=True, timeout=60, env=child_env(),
    )
    assert proc.returncode == 0, f"client failed:\n{proc.stderr}\nserver log:\n{server.log()}"
    out: dict[str, Any] = json.loads(proc.stdout)
    module = "h11dbg.protocol" if engine_name == "h11dbg" else "h11"
    package = module.split(".")[0]  # "h11dbg" also starts with "h11": compare whole first components
    # The swap really happened, on both sides, down to the live connection objects.
    assert out["h11"] == module and out["httpcore_h11"] == module
    assert out["client_conn_module"].split(".")[0] == package, out["client_conn_module"]
    assert out["server"]["h11"] == module
    assert out["server"]["conn_modules"], "no live uvicorn H11Protocol found"
    assert {m.split(".")[0] for m in out["server"]["conn_modules"]} == {package}

    assert out["get"] == [200, "hello from /", "HTTP/1.1"]
    assert out["post"] == [200, True, "10240"]
    # How the parts group into reads depends on timing; their concatenation does not.
    assert out["stream"][:2] == [200, "chunked"]
    assert "".join(out["stream"][2]) == "part0;part1;part2;part3;part4;"
    assert out["head"] == [200, str(len("hello from /")), ""]
    assert out["nocontent"] == [204, "", None]
    assert out["expect"] == [200, "5000"]
    assert out["chunked_upload"] == [200, "chunked", str(6 + 7 * 500 + 4), "first,", "last"]
    # Keep-alive: every request in the run went over one connection.
    assert len(set(out["client_ports"])) == 1 and out["pool_connections"] == 1
    assert "Traceback" not in server.log(), server.log()


def test_curl_against_uvicorn_on_the_engine(server: Server, tmp_path: Path) -> None:
    url = server.url
    # Three requests on one connection (keep-alive), counted by curl itself.
    proc = curl(server, "-w", "[%{num_connects}]", f"{url}/a", f"{url}/b", f"{url}/engine")
    text = proc.stdout.decode()
    assert text.startswith("hello from /a[1]hello from /b[0]")
    info = json.loads(text[len("hello from /a[1]hello from /b[0]"):].rsplit("[", 1)[0])
    assert info["http_version"] == "1.1"

    proc = curl(server, "-i", "--data-binary", "posted body", f"{url}/echo")
    head, _, body = proc.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"x-method: POST" in head
    assert body == b"posted body"

    proc = curl(server, "-I", f"{url}/")
    assert proc.stdout.startswith(b"HTTP/1.1 200 OK") and b"content-length: 12" in proc.stdout.lower()

    proc = curl(server, "-i", "--raw", f"{url}/stream")
    head, _, body = proc.stdout.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert body == b"".join(b"6\r\npart%d;\r\n" % i for i in range(5)) + b"0\r\n\r\n"

    proc = curl(server, "-i", "--http1.0", f"{url}/stream")
    head, _, body = proc.stdout.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower() and b"connection: close" in head.lower()
    assert body == b"part0;part1;part2;part3;part4;"

    upload = tmp_path / "upload.bin"
    upload.write_bytes(b"z" * 3000)
    proc = curl(server, "-v", "-H", "Expect: 100-continue", "--data-binary", f"@{upload}", f"{url}/echo")
    assert b"HTTP/1.1 100 Continue" in proc.stderr
    assert proc.stdout == b"z" * 3000

    proc = curl(server, "-H", "Transfer-Encoding: chunked", "--data-binary", f"@{upload}",
                "-D", "-", f"{url}/echo")
    assert b"x-received: 3000" in proc.stdout.lower() and proc.stdout.endswith(b"z" * 3000)

    proc = curl(server, "-i", f"{url}/nocontent")
    assert proc.stdout.startswith(b"HTTP/1.1 204 No Content")
    assert "Traceback" not in server.log(), server.log()


def test_httpx_on_the_engine_reads_an_http10_server(engine_name: str, driver: Path, tmp_path: Path,
                                                    port_for: Callable[[str], int], serve: Callable[..., Any]) -> None:
    """``python -m http.server`` answers HTTP/1.0: the swapped httpx must read its bodies to EOF."""
    root = tmp_path / "site"
    root.mkdir()
    payload = "".join(chr(32 + i % 90) for i in range(50_000))
    (root / "big.txt").write_text(payload)
    port = port_for("127.0.0.1")
    serve([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)], "127.0.0.1", port, root)
    proc = subprocess.run(
        [sys.executable, str(driver), engine_name, "fetch", f"http://127.0.0.1:{port}/big.txt"],
        capture_output=True, text=True, timeout=60, env=child_env(),
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    package = "h11dbg" if engine_name == "h11dbg" else "h11"
    assert out["h11"].split(".")[0] == package
    assert out["status"] == 200 and out["http_version"] == "HTTP/1.0"
    assert out["body"] == payload and out["content_length"] == str(len(payload))


def test_httpx_on_the_engine_reads_a_body_delimited_by_close(engine_name: str, driver: Path) -> None:
    """A server that sends no Content-Length and ends the body by closing (HTTP/1.0 style)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(20)
    port = listener.getsockname()[1]
    body = b"until-close;" * 3000

    def serve_one() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            if not read_head(conn).endswith(b"\r\n\r\n"):
                return
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n")
            for i in range(0, len(body), 7000):  # several writes, so several reads on the other side
                conn.sendall(body[i:i + 7000])

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        proc = subprocess.run(
            [sys.executable, str(driver), engine_name, "fetch", f"http://127.0.0.1:{port}/"],
            capture_output=True, text=True, timeout=60, env=child_env(),
        )
        assert proc.returncode == 0, proc.stderr
        out = json.loads(proc.stdout)
        assert out["h11"].split(".")[0] == ("h11dbg" if engine_name == "h11dbg" else "h11")
        assert out["status"] == 200 and out["http_version"] == "HTTP/1.0" and out["content_length"] is None
        assert out["body"].encode("latin-1") == body
    finally:
        listener.close()
        thread.join(timeout=10)
