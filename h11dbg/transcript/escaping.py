"""Bytes shown to people: one escaping, used everywhere (JSON, the REPL, errors).

Printable ASCII stays as it is; ``\\r \\n \\t \\\\`` get their C escapes; every
other byte becomes ``\\xHH``.  :func:`unescape` reverses it (and is what the
REPL's ``data TEXT`` and ``raw TEXT`` use).
"""

from __future__ import annotations

_SPECIAL = {0x0D: "\\r", 0x0A: "\\n", 0x09: "\\t", 0x5C: "\\\\"}
_TABLE = [
    _SPECIAL.get(b, chr(b) if 0x20 <= b < 0x7F else f"\\x{b:02x}") for b in range(256)
]


# Bytes that stand for themselves: printable ASCII but the backslash.
_AS_IS = bytes(b for b in range(0x20, 0x7F) if b != 0x5C)


def escape(data: bytes) -> str:
    # Python's unicode_escape codec makes exactly these escapes for every Latin-1 code point (a test
    # checks all 256), and does it in C: bodies of many megabytes are escaped at memory speed.
    if type(data) is not bytes:
        data = bytes(data)
    if not data.translate(None, _AS_IS):  # nothing to escape (most heads and text): one decode
        return data.decode("ascii")
    return data.decode("latin-1").encode("unicode_escape").decode("ascii")


#: How many bytes an excerpt shows before it is cut.
EXCERPT_BYTES = 64


def excerpt(data: bytes, limit: int = EXCERPT_BYTES) -> str:
    """``data`` escaped, cut after ``limit`` bytes with "…" and its length (``… (4301 bytes)``) when longer:
    bytes from a user or a peer quoted in one line (an error's offending bytes, a bad line) keep it one
    readable line however many there are."""
    if len(data) <= limit:
        return escape(data)
    return f"{escape(data[:limit])}… ({len(data)} bytes)"


def quote(text: str, limit: int = EXCERPT_BYTES) -> str:
    """Text a user typed (an option's value, a script's line) quoted in a message as ``repr`` quotes it,
    cut as :func:`excerpt` cuts bytes: 5000 zeros typed by mistake keep the message one line."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text)} characters)"


class UnescapeError(ValueError):
    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


_SIMPLE = {"r": 0x0D, "n": 0x0A, "t": 0x09, "\\": 0x5C, "0": 0x00, "s": 0x20}


def unescape(text: str) -> bytes:
    """Turn ``GET / HTTP/1.1\\r\\n`` into bytes; non-ASCII text is UTF-8 encoded."""
    out = bytearray()
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch != "\\":
            out += ch.encode("utf-8")
            i += 1
            continue
        if i + 1 >= n:
            raise UnescapeError("a lone backslash ends the text (write \\\\ for one)", i)
        code = text[i + 1]
        if code in _SIMPLE:
            out.append(_SIMPLE[code])
            i += 2
        elif code == "x":
            digits = text[i + 2 : i + 4]
            try:
                if len(digits) != 2:
                    raise ValueError
                out.append(int(digits, 16))
            except ValueError:
                raise UnescapeError(f"\\x needs two hex digits, got {digits!r}", i) from None
            i += 4
        else:
            raise UnescapeError(f"unknown escape \\{code}", i)
    return bytes(out)
