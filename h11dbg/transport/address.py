"""Parsing ``HOST:PORT`` / ``[v6]:PORT`` / ``[HOST:]PORT`` as typed on the command line."""

from __future__ import annotations

from h11dbg.transcript.escaping import quote


class AddressError(ValueError):
    """The address a user typed cannot be understood."""


def parse_port(text: str, original: str | None = None) -> int:
    """A TCP port typed alone (an option's value) or in the address ``original``."""
    # ASCII digits only (int() refuses other scripts' digits), converted without the leading zeros
    # (int() refuses more than 4300 digits)
    digits = text.lstrip("0") or "0"
    if not (text.isascii() and text.isdigit()) or len(digits) > 5 or int(digits) > 65535:

        where = "" if original is None else f" in {quote(original)}"
        raise AddressError(f"bad port {quote(text)}{where} (expected 0-65535)")
    return int(digits)


def parse_connect_address(text: str, default_port: int) -> tuple[str, int]:
    """``example.com:8080``, ``127.0.0.1``, ``[::1]:8080`` -> (host, port)."""
    scheme, sep, rest = text.partition("://")
    if sep:
        host = rest.split("/", 1)[0]
        hint = f"{host}{'' if ':' in host else ':443'} --tls" if scheme == "https" else host
        raise AddressError(f"expected HOST:PORT, not a URL (try: connect {hint})")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise AddressError(f"missing ']' in {quote(text)}")
        host, rest = text[1:end], text[end + 1 :]
        if not rest:
            return host, default_port
        if not rest.startswith(":"):
            raise AddressError(f"expected ':PORT' after ']' in {quote(text)}")
        return host, parse_port(rest[1:], text)
    if text.count(":") > 1:
        raise AddressError(f"write IPv6 addresses in brackets, like [::1]:8080 (got {quote(text)})")
    host, sep, port = text.partition(":")
    if not host:
        raise AddressError(f"missing host in {quote(text)}")
    return host, (parse_port(port, text) if sep else default_port)


def parse_listen_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``8080``, ``0.0.0.0:8080``, ``[::1]:0`` -> (host, port)."""
    if text.isascii() and text.isdigit():
        return default_host, parse_port(text, text)
    host, port = parse_connect_address(text, -1)
    if port < 0:
        raise AddressError(f"missing port in {quote(text)}")
    return host, port


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def host_header(host: str, port: int, tls: bool) -> str:
    """The Host header value a client should send for this address (RFC 9110 §7.2)."""
    name = f"[{host}]" if ":" in host else host
    return name if port == (443 if tls else 80) else f"{name}:{port}"
