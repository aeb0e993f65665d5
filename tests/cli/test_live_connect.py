"""`h11dbg connect` in batch mode against real servers on 127.0.0.1 (subprocesses, no mocks)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

Run = Callable[..., subprocess.CompletedProcess[str]]


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def assert_one_line(stderr: str) -> None:
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


def test_get_from_http_server_json(h11dbg: Run, http_server: Any, each_engine: str) -> None:
    script = "request GET /hello.txt Accept: */* X-Note: two words\neom\nrun\n"
    result = h11dbg(["connect", http_server.address, "--engine", each_engine, "--json"], script)
    assert result.returncode == 0, result.stderr
    lines = events(result.stdout)
    evs = [e for e in lines if e["kind"] == "event"]
    assert [e["event"] for e in evs] == ["Request", "EndOfMessage", "Response", "Data", "EndOfMessage"]
    request = evs[0]
    assert request["conn"] == 1 and request["direction"] == "c2s"
    assert request["method"] == "GET" and request["target"] == "/hello.txt"
    assert request["headers"] == [["Host", http_server.address], ["Accept", "*/*"], ["X-Note", "two words"]]
    assert request["states"] == {"client": "SEND_BODY", "server": "SEND_RESPONSE"}
    response = evs[2]
    assert response["direction"] == "s2c" and response["status_code"] == 200
    assert response["http_version"] == "1.0"  # http.server answers HTTP/1.0: keep-alive is off
    assert ["Content-Length", "23"] in response["headers"]
    assert evs[3]["data"] == "hello from http.server\\n" and evs[3]["length"] == 23
    assert evs[-1]["states"] == {"client": "MUST_CLOSE", "server": "MUST_CLOSE"}
    received = [e for e in lines if e["kind"] == "received"]
    assert "".join(e["bytes"] for e in received).startswith("HTTP/1.0 200 OK\\r\\n")


def test_plain_text_output_and_step_by_step(h11dbg: Run, http_server: Any) -> None:
    script = "request HEAD /hello.txt\neom\nrecv\nnext\nnext\nstates\nexplain\n"
    result = h11dbg(["connect", http_server.address], script)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "client sent Request HEAD /hello.txt HTTP/1.1" in out
    assert "s2c received" in out and "HTTP/1.0 200 OK\\r\\n" in out
    assert "client received Response HTTP/1.0 200 OK" in out
    assert "client received EndOfMessage" in out  # HEAD: no body even with Content-Length
    assert "client (us) MUST_CLOSE, server MUST_CLOSE" in out
    assert "last rule applied:" in out


def test_post_to_uvicorn(h11dbg: Run, uvicorn_server: Any, each_engine: str) -> None:
    script = "request POST /echo Content-Length: 11\ndata hello\\x20world\neom\nrun\n"
    result = h11dbg(["connect", uvicorn_server.address, "--engine", each_engine, "--json"], script)
    assert result.returncode == 0, result.stderr
    evs = [e for e in events(result.stdout) if e["kind"] == "event"]
    response = next(e for e in evs if e["event"] == "Response")
    assert ["content-length", "20"] in response["headers"]
    body = "".join(e["data"] for e in evs if e["event"] == "Data" and e["direction"] == "s2c")
    assert body == "POST /echo 11 bytes\\n"
    assert evs[-1]["event"] == "EndOfMessage"
    assert evs[-1]["states"] == {"client": "DONE", "server": "DONE"}


def test_keep_alive_cycle_two_requests_to_uvicorn(h11dbg: Run, uvicorn_server: Any) -> None:
    script = "request GET /one\neom\nrun\ncycle\nrequest GET /two\neom\nrun\n"
    result = h11dbg(["connect", uvicorn_server.address, "--json"], script)
    assert result.returncode == 0, result.stderr
    data = [e["data"] for e in events(result.stdout) if e.get("event") == "Data"]
    assert data == ["GET /one 0 bytes\\n", "GET /two 0 bytes\\n"]
    assert any(e["kind"] == "state" for e in events(result.stdout))


def test_tls_with_cafile(h11dbg: Run, tls_server: Any) -> None:
    address = f"localhost:{tls_server.port}"
    script = "request GET /secure\neom\nrun\n"
    result = h11dbg(["connect", address, "--tls", "--cafile", str(tls_server.cafile), "--json"], script)
    assert result.returncode == 0, result.stderr
    lines = events(result.stdout)
    notes = [e["text"] for e in lines if e["kind"] == "note"]
    # uvicorn does not answer ALPN; tests/transport checks that we offer http/1.1 and send SNI
    assert any(n.startswith("TLS TLSv1.") for n in notes), notes
    request = next(e for e in lines if e.get("event") == "Request")
    assert request["headers"][0] == ["Host", address]
    assert any(e.get("data") == "GET /secure 0 bytes\\n" for e in lines)


def test_tls_verification_failure_is_a_network_error(h11dbg: Run, tls_server: Any) -> None:
    result = h11dbg(["connect", f"localhost:{tls_server.port}", "--tls"], "request GET /\n")
    assert result.returncode == 3
    assert_one_line(result.stderr)
    assert "certificate verification failed" in result.stderr


def test_tls_sni_names_the_certificate_when_connecting_by_ip(h11dbg: Run, tls_server: Any) -> None:
    args = ["connect", f"127.0.0.1:{tls_server.port}", "--tls", "--cafile", str(tls_server.cafile)]
    ok = h11dbg([*args, "--sni", "localhost"], "request GET /\neom\nrun\n")
    assert ok.returncode == 0, ok.stderr
    wrong = h11dbg([*args, "--sni", "other.example"], "")
    assert wrong.returncode == 3 and "certificate verification failed" in wrong.stderr


def test_tls_insecure_skips_verification(h11dbg: Run, tls_server: Any) -> None:
    result = h11dbg(["connect", f"127.0.0.1:{tls_server.port}", "--tls", "--insecure", "--json"],
                    "request GET /x\neom\nrun\n")
    assert result.returncode == 0, result.stderr
    assert any(e.get("data") == "GET /x 0 bytes\\n" for e in events(result.stdout))


def test_ipv6(h11dbg: Run, tmp_path: Path, port_for: Callable[[str], int], serve: Any) -> None:
    try:
        port = port_for("::1")
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    (tmp_path / "v6.txt").write_text("over ipv6")
    serve([sys.executable, "-m", "http.server", "--bind", "::1", str(port)], "::1", port, tmp_path)
    result = h11dbg(["connect", f"[::1]:{port}", "--json"], "request GET /v6.txt\neom\nrun\n")
    assert result.returncode == 0, result.stderr
    lines = events(result.stdout)
    assert next(e for e in lines if e.get("event") == "Request")["headers"][0] == ["Host", f"[::1]:{port}"]
    assert any(e.get("data") == "over ipv6" for e in lines)


def test_refused_port_is_exit_3_one_line(h11dbg: Run, port_for: Callable[[str], int]) -> None:
    port = port_for("127.0.0.1")  # nothing listens there any more
    result = h11dbg(["connect", f"127.0.0.1:{port}"], "request GET /\n")
    assert result.returncode == 3
    assert_one_line(result.stderr)
    assert f"connecting to 127.0.0.1:{port}: connection refused" in result.stderr


def test_unknown_host_is_exit_3(h11dbg: Run) -> None:
    result = h11dbg(["connect", "no-such-host.invalid:80"], "")
    assert result.returncode == 3
    assert_one_line(result.stderr)
    assert "name resolution failed" in result.stderr


def test_silent_server_times_out_with_exit_3(h11dbg: Run) -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (kernel backlog), never answers
        port = silent.getsockname()[1]
        result = h11dbg(["connect", f"127.0.0.1:{port}", "--timeout", "0.5"], "request GET /\neom\nrun\n")
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == "h11dbg: network error: a read timed out waiting for the peer"
    assert f"timeout: nothing received from 127.0.0.1:{port} within 0.5 s" in result.stdout


def test_peer_reset_is_a_network_error(h11dbg: Run) -> None:
    import struct
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def reset_first_client() -> None:
        conn, _ = server.accept()
        conn.recv(1024)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # linger 0: RST instead of FIN

    thread = threading.Thread(target=reset_first_client, daemon=True)
    thread.start()
    try:
        result = h11dbg(["connect", f"127.0.0.1:{port}"], "request GET /\neom\nrun\n")
    finally:
        thread.join(5)
        server.close()
    assert result.returncode == 3
    assert_one_line(result.stderr)
    assert "connection reset by peer" in result.stderr


def test_bad_command_in_script_file_is_exit_2_with_location(
    h11dbg: Run, http_server: Any, tmp_path: Path
) -> None:
    script = tmp_path / "s.h11"
    script.write_text("# comment\nrequest GET /hello.txt\nfrob the server\neom\n")
    result = h11dbg(["connect", http_server.address, "--script", str(script)])
    assert result.returncode == 2
    assert_one_line(result.stderr)
    assert result.stderr.strip() == f"{script}:3: unknown command 'frob' (`help` lists the commands)"


def test_protocol_error_from_user_is_an_error_entry_exit_1(h11dbg: Run, http_server: Any) -> None:
    result = h11dbg(["connect", http_server.address, "--json"], "data too early\nstates\n")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [error] = [e for e in events(result.stdout) if e.get("event") == "error"]
    assert error["error"] == "LocalProtocolError"
    assert error["message"] == "can't handle event type Data when role=CLIENT and state=IDLE"
    assert error["direction"] == "c2s" and "offset" in error
    assert error["states"] == {"client": "ERROR", "server": "IDLE"}


def test_usage_errors(h11dbg: Run, tmp_path: Path) -> None:
    for args, message in [
        (["connect", "::1:80"], "brackets"),
        (["connect", "host:http"], "bad port"),
        (["connect", "127.0.0.1:80", "--insecure"], "only make sense with --tls"),
        (["connect", "127.0.0.1:80", "--script", str(tmp_path / "none.txt")], "cannot read script"),
    ]:
        result = h11dbg(args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
