"""The fault table's scenarios (bench/faults.py, docs/robustness.md "Faults"), one test per class: each
runs the CLI as a user does (``connect`` with a script on stdin, ``listen --script`` with a real
misbehaving client, ``record`` between a client and an upstream) against a real peer on 127.0.0.1,
and checks the one line the user sees and the exit code.

What ``record`` does with resets, half-closes, slowloris and idle connections (passed through within a
second, both ends recorded once, the idle reset) is asserted in test_record_faults.py; here only its
TLS and banner rows, whose lines are new."""

from __future__ import annotations

import re
import socket
from pathlib import Path

import pytest
from support.servers import free_port

from bench.faults import ACCEPT_TIMEOUT, IDLE_TIMEOUT, NO_TLS10, READ_TIMEOUT, Child, Row, run_all

pytestmark = pytest.mark.timeout(180)


def _rows(kind: str, *commands: str) -> dict[tuple[str, str], Row]:
    rows = run_all((kind,), commands)
    for row in rows:
        assert not row.defects, row
    return {(row.command.split()[0], row.fault): row for row in rows}


def _check(row: Row, code: int, *said: str) -> None:
    assert row.exit == code, row
    for words in said:
        assert words in row.seen, row
    assert not any("Traceback" in line for line in row.output)


def test_resets_end_the_run_at_once_as_a_network_error() -> None:
    rows = _rows("reset", "connect", "listen")
    for fault in ("server resets mid-head", "server resets mid-body (5 of 100 bytes)",
                  "server resets after the response, the client reading on"):
        _check(rows["connect", fault], 3, "h11dbg: network error: receiving from", "connection reset by peer")
    _check(rows["listen", "client resets mid-head"], 3, "receiving from", "connection reset by peer")
    _check(rows["listen", "client resets mid-body (5 of 100 bytes)"], 3, "receiving from", "connection reset by peer")
    # the reset meets listen sending the rest of the response or reading for the next request, as the
    # client's read happens to end (one read may hold the head only): either is said as it happened
    after = rows["listen", "client resets after the response"]
    _check(after, 3, "connection reset by peer")
    assert re.search(r"network error: (sending to|receiving from) 127\.0\.0\.1:PORT", after.seen), after
    for row in rows.values():  # the reset ended it, not a timeout
        assert row.exited is not None and row.exited < READ_TIMEOUT, row


def test_half_closes_are_said_when_they_happen() -> None:
    rows = _rows("half-close", "connect", "listen", "record")
    _check(rows["connect", "server half-closes before sending anything"], 3,
           "h11dbg: the server closed this connection at", "nothing was sent; `reconnect` opens a new one")
    for fault in ("server half-closes mid-request (after the head of a POST)",
                  "server half-closes after a complete request"):
        row = rows["connect", fault]
        _check(row, 3, "h11dbg: network error: the server closed the connection without answering")
        # connect's TLS probe (a plain server refusing the ClientHello) does not hold the verdict back
        assert row.exited is not None and row.exited < READ_TIMEOUT, row
    # before `run` reads, or while it reads: the same close, the same line (run took it as the client's
    # ConnectionClosed, and the response then failed as a protocol error, exit 1)
    for fault in ("client half-closes before sending anything",
                  "client half-closes 0.3 s after connecting (listen already reading)"):
        row = rows["listen", fault]
        _check(row, 3, "h11dbg: the client closed this connection at", "nothing was sent")
        assert any("the client closed the idle connection" in line for line in row.output), row
    _check(rows["listen", "client half-closes mid-request"], 1, "ERROR RemoteProtocolError: peer unexpectedly closed")
    # a client that sent its whole request and then its FIN (under TLS its close_notify) still gets the response
    for fault in ("client half-closes after a complete request",
                  "TLS client half-closes after a complete request (close_notify)"):
        row = rows["listen", fault]
        _check(row, 0, "EOF: the peer closed its sending side")
        assert any("server sent EndOfMessage" in line for line in row.output)
    # TLS's half-close is said as a FIN is
    _check(rows["connect", "TLS server half-closes after a complete request (close_notify)"], 3,
           "h11dbg: network error: the server closed the connection without answering")
    # record passes a half-close on at once, to a TLS side as a close_notify (it waited for --idle-timeout)
    for command, row in rows.items():
        if command[0] == "record":
            _check(row, 0, "conn 1: closed")
            assert row.reported is not None and row.reported < IDLE_TIMEOUT, row


