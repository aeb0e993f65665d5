"""Plain text and TLS mistaken for each other: what says so, with the command line that works.

* ``listen`` without ``--tls`` gets a TLS ClientHello (``curl https://...``): the client speaks TLS.
* ``connect`` without ``--tls`` gets an EOF or a reset before any byte, or TLS records: the port is
  asked (a TLS handshake on a new connection, nothing sent after it) and, if it speaks TLS, the
  note gives the command that works, with ``--insecure`` when its certificate does not verify.
* ``connect --tls`` to a plain port: the handshake's failure says the port speaks plain text
  (:class:`~h11dbg.transport.NotTLS`), and here it gets the command without ``--tls``.
"""

from __future__ import annotations

from collections.abc import Callable

from h11dbg.transport.tls import TLSInfo, probe_tls, tls_record

#: The command line again with TLS on or off (and ``--insecure`` or not), as the user would type it.
Rerun = Callable[[bool, bool], str]

# a probe asks the peer on the user's behalf: it must not make a quick mistake slow to report
PROBE_TIMEOUT = 3.0


def client_hello_note(data: bytes, rerun: Rerun | None) -> str | None:
    """The first bytes a plain server read are a TLS ClientHello: say so, and how to answer it."""
    if tls_record(data) != "a TLS ClientHello":
        return None
    command = rerun(True, False) if rerun else "listen with --tls"
    return (f"this looks like TLS: the client sent a TLS ClientHello (it speaks https://), which a plain "
            f"HTTP server cannot read; use --tls: {command}")


def tls_port_note(host: str, port: int, server_hostname: str | None, *, first_bytes: bytes, what: str,
                  timeout: float | None, rerun: Rerun | None) -> str | None:
    """A plain client's connection ended (``what``: closed, reset) with no HTTP: does the port speak TLS?"""
    record = tls_record(first_bytes) if first_bytes else None
    if first_bytes and record is None:
        return None  # it sent something that is not TLS: the engine's verdict says enough
    probe = probe_tls(host, port, server_hostname=server_hostname,
                      timeout=min(timeout or PROBE_TIMEOUT, PROBE_TIMEOUT))
    seen = f"the server sent {record}" if record else f"the server {what} without a byte of HTTP"
    if probe is None:
        # no command to offer: the one with --tls would fail as the probe did
        return (f"this looks like TLS: {seen}, but a TLS handshake with port {port} failed too (it may want a "
                "client certificate, or another TLS version)") if record else None
    command = rerun(True, not probe.verified) if rerun else "--tls"
    check = "" if probe.verified else (f"; its certificate does not verify ({probe.why_not}): --insecure skips "
                                       "the check, --cafile FILE trusts the CA that issued it instead")
    return (f"this looks like TLS: {seen}, and port {port} completes a TLS handshake ({probe.version}){check}; "
            f"use --tls: {command}")


def plain_port_message(error: str, rerun: Rerun | None) -> str:
    """``connect --tls`` to a plain port: the handshake's failure and the command without ``--tls``."""
    return f"{error}; without --tls: {rerun(False, False)}" if rerun else f"{error}; try without --tls"


def serving_note(info: TLSInfo, address: str) -> str:
    """What a TLS listener (``listen --tls``, ``record --tls``) serves at ``address``, and the command
    with which curl trusts it."""
    host, _, port = address.rpartition(":")
    url = f"https://{'localhost' if host in ('0.0.0.0', '[::]') else host}:{port}/"
    certificate = info.certificate
    if info.throwaway:
        return (f"TLS with a throwaway self-signed certificate (removed at the end); a client trusts it with "
                f"the PEM file: curl --cacert {info.pem} {url}")
    if certificate is not None and certificate.subject == certificate.issuer:
        return f"TLS with the self-signed certificate {info.pem}: curl --cacert {info.pem} {url}"
    issuer = certificate.issuer if certificate else "?"
    return f"TLS with the certificate {info.pem}: a client trusts it with the CA that issued it ({issuer})"
