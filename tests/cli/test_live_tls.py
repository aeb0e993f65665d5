"""TLS both ways, as a user meets it: `listen --tls` served to real curl (a throwaway certificate or
one from trustme), recorded and replayed; and plain text and TLS mistaken for each other, where every
command the note suggests is run as printed and works."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest
from support.terminal import spawn

CURL = "/usr/bin/curl"
needs_curl = pytest.mark.skipif(not Path(CURL).exists(), reason="curl is not installed")
SERVE = "run\nresponse 200 Content-Type: text/plain Content-Length: 6\ndata hello\\n\neom\n"


class Listening:
    """`h11dbg listen ... --json` running in the background; its notes read up to the TLS one."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "h11dbg", "listen", *args, "--json"],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        assert self.proc.stdout is not None
        self.notes = [json.loads(self.proc.stdout.readline())]
        assert self.notes[0]["text"].startswith("listening on 127.0.0.1:"), self.notes
        self.port = int(self.notes[0]["text"].split()[2].rsplit(":", 1)[1])
        if "--tls" in args:
            self.notes.append(json.loads(self.proc.stdout.readline()))

    def finish(self) -> tuple[int, list[dict[str, Any]], str]:
        try:
            out, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            raise
        return self.proc.returncode, self.notes + [json.loads(line) for line in out.splitlines()], err


