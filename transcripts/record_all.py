#!/usr/bin/env python3
"""Record the sample transcripts in this directory from real clients and real servers.

    .venv/bin/python transcripts/record_all.py            # all of them, into this directory
    .venv/bin/python transcripts/record_all.py head-curl-uvicorn pipelining-raw-node
    .venv/bin/python transcripts/record_all.py --out /tmp/t head-curl-uvicorn

Each scenario starts ``h11dbg record`` between a client (curl, httpx, http.client, node's http
module, or a raw socket for what well-behaved clients never send) and a server (python -m
http.server, uvicorn, a node http server), runs the client, and stops the recorder with SIGTERM.
Needs curl, node and uvicorn; CI never runs this, it only replays the committed files.
"""

from __future__ import annotations

import base64
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))  # the suite's ASGI app and server helpers, used here too
from support.asgi_echo import uvicorn_command  # noqa: E402
from support.servers import free_port, wait_for_port  # noqa: E402

PYTHON = sys.executable
OUT = HERE  # where the transcripts (and the curl traces of curl_traces_expect_100) go: --out
H11DBG = str(Path(PYTHON).with_name("h11dbg"))
CURL = "curl"

NODE_SERVER = r"""
const http = require('http');
const crypto = require('crypto');
const zlib = require('zlib');
const server = http.createServer((req, res) => {
  const parts = [];
  req.on('data', (c) => parts.push(c));
  req.on('end', () => {
    const body = Buffer.concat(parts);
    if (req.url === '/chunked-trailers') {
      res.writeHead(200, {'Content-Type': 'text/plain', 'Trailer': 'X-Checksum'});
      res.write('first chunk\n');
      setTimeout(() => {
        res.write('second chunk\n');
        res.addTrailers({'X-Checksum': 'c0ffee'});
        res.end();
      }, 20);
    } else if (req.url === '/nocontent') {
      res.writeHead(204);
      res.end();
    } else if (req.url === '/etag') {
      if (req.headers['if-none-match'] === '"v1"') {
        res.writeHead(304, {'ETag': '"v1"'});
        res.end();
      } else {
        res.writeHead(200, {'ETag': '"v1"', 'Content-Length': 5});
        res.end('fresh');
      }
    } else if (req.url.startsWith('/binary')) {
      const bytes = Buffer.from(Array.from({length: 256}, (_, i) => 255 - i));
      res.writeHead(200, {'Content-Type': 'application/octet-stream', 'Content-Length': bytes.length,
                          'Set-Cookie': ['sid=x9; Path=/; HttpOnly', 'theme=dark; Max-Age=60']});
      res.end(bytes);
    } else if (req.url === '/gzip') {
      const coded = zlib.gzipSync(Buffer.from('a text body sent gzip-coded\n'.repeat(20)));
      res.writeHead(200, {'Content-Type': 'text/plain; charset=utf-8', 'Content-Encoding': 'gzip',
                          'Content-Length': coded.length});
      res.end(coded);
    } else {
      const reply = Buffer.from(`${req.method} ${req.url} ${body.length} bytes\n`);
      res.writeHead(200, {'Content-Type': 'text/plain', 'Content-Length': reply.length});
      res.end(reply);
    }
  });
});
server.on('upgrade', (req, socket) => {
  const accept = crypto.createHash('sha1')
    .update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
               'Sec-WebSocket-Accept: ' + accept + '\r\n\r\n');
  socket.on('data', (frame) => {
    if ((frame[0] & 0x0f) === 0x8) { socket.end(Buffer.from([0x88, 0x00])); return; }
    const length = frame[1] & 0x7f, mask = frame.subarray(2, 6);
    const text = Buffer.from(frame.subarray(6, 6 + length).map((b, i) => b ^ mask[i % 4]));
    const out = Buffer.concat([Buffer.from('echo: '), text]);
    socket.write(Buffer.concat([Buffer.from([0x81, out.length]), out]));
  });
});
server.keepAliveTimeout = 2000;
server.listen(+process.argv[2], '127.0.0.1');
"""

