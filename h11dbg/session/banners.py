"""Peers that speak another protocol than HTTP: what their first bytes show.

Said once per session as a note after the engine's verdict (or, for HTTP/2's preface, which parses as
a request line, after that request): an SSH identification string (RFC 4253 §4.2), a mail or file
server's greeting (SMTP and FTP ``220``, POP3 ``+OK``, IMAP ``* OK``), a mail client's ``EHLO``, the
HTTP/2 connection preface (RFC 9113 §3.4) or an HTTP/2 server's first SETTINGS frame (RFC 9113 §6.5).
The TLS mix-ups are :mod:`h11dbg.session.tls`'s.
"""

from __future__ import annotations

from h11dbg.transcript.escaping import escape
from h11dbg.transcript.model import Role

#: How many of a connection's first bytes the session keeps to tell what the peer speaks.
FIRST_BYTES = 64

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_GREETINGS = ((b"220 ", "SMTP or FTP"), (b"220-", "SMTP or FTP"), (b"+OK", "POP3"), (b"* OK", "IMAP"))
_SETTINGS = 0x4  # the HTTP/2 frame type


def _first_line(data: bytes) -> str:
    return escape(data.split(b"\n", 1)[0].rstrip(b"\r"))


def other_protocol_note(first: bytes, sender: Role) -> str | None:
    """What ``first`` (the first bytes ``sender`` sent) says the peer speaks, if not HTTP; else None."""
    if first.startswith(b"SSH-"):
        what = ("port is an SSH server, not an HTTP one" if sender == "server"
                else "client speaks SSH: an SSH client pointed at this HTTP port")
        return f"this looks like SSH: the {sender}'s first bytes are an SSH banner ({_first_line(first)}); the {what}"
    if sender == "server":
        for greeting, protocol in _GREETINGS:
            if first.startswith(greeting):
                return (f"this looks like {protocol}: the server greeted first ({_first_line(first)}), as mail and "
                        "file servers do; an HTTP server says nothing until it has read a request")
        if len(first) >= 9 and first[3] == _SETTINGS and first[5:9] == b"\0\0\0\0" and first[0] == 0 \
                and (first[1] << 8 | first[2]) % 6 == 0:
            return ("this looks like HTTP/2: the server's first bytes are an HTTP/2 SETTINGS frame (RFC 9113 "
                    "§6.5), as a server that speaks only HTTP/2 sends; it does not speak HTTP/1.1")
        return None
    if first.startswith(H2_PREFACE[:16]):
        return ("this looks like HTTP/2: the client sent the HTTP/2 connection preface (PRI * HTTP/2.0, RFC 9113 "
                "§3.4), as a client with prior knowledge of h2c does; an HTTP/1.1 server cannot serve it "
                "(curl: --http1.1 instead of --http2-prior-knowledge)")
    if first[:5].upper() in (b"EHLO ", b"HELO "):
        return (f"this looks like SMTP: the client said {_first_line(first)}, as a mail client does; it expects "
                "a mail server")
    return None
