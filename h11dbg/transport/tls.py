"""TLS for both roles: the server's context (a certificate from files, or a throwaway self-signed
one), what a handshake negotiated and which certificate it showed, and telling TLS from plain text.

Certificates are read and made with the ``cryptography`` package, imported only here and only when
TLS is used: the standard library can neither build a certificate nor read one it did not verify
(``getpeercert()`` is empty under ``--insecure``, which is exactly when a user wants to see it), and
the ``openssl`` command is not on every machine and its options differ between OpenSSL and LibreSSL.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import socket
import ssl
import tempfile
from dataclasses import dataclass

from h11dbg.transport.errors import HandshakeFailed, describe_os_error

ALPN = ["http/1.1"]
THROWAWAY_DAYS = 1


@dataclass(frozen=True)
class Certificate:
    """What ``curl -v`` shows of a certificate (times in UTC, ISO 8601)."""

    subject: str
    issuer: str
    not_before: str
    not_after: str
    san: tuple[str, ...]  # "DNS:localhost", "IP:127.0.0.1"
    sha256: str  # the fingerprint of the DER bytes, "AB:CD:..." as ``openssl x509 -fingerprint -sha256``


@dataclass(frozen=True)
class TLSInfo:
    """A TLS connection's terms, or (before any handshake) the certificate a listener serves."""

    version: str | None = None  # "TLSv1.3"
    cipher: str | None = None
    alpn: str | None = None
    sni: str | None = None  # the server name the client asked for
    certificate: Certificate | None = None  # the server's (ours when listening)
    verified: bool | None = None  # connect: checked against CAs (False: --insecure)
    pem: str | None = None  # listen: the certificate file a client can trust (curl --cacert)
    throwaway: bool = False  # listen: generated at start, removed at the end

    def summary(self) -> str:
        """``TLS TLSv1.3, cipher TLS_AES_256_GCM_SHA384, ALPN http/1.1`` (and the SNI, if any)."""
        text = f"TLS {self.version or '?'}, cipher {self.cipher or '?'}, ALPN {self.alpn or '(none)'}"
        return text + (f", SNI {self.sni}" if self.sni else "")


def read_certificate(der: bytes) -> Certificate:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    cert = x509.load_der_x509_certificate(der)
    names: list[str] = []
    with contextlib.suppress(x509.ExtensionNotFound):
        alt = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names += [f"DNS:{name}" for name in alt.get_values_for_type(x509.DNSName)]
        names += [f"IP:{address}" for address in alt.get_values_for_type(x509.IPAddress)]
    return Certificate(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_before=_utc(cert.not_valid_before_utc),
        not_after=_utc(cert.not_valid_after_utc),
        san=tuple(names),
        sha256=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
    )


