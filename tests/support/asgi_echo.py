"""The one ASGI app the suite and transcripts/record_all.py run under uvicorn.

It answers every HTTP request with ``METHOD PATH N bytes\\n`` (N: the request body's length) and a
Content-Length, so a client sees that the whole body arrived and the committed uvicorn transcripts stay
what record_all.py records.  uvicorn loads it as ``support.asgi_echo:app`` from the tests directory:
:func:`uvicorn_command` builds that command line for everyone.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parents[1]
APP = "support.asgi_echo:app"

Message = MutableMapping[str, Any]


def reply_for(method: str, path: str, body_length: int) -> bytes:
    """The body :func:`app` answers a request with."""
    return b"%s %s %d bytes\n" % (method.encode(), path.encode(), body_length)


async def app(scope: Message, receive: Callable[[], Awaitable[Message]],
              send: Callable[[Message], Awaitable[None]]) -> None:
    if scope["type"] != "http":
        return
    length = 0
    while True:
        message = await receive()
        length += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    reply = reply_for(scope["method"], scope["path"], length)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(reply))]})
    await send({"type": "http.response.body", "body": reply})


def uvicorn_command(port: int, *extra: str, host: str = "127.0.0.1") -> list[str]:
    """uvicorn serving :func:`app` on host:port with its h11 protocol (the engine h11dbg mirrors)."""
    return [sys.executable, "-m", "uvicorn", APP, "--app-dir", str(TESTS_DIR), "--host", host,
            "--port", str(port), "--http", "h11", "--log-level", "warning", *extra]