def test_silent_peers_end_at_the_read_timeout() -> None:
    rows = _rows("silent", "connect", "listen")
    for row in rows.values():
        _check(row, 3, "h11dbg: network error: a read timed out waiting for the peer")
        assert row.reported is not None and row.reported >= READ_TIMEOUT - 0.1, row
    assert any("timeout: nothing received from 127.0.0.1:" in line
               for line in rows["connect", "server accepts and never speaks"].output)


def test_tls_mismatches_name_the_cause_and_the_command_that_works() -> None:
    rows = _rows("tls", "connect", "listen", "record")
    _check(rows["connect", "--tls to a plain HTTP server"], 3, "bytes that are not TLS: the port speaks plain HTTP",
           "without --tls: h11dbg connect 127.0.0.1:")
    # the one stderr line carries the note's conclusion, not only "connection reset by peer"
    _check(rows["connect", "plain HTTP to a TLS server"], 3, "connection reset by peer; this looks like TLS:",
           "completes a TLS handshake", "use --tls: h11dbg connect 127.0.0.1:PORT --tls --insecure")
    _check(rows["connect", "a certificate not trusted (no --cafile)"], 3,
           "TLS certificate verification failed (unable to get local issuer certificate)")
    _check(rows["connect", "a certificate for another hostname"], 3, "certificate is not valid for '127.0.0.1'")
    _check(rows["connect", "the server cuts the handshake (reset after the ClientHello)"], 3,
           "connection reset by peer: the server closed the connection during the TLS handshake")
    _check(rows["listen", "a TLS client at a plain listen (ClientHello)"], 3,
           "; this looks like TLS: the client sent a TLS ClientHello", "use --tls: h11dbg listen 127.0.0.1:PORT --tls")
    plain_at_tls = ("the client sent plain HTTP to a TLS port "
                    "(use https:// in the client, or run this command without --tls)")
    for fault, why in (("a plain HTTP client at listen --tls", plain_at_tls),
                       ("a client that does not trust the certificate", "the client does not trust our certificate"),
                       ("a client that cuts the handshake (half a ClientHello, then a reset)",
                        "connection reset by peer")):
        row = rows["listen", fault]
        _check(row, 3, "no client completed a TLS handshake on 127.0.0.1:PORT within 4 s: 1 client tried, the last:",
               why)
        # the failed handshake is printed when it happens, not when --accept-timeout gives up
        assert row.reported is not None and row.reported < ACCEPT_TIMEOUT / 2, row
        assert row.exited is not None and row.exited >= ACCEPT_TIMEOUT / 2, row
    for fault in ("a client that speaks TLS 1.0 only", "a server that speaks TLS 1.0 only",
                  "an upstream that speaks TLS 1.0 only"):
        row = next(row for (_, name), row in rows.items() if name == fault)
        if row.seen != NO_TLS10:
            assert "no TLS version in common" in row.seen, row
    _check(rows["record", "a plain client at record --tls"], 0, "conn 1: TLS handshake with the client", plain_at_tls)
    _check(rows["record", "--upstream-tls to a plain upstream"], 0, "-> upstream 127.0.0.1:PORT TLS handshake failed:",
           "(record without --upstream-tls)")
    _check(rows["record", "an upstream certificate not trusted"], 0,
           "TLS handshake failed: TLS certificate verification failed (unable to get local issuer certificate)")
    _check(rows["record", "an upstream certificate for another hostname"], 0, "TLS handshake failed:",
           "certificate is not valid for '127.0.0.1'")
    # a handshake that stalls half way is bounded: connect's and listen's by --timeout, record's by its
    # --idle-timeout when that is shorter than the 10 s it allows a handshake
    stalled = rows["connect", "the server stalls the handshake (reads the ClientHello, never answers)"]
    _check(stalled, 3, "TLS handshake with 127.0.0.1:PORT: timed out: the server sent nothing back")
    assert stalled.reported is not None and READ_TIMEOUT - 0.2 < stalled.reported < READ_TIMEOUT + 2, stalled
    _check(rows["listen", "a client that stalls the handshake (half a ClientHello, then silence)"], 3,
           "1 client tried, the last: TLS handshake with the client 127.0.0.1:PORT: timed out")
    for fault, said in (("a client that stalls the handshake (half a ClientHello, then silence)",
                         "conn 1: TLS handshake with the client 127.0.0.1:PORT: timed out"),
                        ("the upstream stalls the handshake (reads the ClientHello, never answers)",
                         "TLS handshake failed: timed out: the server sent nothing back")):
        row = rows["record", fault]
        _check(row, 0, said)
        assert row.reported is not None and row.reported < IDLE_TIMEOUT + 2, row
    for row in rows.values():
        assert "_ssl.c" not in row.seen and "[SSL:" not in row.seen, row