def _utc(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def negotiated(sock: ssl.SSLSocket, *, sni: str | None, verified: bool | None) -> TLSInfo:
    """What a finished handshake agreed on, and the certificate the peer showed (if it showed one)."""
    cipher = sock.cipher()
    der = sock.getpeercert(binary_form=True)
    certificate = read_certificate(der) if der else None
    return TLSInfo(version=sock.version(), cipher=cipher[0] if cipher else None,
                   alpn=sock.selected_alpn_protocol(), sni=sni, certificate=certificate, verified=verified)


# -- the server side --------------------------------------------------------------------------------

class CertificateFileError(ValueError):
    """``--cert``/``--key`` cannot be loaded (one line: which file, and why)."""


class ServerTLS:
    """A server context with its certificate: from ``cert``/``key`` files, or (neither given) a
    throwaway self-signed certificate for ``host``, localhost and the loopback addresses, written to
    a private temporary directory that :meth:`close` removes."""

    def __init__(self, host: str, cert: str | None = None, key: str | None = None) -> None:
        self._directory: str | None = None
        if cert is None:
            self._directory = tempfile.mkdtemp(prefix="h11dbg-tls-")
            cert, key = _throwaway(host, self._directory)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.set_alpn_protocols(ALPN)
        self.context.sni_callback = self._remember_sni
        self.requested_sni: str | None = None
        try:
            self.context.load_cert_chain(cert, key)
            with open(cert, "rb") as f:
                pem = f.read().decode("ascii", "replace")
            certificate = read_certificate(ssl.PEM_cert_to_DER_cert(_first_pem(pem)))
        except (OSError, ssl.SSLError, ValueError) as exc:
            self.close()
            what = f"{cert} and {key}" if key else cert
            raise CertificateFileError(describe_os_error(exc, f"loading the certificate {what}")) from None
        self.info = TLSInfo(certificate=certificate, pem=os.path.abspath(cert), throwaway=self._directory is not None)

    def _remember_sni(self, sock: object, name: str | None, context: ssl.SSLContext) -> None:
        self.requested_sni = name

    def handshake(self, sock: socket.socket, peer: str, timeout: float | None) -> tuple[ssl.SSLSocket, TLSInfo]:
        """The server's side of the handshake on an accepted socket (closed if it fails)."""
        self.requested_sni = None
        sock.settimeout(timeout)
        try:
            wrapped = self.context.wrap_socket(sock, server_side=True)
        except (OSError, ssl.SSLError) as exc:
            sock.close()
            raise HandshakeFailed(_server_handshake_failure(exc, peer)) from None
        # (our own certificate was shown when listening started; a client's, if any, is the peer's)
        return wrapped, negotiated(wrapped, sni=self.requested_sni, verified=None)

    def close(self) -> None:
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None


def _first_pem(text: str) -> str:
    start = text.find("-----BEGIN CERTIFICATE-----")
    end = text.find("-----END CERTIFICATE-----", start)
    if start < 0 or end < 0:
        raise ValueError("no PEM certificate in the file")
    return text[start:end + len("-----END CERTIFICATE-----")]


def _throwaway(host: str, directory: str) -> tuple[str, str]:
    """An EC P-256 key and a self-signed certificate (valid for a day), as cert.pem and key.pem."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    dns = ["localhost"]
    addresses = {"127.0.0.1", "::1"}
    try:
        addresses.add(str(ipaddress.ip_address(host)))
    except ValueError:
        dns.append(host)
    if host in ("0.0.0.0", "::"):
        dns.append(socket.gethostname())
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in dict.fromkeys(dns)]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in sorted(addresses - {"0.0.0.0", "::"})]
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "h11dbg throwaway certificate")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))  # a client whose clock is a little behind
        .not_valid_after(now + datetime.timedelta(days=THROWAWAY_DAYS))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        # its own trust anchor (curl --cacert FILE) and a server certificate at once
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    descriptor = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return cert_path, key_path


# what OpenSSL says when the two sides have no TLS version in common (the client's side, the server's)
_NO_COMMON_VERSION = ("TLSV1_ALERT_PROTOCOL_VERSION", "UNSUPPORTED_PROTOCOL", "NO_PROTOCOLS_AVAILABLE")


def version_hint(exc: BaseException) -> str:
    """Why a handshake failed for want of a common TLS version ("" if it did not)."""
    if (getattr(exc, "reason", None) or "") not in _NO_COMMON_VERSION:
        return ""
    return ("no TLS version in common: the peer offers only versions refused here (TLS 1.0 or 1.1, most "
            "likely; this side speaks TLS 1.2 and later)")


def _server_handshake_failure(exc: BaseException, peer: str) -> str:
    text = describe_os_error(exc, f"TLS handshake with the client {peer}")
    if version_hint(exc):
        return f"{text}: {version_hint(exc)}"
    reason = getattr(exc, "reason", None) or ""
    if reason == "HTTP_REQUEST":
        return text + (": the client sent plain HTTP to a TLS port (use https:// in the client, or run this "
                       "command without --tls)")
    if "UNKNOWN_CA" in reason or "BAD_CERTIFICATE" in reason or "CERTIFICATE_UNKNOWN" in reason:
        return text + ": the client does not trust our certificate (give it the PEM file, e.g. curl --cacert FILE)"
    return text


# -- the client side -------------------------------------------------------------------------------

def client_context(cafile: str | None = None, insecure: bool = False) -> ssl.SSLContext:
    """A client's context: the system's CAs (or ``cafile``'s), or no verification; ALPN http/1.1 only.
    Raises OSError/ssl.SSLError when ``cafile`` cannot be loaded."""
    context = ssl.create_default_context(cafile=cafile)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(ALPN)
    return context


# -- TLS's half-close ------------------------------------------------------------------------------

def send_close_notify(sock: ssl.SSLSocket) -> bool:
    """Half-close TLS as TLS does: send a close_notify alert, which ends our writing and not our reading
    (RFC 8446 §6.1), without waiting for the peer's; the TCP stays open both ways.  ``shutdown()`` would
    drop TLS from the socket, and a blocking ``unwrap()`` waits for the peer's alert.  Returns False when
    the socket's buffer is full (OpenSSL keeps the alert and sends it when called again).

    ``unwrap()`` sends the alert, then reads one record in the hope of the peer's, and OpenSSL discards
    application data it finds there: the caller reads what has arrived first, and the alert is held back
    (TCP_CORK, Linux) until that read is over, so a peer that answers the alert at once (a test's did,
    one time in six) cannot have its answer taken."""
    timeout = sock.gettimeout()
    cork = getattr(socket, "TCP_CORK", None)
    with contextlib.suppress(OSError):
        if cork is not None:
            sock.setsockopt(socket.IPPROTO_TCP, cork, 1)
    try:
        sock.settimeout(0.0)
        sock.unwrap()  # completes only if the peer's close_notify came first
    except (ssl.SSLWantReadError, BlockingIOError, InterruptedError):
        pass  # sent; the peer's close_notify is for the reads to find
    except ssl.SSLWantWriteError:
        return False
    except OSError:
        pass  # the peer is gone: its reset is for the reads to find
    finally:
        with contextlib.suppress(OSError):
            sock.settimeout(timeout)
            if cork is not None:
                sock.setsockopt(socket.IPPROTO_TCP, cork, 0)  # out it goes
    return True


# -- telling a TLS port from a plain one -------------------------------------------------------------

def tls_record(data: bytes) -> str | None:
    """What TLS record ``data`` begins with (``a TLS ClientHello``, ``a TLS alert`` ...), or None when
    it cannot be one: a record starts with its type (0x16 handshake, 0x15 alert) and version 3.x."""
    if len(data) < 3 or data[1] != 3 or data[2] > 4:
        return None
    if data[0] == 0x16:
        kind = data[5] if len(data) > 5 else None
        return {1: "a TLS ClientHello", 2: "a TLS ServerHello"}.get(kind or 0, "a TLS handshake record")
    if data[0] == 0x15:
        return "a TLS alert"
    return None


@dataclass(frozen=True)
class Probe:
    """Whether a port completed a TLS handshake, and whether its certificate verified."""

    version: str
    verified: bool
    why_not: str = ""  # the verification failure, when not verified


def probe_tls(host: str, port: int, *, server_hostname: str | None, timeout: float) -> Probe | None:
    """Try a TLS handshake on a new connection (nothing is sent after it); None if it is not TLS."""
    failure = ""
    for verify in (True, False):
        context = client_context(insecure=not verify)
        try:
            with socket.create_connection((host, port), timeout=timeout) as raw, \
                    context.wrap_socket(raw, server_hostname=server_hostname or host) as sock:
                return Probe(version=sock.version() or "TLS", verified=verify, why_not=failure)
        except ssl.SSLCertVerificationError as exc:
            failure = str(exc.verify_message or exc.reason)
            continue
        except (OSError, ssl.SSLError):
            return None
    return None


def plain_text_hint(exc: BaseException) -> str:
    """Why a client's handshake may have failed because the port speaks plain text ("" if no sign of it)."""
    reason = getattr(exc, "reason", None) or ""
    if reason == "WRONG_VERSION_NUMBER" or reason == "RECORD_LAYER_FAILURE":
        return "the server answered the TLS handshake with bytes that are not TLS: the port speaks plain HTTP"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "the server sent nothing back to the TLS handshake, as a plain HTTP server waiting for a request does"
    if isinstance(exc, (ssl.SSLEOFError, ConnectionResetError)):
        return "the server closed the connection during the TLS handshake, as some plain HTTP servers do"
    return ""