NODE_CLIENT = r"""
const http = require('http');
const agent = new http.Agent({keepAlive: true, maxSockets: 1});
const port = +process.argv[process.argv.length - 1];
function get(path) {
  return new Promise((resolve, reject) => {
    http.get({host: '127.0.0.1', port, path, agent}, (res) => {
      res.resume();
      res.on('end', resolve);
    }).on('error', reject);
  });
}
(async () => { await get('/first'); await get('/second'); agent.destroy(); })();
"""

# A server that breaks HTTP on purpose: it answers each request head at once with a response whose
# header block has a line without a colon, then reads what the client still sends until it closes.
BROKEN_SERVER = r"""
import socket, sys
listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    conn, _ = listener.accept()
    with conn:
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                data = conn.recv(65536)
                if not data:
                    break
                head += data
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nno colon here\r\n\r\nhello")
                while conn.recv(65536):
                    pass
        except OSError:
            pass
"""


class Servers:
    def __init__(self, work: Path) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        www = work / "www"
        www.mkdir()
        (www / "hello.txt").write_text("hello, world\n")
        (www / "big.txt").write_bytes(b"".join(b"line %06d of a one-mebibyte text body...\n" % i
                                              for i in range(1 << 15))[: 1 << 20])
        (work / "server.js").write_text(NODE_SERVER)
        self.http_server = self._start(lambda port: [PYTHON, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                                     "--directory", str(www)])
        self.uvicorn = self._start(uvicorn_command)
        self.node = self._start(lambda port: ["node", str(work / "server.js"), str(port)])
        self.broken = self._start(lambda port: [PYTHON, "-c", BROKEN_SERVER, str(port)])

    def _start(self, argv: Callable[[int], list[str]]) -> int:
        port = free_port()
        proc = subprocess.Popen(argv(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        wait_for_port("127.0.0.1", port, proc)
        return port

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
            proc.wait(timeout=10)


def record(name: str, upstream: int, description: str, client: Callable[[int], None], out: Path) -> Path:
    output = out / f"{name}.h11t"
    proc = subprocess.Popen([H11DBG, "record", "--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{upstream}",
                             "-o", str(output), "--force", "--description", description],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert proc.stderr is not None
    ready, _, _ = select.select([proc.stderr], [], [], 15)
    line = proc.stderr.readline().decode() if ready else ""
    if not line.startswith("recording "):
        raise SystemExit(f"{name}: h11dbg record did not start: {line!r}")
    port = int(line.split()[1].rsplit(":", 1)[1])
    try:
        client(port)
        time.sleep(0.3)  # let the last closes arrive
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    print(f"recorded {output.name} ({output.stat().st_size} bytes)")
    return output


# -- clients --------------------------------------------------------------------------------------

def run(*argv: str) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


def curl(*args: str) -> Callable[[int], None]:
    return lambda port: run(CURL, "-s", "-S", *[a.replace("PORT", str(port)) for a in args])


def raw(*sends: bytes, idle: float = 0.5, half_close: bool = False) -> Callable[[int], None]:
    """A raw socket client: each send is one write (so one chunk), then read until the server
    closes or stays quiet for ``idle`` seconds."""

    def client(port: int) -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            for data in sends:
                sock.sendall(data)
                time.sleep(0.05)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
            sock.settimeout(idle)
            try:
                while sock.recv(65536):
                    pass
            except (TimeoutError, ConnectionResetError):
                pass

    return client


def curl_binary_and_gzip(port: int) -> None:
    """curl POSTs 256 bytes that are not UTF-8 (with a query string and cookies) and gets 256 such bytes
    back, then, on the same connection, a gzip-coded text body."""
    body = OUT / "256.bin"
    body.write_bytes(bytes(range(256)))
    try:
        run(CURL, "-s", "-S", "-b", "session=abc; lang=en", "-H", "Content-Type: application/octet-stream",
            "--data-binary", f"@{body}", f"http://127.0.0.1:{port}/binary?q=1&r=two", "-o", "/dev/null",
            "--next", "--compressed", f"http://127.0.0.1:{port}/gzip", "-o", "/dev/null")
    finally:
        body.unlink()


def curl_traces_expect_100(port: int) -> None:
    """curl uploads 64 KiB with Expect: 100-continue twice, once under --trace and once under
    --trace-ascii --trace-time: the traces (written beside the transcript) are curl's own record of
    the two connections the transcript holds; tests/data/captures keeps a copy of them."""
    body = OUT / "64k.bin"
    body.write_bytes(b"".join(b"line %05d of a 64 KiB request body ......\n" % i for i in range(1600))[:65536])
    for option, name in (("--trace", "expect-100-curl-trace.txt"),
                         ("--trace-ascii", "expect-100-curl-trace-ascii.txt")):
        run(CURL, "-s", "-S", option, str(OUT / name), "--trace-time", "-H", "Expect: 100-continue",
            "--data-binary", f"@{body}", f"http://127.0.0.1:{port}/upload", "-o", "/dev/null")
    body.unlink()


def httpx_get(path: str) -> Callable[[int], None]:
    def client(port: int) -> None:
        import httpx

        with httpx.Client() as http:
            http.get(f"http://127.0.0.1:{port}{path}").raise_for_status()

    return client


def http_client_chunked(port: int) -> None:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/upload", body=iter([b"first part,", b"second part,", b"last part"]),
                 headers={"Content-Type": "text/plain"}, encode_chunked=True)
    conn.getresponse().read()
    conn.request("GET", "/after")
    conn.getresponse().read()
    conn.close()


def websocket(port: int) -> None:
    key = base64.b64encode(os.urandom(16))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (port, key))
        head = b""
        while b"\r\n\r\n" not in head:
            head += sock.recv(4096)
        mask = os.urandom(4)
        text = b"hello"
        sock.sendall(bytes([0x81, 0x80 | len(text)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(text)))
        sock.recv(4096)
        sock.sendall(bytes([0x88, 0x80]) + mask)  # a masked close frame with no payload
        sock.settimeout(1)
        try:
            while sock.recv(4096):
                pass
        except TimeoutError:
            pass


def node_client(port: int) -> None:
    run("node", "-e", NODE_CLIENT, str(port))


# -- the scenarios --------------------------------------------------------------------------------

@dataclass
class Scenario:
    name: str
    server: str  # "http_server", "uvicorn", "node" or "broken" (BROKEN_SERVER)
    description: str
    client: Callable[[int], None]


SCENARIOS = [
    Scenario("keepalive-curl-uvicorn", "uvicorn", "curl fetches three URLs over one kept-alive connection",
             curl("http://127.0.0.1:PORT/one", "http://127.0.0.1:PORT/two", "http://127.0.0.1:PORT/three",
                  "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null")),
    Scenario("chunked-request-curl-uvicorn", "uvicorn", "curl POSTs a body with Transfer-Encoding: chunked",
             curl("-H", "Transfer-Encoding: chunked", "--data-binary", "a chunked request body",
                  "http://127.0.0.1:PORT/upload", "-o", "/dev/null")),
    Scenario("chunked-request-httpclient-node", "node",
             "http.client sends a chunked request in three parts, then a GET on the same connection",
             http_client_chunked),
    Scenario("chunked-trailers-curl-node", "node", "a chunked response in two chunks with a trailer field",
             curl("http://127.0.0.1:PORT/chunked-trailers", "-o", "/dev/null")),
    Scenario("expect-100-continue-curl-node", "node",
             "curl sends Expect: 100-continue, node answers 100 Continue, then the body follows",
             curl("-H", "Expect: 100-continue", "--data-binary", "the body sent after 100 Continue",
                  "http://127.0.0.1:PORT/upload", "-o", "/dev/null")),
    Scenario("expect-100-continue-64k-curl-uvicorn", "uvicorn",
             "curl uploads 64 KiB with Expect: 100-continue, twice (under --trace, then --trace-ascii)",
             curl_traces_expect_100),
    Scenario("binary-gzip-curl-node", "node",
             "curl POSTs 256 non-UTF-8 bytes with a query string and cookies, gets 256 such bytes and two "
             "Set-Cookie back, then a gzip-coded text body on the same connection",
             curl_binary_and_gzip),
    Scenario("http10-close-curl-http-server", "http_server",
             "an HTTP/1.0 request and response: the server closes after one exchange",
             curl("--http1.0", "http://127.0.0.1:PORT/hello.txt", "-o", "/dev/null")),
    Scenario("http10-keepalive-curl-node", "node",
             "HTTP/1.0 with Connection: keep-alive, honoured by node: two requests on one connection",
             curl("--http1.0", "-H", "Connection: keep-alive", "http://127.0.0.1:PORT/a", "http://127.0.0.1:PORT/b",
                  "-o", "/dev/null", "-o", "/dev/null")),
    Scenario("head-curl-uvicorn", "uvicorn", "two HEAD requests on one connection: Content-Length but no body",
             curl("--head", "http://127.0.0.1:PORT/one", "http://127.0.0.1:PORT/two", "-o", "/dev/null",
                  "-o", "/dev/null")),
    Scenario("head-curl-http-server", "http_server", "HEAD to python's http.server (HTTP/1.0, then close)",
             curl("--head", "http://127.0.0.1:PORT/hello.txt", "-o", "/dev/null")),
    Scenario("204-304-curl-node", "node", "a 204 No Content and a 304 Not Modified on one connection",
             curl("http://127.0.0.1:PORT/nocontent", "-o", "/dev/null", "-H", 'If-None-Match: "v1"',
                  "http://127.0.0.1:PORT/etag", "-o", "/dev/null")),
    Scenario("pipelining-raw-node", "node", "three requests pipelined in one write, answered in order",
             raw(b"GET /p1 HTTP/1.1\r\nHost: localhost\r\n\r\n"
                 b"GET /p2 HTTP/1.1\r\nHost: localhost\r\n\r\n"
                 b"GET /p3 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")),
    Scenario("pipelining-raw-http-server", "http_server",
             "three GETs pipelined in one write to an HTTP/1.0 server: it answers the first and closes",
             raw(b"GET /hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"
                 b"GET /hello.txt?2 HTTP/1.1\r\nHost: localhost\r\n\r\n"
                 b"GET /hello.txt?3 HTTP/1.1\r\nHost: localhost\r\n\r\n")),
    Scenario("broken-response-then-body-raw-raw", "broken",
             "the server answers the request head at once with a broken header block; the client then "
             "sends its body",
             raw(b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 20\r\n\r\n",
                 b"twenty bytes of body")),
    Scenario("websocket-upgrade-raw-node", "node",
             "a websocket handshake (Upgrade, 101 Switching Protocols), then frames both ways",
             websocket),
    Scenario("large-body-httpx-http-server", "http_server", "httpx downloads a 1 MiB text file",
             httpx_get("/big.txt")),
    Scenario("keepalive-node-client-uvicorn", "uvicorn", "node's http module with a keep-alive agent: two GETs",
             node_client),
    Scenario("half-close-raw-http-server", "http_server",
             "the client sends its request and half-closes (FIN); the server still answers",
             raw(b"GET /hello.txt HTTP/1.0\r\n\r\n", half_close=True)),
    Scenario("smuggle-cl-te-raw-node", "node",
             "request smuggling shape: Content-Length and Transfer-Encoding: chunked together",
             raw(b"POST /cl-te HTTP/1.1\r\nHost: localhost\r\nContent-Length: 6\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nG")),
    Scenario("smuggle-cl-te-get-admin-raw-node", "node",
             "request smuggling: CL.TE hiding a whole GET /admin in the body a Content-Length front end forwards",
             raw(b"POST /search HTTP/1.1\r\nHost: localhost\r\nContent-Length: 45\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: localhost\r\n\r\n")),
    Scenario("smuggle-bare-lf-chunked-raw-uvicorn", "uvicorn",
             "request smuggling shape: chunked framing with bare LF line ends",
             raw(b"POST /bare-lf HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"5\nhello\n0\n\n")),
    Scenario("smuggle-duplicate-content-length-raw-node", "node",
             "request smuggling shape: two Content-Length fields that disagree",
             raw(b"POST /dup-cl HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"
                 b"hello!")),
]


def main(args: list[str]) -> None:
    global OUT
    out = HERE
    if args[:1] == ["--out"]:
        out, args = Path(args[1]), args[2:]
    OUT = out
    names = args
    chosen = [s for s in SCENARIOS if not names or s.name in names]
    unknown = set(names) - {s.name for s in SCENARIOS}
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory() as work:
        servers = Servers(Path(work))
        try:
            for scenario in chosen:
                record(scenario.name, getattr(servers, scenario.server), scenario.description, scenario.client,
                       out)
        finally:
            servers.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