def curl(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([CURL, "-sS", "--max-time", "10", *args], capture_output=True, timeout=20)


def h11dbg_argv(command: str) -> list[str]:
    """A command line a note printed (``h11dbg ...``), to run exactly as printed."""
    words = shlex.split(command)
    assert words[0] == "h11dbg"
    return [sys.executable, "-m", "h11dbg", *words[1:]]


def suggested(text: str) -> str:
    """The command at the end of a note or a message: ``...; use --tls: h11dbg ...``."""
    assert "h11dbg " in text, text
    return "h11dbg " + text.split(" h11dbg ", 1)[1].strip()


@needs_curl
def test_listen_tls_throwaway_certificate_for_curl_recorded_and_replayed(tmp_path: Path) -> None:
    script = tmp_path / "serve.h11"
    script.write_text(SERVE)
    record = tmp_path / "tls.h11t"
    server = Listening("127.0.0.1:0", "--tls", "--script", str(script), "--record", str(record))
    tls_note = server.notes[1]
    pem = tls_note["tls"]["pem"]
    # the hint, followed as printed: curl --cacert PEM https://127.0.0.1:PORT/
    hint = tls_note["text"].split(": ", 1)[1]
    assert hint == f"curl --cacert {pem} https://127.0.0.1:{server.port}/"
    got = subprocess.run(shlex.split(hint.replace("curl", f"{CURL} -sS --max-time 10", 1)), capture_output=True,
                         timeout=20)
    code, lines, err = server.finish()
    assert got.returncode == 0, got.stderr
    assert got.stdout == b"hello\n"
    assert code == 0, err
    certificate = tls_note["tls"]["certificate"]
    assert tls_note["tls"]["throwaway"] is True
    assert certificate["subject"] == certificate["issuer"] == "CN=h11dbg throwaway certificate"
    assert {"DNS:localhost", "IP:127.0.0.1"} <= set(certificate["san"])
    assert len(certificate["sha256"].split(":")) == 32
    handshake = next(line["tls"] for line in lines[2:] if "tls" in line)
    assert handshake["version"].startswith("TLSv1.") and handshake["alpn"] == "http/1.1" and handshake["cipher"]
    assert not Path(pem).exists() and not Path(pem).parent.exists()  # throwaway: removed at the end
    # the recording is the plaintext inside TLS, and replays like any other
    text = record.read_text()
    assert f"tls: TLS server, certificate SHA-256 {certificate['sha256']}" in text
    replay = subprocess.run([sys.executable, "-m", "h11dbg", "replay", str(record)], capture_output=True, text=True,
                            timeout=30)
    assert replay.returncode == 0, replay.stderr
    assert "Request GET / HTTP/1.1" in replay.stdout and "Response HTTP/1.1 200 OK" in replay.stdout


@needs_curl
def test_listen_tls_with_cert_and_key_a_refused_handshake_then_a_client_that_trusts_it(
        tmp_path: Path, trustme_files: dict[str, Path]) -> None:
    script = tmp_path / "serve.h11"
    script.write_text(SERVE)
    server = Listening("127.0.0.1:0", "--tls", "--cert", str(trustme_files["cert"]), "--key",
                       str(trustme_files["key"]), "--script", str(script), "--accept-timeout", "15")
    assert server.notes[1]["tls"]["pem"] == str(trustme_files["cert"])
    assert "a client trusts it with the CA that issued it" in server.notes[1]["text"]
    refused = curl(f"https://localhost:{server.port}/")  # no --cacert: curl refuses our certificate
    trusted = curl("--cacert", str(trustme_files["ca"]), f"https://localhost:{server.port}/sni")
    code, lines, err = server.finish()
    assert refused.returncode == 60, refused.stderr
    assert trusted.returncode == 0 and trusted.stdout == b"hello\n", trusted.stderr
    assert code == 0, err
    texts = [line.get("text", "") for line in lines]
    assert any("the client does not trust our certificate" in t and "waiting for the next client" in t
               for t in texts), texts
    handshake = next(line["tls"] for line in lines[2:] if "tls" in line)
    assert handshake["sni"] == "localhost"
    assert any(line.get("target") == "/sni" for line in lines)


@needs_curl
def test_plain_listen_says_a_tls_client_needs_tls_and_the_command_it_prints_works(tmp_path: Path) -> None:
    script = tmp_path / "serve.h11"
    script.write_text(SERVE)
    plain = Listening("127.0.0.1:0", "--script", str(script), "--timeout", "2")
    failed = curl("--insecure", f"https://127.0.0.1:{plain.port}/")
    code, lines, _ = plain.finish()
    assert failed.returncode != 0
    # the engine refused the bytes (1); the scripted answer then reaches curl as plain text, and curl
    # resets the connection (3)
    assert code in (1, 3)
    at = next(i for i, line in enumerate(lines) if "looks like TLS" in line.get("text", ""))
    # the last word on the engine's error: why the bytes are no HTTP, and what to run instead
    assert lines[at - 1]["kind"] == "error"
    note = lines[at]["text"]
    assert note.startswith("this looks like TLS: the client sent a TLS ClientHello")
    command = suggested(note)
    assert command == f"h11dbg listen 127.0.0.1:{plain.port} --tls --script {script} --json --timeout 2.0"
    # followed as printed: the same curl now gets its answer
    again = subprocess.Popen(h11dbg_argv(command), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert again.stdout is not None
    json.loads(again.stdout.readline())
    pem = json.loads(again.stdout.readline())["tls"]["pem"]
    got = curl("--cacert", pem, f"https://127.0.0.1:{plain.port}/")
    again.communicate(timeout=20)
    assert got.returncode == 0 and got.stdout == b"hello\n", got.stderr
    assert again.returncode == 0


def test_connect_without_tls_to_a_tls_port_says_so_and_the_command_works(tls_server: Any, tmp_path: Path) -> None:
    record = tmp_path / "get.h11t"
    requests = "request GET /\neom\nrun\n"
    result = subprocess.run([sys.executable, "-m", "h11dbg", "connect", f"127.0.0.1:{tls_server.port}", "--record",
                             str(record)], input=requests, capture_output=True, text=True, timeout=30)
    line = next(line for line in result.stdout.splitlines() if "looks like TLS" in line)
    assert "the server closed the connection without a byte of HTTP" in line
    assert f"port {tls_server.port} completes a TLS handshake" in line
    # trustme's CA is not in the system store: the command says --insecure (and why)
    assert "its certificate does not verify" in line
    command = suggested(line)
    # this run's recording stays; the suggested run records beside it
    assert command == (f"h11dbg connect 127.0.0.1:{tls_server.port} --tls --insecure "
                       f"--record {tmp_path / 'get-tls.h11t'}")
    again = subprocess.run(h11dbg_argv(command), input=requests, capture_output=True, text=True, timeout=30)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Response HTTP/1.1 200 OK" in again.stdout
    assert "GET / HTTP/1.1" in record.read_text()


def test_connect_tls_to_a_plain_port_says_it_speaks_plain_http(uvicorn_server: Any) -> None:
    requests = "request GET /\neom\nrun\n"
    result = subprocess.run([sys.executable, "-m", "h11dbg", "connect", f"127.0.0.1:{uvicorn_server.port}", "--tls",
                             "--insecure"], input=requests, capture_output=True, text=True, timeout=30)
    assert result.returncode == 3
    assert result.stdout == ""
    (message,) = result.stderr.splitlines()
    assert "the server answered the TLS handshake with bytes that are not TLS: the port speaks plain HTTP" in message
    command = suggested(message)
    assert command == f"h11dbg connect 127.0.0.1:{uvicorn_server.port}"
    again = subprocess.run(h11dbg_argv(command), input=requests, capture_output=True, text=True, timeout=30)
    assert again.returncode == 0, again.stderr
    assert "Response HTTP/1.1 200 OK" in again.stdout


@pytest.mark.parametrize("insecure", [False, True])
def test_connect_tls_shows_the_certificate_as_curl_v_does(tls_server: Any, insecure: bool) -> None:
    trust = ["--insecure"] if insecure else ["--cafile", str(tls_server.cafile)]
    result = subprocess.run([sys.executable, "-m", "h11dbg", "connect", f"localhost:{tls_server.port}", "--tls",
                             *trust], input="request GET /\neom\nrun\n", capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if " TLS TLSv1." in line)
    assert lines[head].endswith(", SNI localhost")
    details = dict(line.strip().split(": ", 1) for line in lines[head + 1:head + 7])
    assert details["subject"].startswith("OU=Testing cert") and "trustme" in details["issuer"]
    assert details["subject alt names"] == "DNS:localhost, IP:127.0.0.1"
    assert " UTC to " in details["valid"]
    assert details["verified"] == ("no (--insecure)" if insecure else "yes")


def test_connect_tls_certificate_in_the_repl(tls_server: Any, tmp_path: Path) -> None:
    child = spawn(tmp_path, "connect", f"localhost:{tls_server.port}", "--tls", "--cafile", str(tls_server.cafile))
    try:
        child.expect("TLS TLSv1")
        child.expect("subject alt names: DNS:localhost, IP:127.0.0.1")
        child.expect("verified: yes")
        child.sendline("log")
        child.expect("SHA-256 fingerprint: ")
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0


def test_bad_tls_options_are_usage_errors(tmp_path: Path, trustme_files: dict[str, Path]) -> None:
    def listen(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "h11dbg", "listen", "127.0.0.1:0", *args, "--script",
                               os.devnull], capture_output=True, text=True, timeout=30)

    not_a_certificate = tmp_path / "nope.pem"
    not_a_certificate.write_text("hello\n")
    for args, message in [
        (["--cert", str(trustme_files["cert"])], "--cert and --key only make sense with --tls"),
        (["--tls", "--key", str(trustme_files["key"])], "--key needs --cert"),
        (["--tls", "--cert", str(not_a_certificate)], f"loading the certificate {not_a_certificate}"),
        (["--tls", "--cert", str(trustme_files["cert"]), "--key", str(trustme_files["ca"])],
         "loading the certificate"),
    ]:
        result = listen(*args)
        assert result.returncode == 2, (args, result.stderr)
        (line,) = result.stderr.splitlines()
        assert line.startswith("h11dbg: ") and message in line, line



@needs_curl
@contextlib.contextmanager
def listening_repl(tmp_path: Path, *args: str) -> Iterator[tuple[pexpect.spawn, int, Callable[..., None]]]:
    """`h11dbg listen 127.0.0.1:0 ARGS` at a terminal, its port, and a way to start curl against it;
    everything started is stopped at the end."""
    child = spawn(tmp_path, "listen", "127.0.0.1:0", *args)
    clients: list[subprocess.Popen[bytes]] = []

    def start_curl(*curl_args: str) -> None:
        clients.append(subprocess.Popen([CURL, "-s", "--max-time", "10", *curl_args], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))

    try:
        child.expect(r"listening on 127\.0\.0\.1:(\d+)")
        yield child, int(child.match.group(1)), start_curl
        child.sendline("quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
        for client in clients:
            client.kill()
            client.wait()


def test_plain_listen_in_the_repl_says_the_client_speaks_tls(tmp_path: Path) -> None:
    with listening_repl(tmp_path) as (child, port, start_curl):
        start_curl(f"https://127.0.0.1:{port}/")
        child.expect("connection 1 from 127.0.0.1")
        child.sendline("run")
        child.expect("this looks like TLS: the client sent a TLS ClientHello")
        child.expect(f"use --tls: h11dbg listen 127.0.0.1:{port}")  # (and --tls, past the terminal's width)


@needs_curl
def test_record_ends_tls_on_both_sides_and_records_the_plaintext(recorder: Any, tls_server: Any) -> None:
    rec = recorder(tls_server.port, "tls.h11t", "--tls", "--upstream-tls", "--cafile", str(tls_server.cafile))
    serving = rec._readline(15)
    assert serving.startswith("TLS with a throwaway self-signed certificate"), serving
    hint = serving.rstrip("\n").split(": ", 1)[1]
    assert hint.endswith(f" https://127.0.0.1:{rec.port}/")
    got = subprocess.run(shlex.split(hint.replace("curl", f"{CURL} -sS --max-time 10", 1)) + ["-d", "hello"],
                         capture_output=True, timeout=20)
    assert got.returncode == 0, got.stderr
    assert got.stdout == b"POST / 5 bytes\n"
    rec.wait_for_closes(1)
    assert rec.stop() == 0
    text = rec.output.read_text()
    assert "tls: clients -> proxy (certificate SHA-256 " in text and "proxy -> upstream;" in text
    assert "| POST / HTTP/1.1\\r\\n" in text and "| POST / 5 bytes\\n" in text
    replay = subprocess.run([sys.executable, "-m", "h11dbg", "replay", str(rec.output)], capture_output=True,
                            text=True, timeout=30)
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert "Request POST / HTTP/1.1" in replay.stdout and "Response HTTP/1.1 200 OK" in replay.stdout


def test_record_tls_options_are_checked_like_connect_and_listen(tmp_path: Path, trustme_files: dict[str, Path]) -> None:
    for args, message in [
        (["--cert", str(trustme_files["cert"])], "--cert and --key only make sense with --tls"),
        (["--insecure"], "--cafile, --insecure and --sni only make sense with --upstream-tls"),
    ]:
        result = subprocess.run([sys.executable, "-m", "h11dbg", "record", "--listen", "127.0.0.1:0", "--upstream",
                                 "127.0.0.1:9", "-o", str(tmp_path / "x.h11t"), *args],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 2 and result.stderr == f"h11dbg: {message}\n", result.stderr


@needs_curl
def test_listen_tls_in_the_repl_prints_the_certificate_before_waiting(tmp_path: Path) -> None:
    with listening_repl(tmp_path, "--tls") as (child, port, start_curl):
        child.expect(r"curl --cacert (\S+) ")
        pem = child.match.group(1)
        child.expect("SHA-256 fingerprint: ([0-9A-F]{2}:){31}[0-9A-F]{2}")  # before any client
        start_curl("--cacert", pem, f"https://localhost:{port}/repl")
        child.expect("connection 1 from 127.0.0.1")
        child.expect(r"TLS TLSv1\.\d, cipher .*, ALPN http/1\.1, SNI localhost")
        child.sendline("run")
        child.expect("/repl")


def test_connect_without_tls_to_a_server_that_answers_with_a_tls_alert() -> None:
    """A server that answers anything with a TLS alert (as some TLS stacks answer plain text): the note
    names the alert, and offers no command, since a handshake with it fails too."""
    alert = b"\x15\x03\x03\x00\x02\x02\x46"
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]

    def serve() -> None:
        with contextlib.suppress(OSError):
            for _ in range(2):  # the session's connection, then h11dbg's own TLS probe
                conn, _ = listener.accept()
                with conn:
                    conn.settimeout(5)
                    conn.recv(4096)
                    conn.sendall(alert)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        result = subprocess.run([sys.executable, "-m", "h11dbg", "connect", f"127.0.0.1:{port}"],
                                input="request GET /\neom\nrun\n", capture_output=True, text=True, timeout=30)
    finally:
        thread.join(10)
        listener.close()
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "looks like TLS" in line)
    assert lines[at].endswith(f"this looks like TLS: the server sent a TLS alert, but a TLS handshake with port {port} "
                              "failed too (it may want a client certificate, or another TLS version)")
    assert "ERROR RemoteProtocolError" in "\n".join(lines[:at])


@needs_curl
def test_listen_tls_close_ends_a_close_delimited_response_for_curl(tmp_path: Path) -> None:
    """`close` under TLS is a close_notify: it ends a response delimited by the close, as a FIN does in
    plain TCP.  curl waited for the end of the body while listen waited for curl (until --timeout)."""
    script = tmp_path / "serve.h11"
    script.write_text("run\nresponse 200 Content-Type: text/plain\ndata to the close\\n\neom\nclose\nrecv 5\n")
    server = Listening("127.0.0.1:0", "--tls", "--script", str(script), "--timeout", "8")
    pem = server.notes[1]["tls"]["pem"]
    started = time.monotonic()
    got = curl("--http1.0", "--cacert", pem, f"https://127.0.0.1:{server.port}/")  # no length: to the close
    code, lines, err = server.finish()
    assert (got.returncode, got.stdout, got.stderr) == (0, b"to the close\n", b"")
    assert code == 0, err
    assert time.monotonic() - started < 5
    # our close_notify, then curl's: the peer's end, read at once
    ends = [(line["kind"], line.get("event")) for line in lines if line.get("event") == "ConnectionClosed"
            or line.get("kind") == "eof"]
    assert ends == [("event", "ConnectionClosed"), ("eof", None)], lines