def test_non_http_banners_are_named() -> None:
    rows = _rows("banner", "connect", "listen", "record")
    _check(rows["connect", "an SSH server (SSH-2.0-... banner)"], 1,
           "this looks like SSH: the server's first bytes are an SSH banner (SSH-2.0-OpenSSH_9.6p1",
           "the port is an SSH server")
    _check(rows["connect", "an SMTP server (220 ... ESMTP)"], 1,
           "this looks like SMTP or FTP: the server greeted first (220 mail.example.com ESMTP")
    _check(rows["connect", "a binary blob (every byte value)"], 1, "ERROR RemoteProtocolError: illegal status line")
    _check(rows["connect", "an HTTP/2 server (SETTINGS, then GOAWAY)"], 1,
           "this looks like HTTP/2: the server's first bytes are an HTTP/2 SETTINGS frame")
    _check(rows["listen", "an SSH client (SSH-2.0-... banner)"], 1, "this looks like SSH: the client's first bytes")
    _check(rows["listen", "an SMTP client (EHLO)"], 1, "this looks like SMTP: the client said EHLO client.example.com")
    _check(rows["listen", "a binary blob (every byte value)"], 1, "ERROR RemoteProtocolError: illegal request line")
    # "PRI * HTTP/2.0" is a well-formed request line (h11 reads it too): no error, but the note
    _check(rows["listen", "an HTTP/2 client (the preface and SETTINGS)"], 0,
           "this looks like HTTP/2: the client sent the HTTP/2 connection preface")
    for fault in ("an SSH upstream (passed through, recorded)", "an HTTP/2 client (passed through, recorded)"):
        _check(rows["record", fault], 0, "conn 1: closed")


def test_slowloris_peers_are_cut_at_the_read_timeout() -> None:
    # record's slowloris (a byte now and then, and the --idle-timeout) is test_record_faults.py's
    rows = _rows("slowloris", "connect", "listen")
    for row in rows.values():
        _check(row, 3, "h11dbg: network error: a read timed out waiting for the peer")
        # run's timeout bounds the whole message, not each read: a byte every 0.5 s does not extend it
        assert row.reported is not None and row.reported < READ_TIMEOUT + 1, row
    listen = rows["listen", "a request a byte every 0.5 s"]
    # (which read the deadline falls in depends on the machine's load: the message is cut short, or a read is)
    assert any(re.search(r"timeout: (the peer's message was not complete|nothing received from .*) within", line)
               for line in listen.output), listen


def test_a_record_upstream_that_refuses_is_one_line(tmp_path: Path) -> None:
    child = Child(["record", "--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{free_port()}", "-o",
                   str(tmp_path / "rec.h11t")])
    try:
        line = child.wait_line(r"^recording ")
        port = int(line.split()[1].rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as client, \
                pytest.raises(ConnectionResetError):
            client.recv(100)
        said = child.wait_line(r"^conn 1: ")
        assert said.endswith(" failed: connection refused"), said
        child.proc.terminate()
        assert child.wait(10) == 0
    finally:
        child.kill()
