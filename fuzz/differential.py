"""Differential harness: h11dbg.protocol against h11 0.16.0, the same bytes and the same splits for both.

The input's first byte picks the role, the method our client sent (for responses) and whether the stream
ends; bit 7 says how the rest is read: raw, it is the peer's bytes; set, it is a recipe
(:func:`generated`) that picks a well-formed message and mutates it with the hostile pieces the property
tests use (header lines, chunk-size lines, line ends, bytes).  Both engines read the stream whole and in
a random split seeded from the input.  Every disagreement is either one of the deliberate differences
documented in docs/differences-from-h11.md (named by the property tests' classifier, which re-derives the
reason from the bytes: :data:`DOCUMENTED`) or a finding.  A crash of our engine is a finding; a crash of
h11 where ours raises a protocol error is the documented "Where h11 crashes" case.

    python -m fuzz differential --seconds 600
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import atheris

from fuzz.splits import random_split

# The classifier and the message pieces live with the property tests (tests/protocol/test_properties.py):
# one classifier for the suite and the fuzzer.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

with atheris.instrument_imports(include=["h11dbg.protocol"]):
    import h11dbg.protocol as ours_engine

import h11  # noqa: E402
from protocol import conftest  # noqa: E402
from protocol.test_properties import (  # noqa: E402
    CHUNK_SIZES,
    DELIBERATE,
    HEADER_LINES,
    INTERESTING,
    explain_difference,
    run,
)

COMPAT = SimpleNamespace(describe_event=conftest.describe_event, describe_error=conftest.describe_error)
DOC = Path(__file__).resolve().parents[1] / "docs" / "differences-from-h11.md"
# Each difference the classifier may name -> its entry in docs/differences-from-h11.md (the heading that
# carries the name in backquotes).  fuzz's tests check every entry is there.
DOCUMENTED = {name: f"docs/differences-from-h11.md, section `{name}`" for name in sorted(DELIBERATE)}
H11_CRASH = "docs/differences-from-h11.md, 'Where h11 crashes and we raise a protocol error'"
METHODS = [b"GET", b"HEAD", b"POST", b"CONNECT"]
# Well-formed messages the recipes start from (requests for a server, responses for a client).
REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello",
    b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n0\r\nT: v\r\n\r\n",
    b"GET / HTTP/1.0\r\nX: y\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: ws\r\n\r\nbytes",
    b"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n",
]
RESPONSES = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.0 200 OK\r\n\r\nuntil close",
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: ws\r\nConnection: Upgrade\r\n\r\nnew",
    b"HTTP/1.1 304 Not Modified\r\nETag: x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n",
]


class Finding(Exception):
    """A disagreement with h11 that no documented difference explains, or a crash of ours."""


def generated(role: str, recipe: bytes) -> bytes:
    fdp = atheris.FuzzedDataProvider(recipe)
    pool = REQUESTS if role == "server" else RESPONSES
    data = pool[fdp.ConsumeIntInRange(0, len(pool) - 1)]
    for _ in range(fdp.ConsumeIntInRange(0, 4)):
        op = fdp.ConsumeIntInRange(0, 5)
        pos = fdp.ConsumeIntInRange(0, len(data))
        if op == 0:
            data = data[:pos] + INTERESTING[fdp.ConsumeIntInRange(0, len(INTERESTING) - 1)] + data[pos:]
        elif op == 1:
            at = data.find(b"\n") + 1  # after the start line
            data = data[:at] + HEADER_LINES[fdp.ConsumeIntInRange(0, len(HEADER_LINES) - 1)] + b"\r\n" + data[at:]
        elif op == 2:
            head_end = data.find(b"\r\n\r\n")
            if head_end >= 0:
                body = data[head_end + 4:]
                line_end = body.find(b"\r\n")
                if line_end > 0:
                    size = CHUNK_SIZES[fdp.ConsumeIntInRange(0, len(CHUNK_SIZES) - 1)]
                    data = data[:head_end + 4] + size + body[line_end:]
        elif op == 3:
            data = data[:pos] + data[pos + fdp.ConsumeIntInRange(1, 8):]
        elif op == 4:
            data = data[:pos] + bytes([fdp.ConsumeIntInRange(0, 255)]) + data[pos + 1:]
        else:
            data = data[:pos]
    return data + fdp.ConsumeBytes(64)


def split_for_both(data: bytes) -> list[list[bytes]]:
    return [[data] if data else [], random_split(data, 6)]


def compare(role: str, method: bytes, eof: bool, pieces: list[bytes]) -> str | None:
    """None when the engines agree, else the documented difference that explains it (or Finding)."""
    try:
        ref = run(h11, COMPAT, role, pieces, eof, method)
    except Exception as exc:  # h11 itself failed: ours must have raised a protocol error (or agree)
        try:
            run(ours_engine, COMPAT, role, pieces, eof, method)
        except Exception as ours_exc:
            raise Finding(f"ours raised {ours_exc!r} on {pieces!r}") from ours_exc
        return H11_CRASH if not isinstance(exc, h11.ProtocolError) else None
    try:
        ours = run(ours_engine, COMPAT, role, pieces, eof, method)
    except Exception as exc:
        raise Finding(f"ours raised {exc!r} (role {role}, method {method!r}) on {pieces!r}") from exc
    if ours.key() == ref.key():
        return None
    reason = explain_difference(role, pieces, eof, method, ref, ours, h11, COMPAT)
    if reason is None:
        raise Finding(f"unexplained difference from h11\n  role={role} method={method!r} eof={eof}\n"
                      f"  pieces={pieces!r}\n  h11:  {ref}\n  ours: {ours}")
    return DOCUMENTED[reason]


def check(data: bytes) -> None:
    if not data:
        return
    control, rest = data[0], data[1:]
    role = "server" if control & 1 else "client"
    method = METHODS[(control >> 1) % len(METHODS)] if role == "client" else b"GET"
    eof = bool(control & 0x08)
    stream = generated(role, rest) if control & 0x80 else rest
    for pieces in split_for_both(stream):
        compare(role, method, eof, pieces)


def main() -> None:
    atheris.Setup([os.environ.get("FUZZ_SELF", sys.argv[0]), *sys.argv[1:]], check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
