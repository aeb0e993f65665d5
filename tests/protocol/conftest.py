"""Fixtures shared by the tests that hold ``h11dbg.protocol`` up against h11.

``engine`` is the module under test.  It runs over both names: ``h11`` (the reference run against
itself, which checks that the scripted expectations and generators are right) and ``h11dbg``.
``h11_ref`` is always the real h11.

Engines are compared through what a user of h11's public API can observe, turned into plain values
(:func:`describe_event`, :func:`snapshot`) because the two engines' event classes and state sentinels
are different objects even when they mean the same thing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from h11dbg.engines import ENGINE_MODULES


def load(name: str) -> ModuleType:
    """The engine module itself: an ImportError fails the test with its own traceback."""
    return importlib.import_module(ENGINE_MODULES[name])


@pytest.fixture
def engine(each_engine: str) -> ModuleType:
    return load(each_engine)


@pytest.fixture(params=["h11dbg"])
def candidate(request: pytest.FixtureRequest) -> ModuleType:
    """Our engine, for tests that only compare it with h11 (h11 against itself would prove nothing).

    Parametrised with the one name so test ids keep the ``[h11dbg]`` suffix they have with ``engine``."""
    return load(request.param)


@pytest.fixture
def h11_ref() -> ModuleType:
    return importlib.import_module("h11")


# ---------------------------------------------------------------------------------------------------
# Turning engine objects into comparable plain values


def state_name(state: object) -> str:
    # Sentinels' repr is their name in h11; ours must match, and a mismatch shows up as a diff.
    return repr(state)


def describe_event(e: ModuleType, event: object) -> tuple[Any, ...]:
    """Every public field of an event, as plain values, with the type name first."""
    if event is e.NEED_DATA or event is e.PAUSED:
        return ("sentinel", repr(event))
    kind = type(event).__name__
    if isinstance(event, e.Request):
        return (
            kind,
            event.method,
            event.target,
            event.http_version,
            list(event.headers),
            event.headers.raw_items(),
        )
    if isinstance(event, (e.InformationalResponse, e.Response)):
        return (
            kind,
            event.status_code,
            type(event.status_code).__name__,
            event.reason,
            event.http_version,
            list(event.headers),
            event.headers.raw_items(),
        )
    if isinstance(event, e.Data):
        return (kind, bytes(event.data), event.chunk_start, event.chunk_end)
    if isinstance(event, e.EndOfMessage):
        return (kind, list(event.headers), event.headers.raw_items())
    if isinstance(event, e.ConnectionClosed):
        return (kind,)
    raise AssertionError(f"{e.__name__} produced a non-event {event!r}")


def describe_error(e: ModuleType, exc: BaseException) -> tuple[Any, ...]:
    """Exception class (by public name) and error_status_hint; never the message text."""
    if isinstance(exc, e.RemoteProtocolError):
        return ("RemoteProtocolError", exc.error_status_hint)
    if isinstance(exc, e.LocalProtocolError):
        return ("LocalProtocolError", exc.error_status_hint)
    return (type(exc).__name__,)


def snapshot(e: ModuleType, conn: Any) -> dict[str, Any]:
    return {
        "our_state": state_name(conn.our_state),
        "their_state": state_name(conn.their_state),
        "states": {state_name(k): state_name(v) for k, v in conn.states.items()},
        "their_http_version": conn.their_http_version,
        "client_is_waiting_for_100_continue": conn.client_is_waiting_for_100_continue,
        "they_are_waiting_for_100_continue": conn.they_are_waiting_for_100_continue,
        # After the peer's error, how far the engine had consumed is internal; the API only promises
        # trailing_data for protocol switches.
        "trailing_data": "<after error>" if conn.their_state is e.ERROR else conn.trailing_data,
    }


# ---------------------------------------------------------------------------------------------------
# A recorder that drives one engine through a scripted exchange


class Trace:
    """Drives connections of one engine and writes down everything observable, step by step.

    Exceptions are recorded (by class and error_status_hint) and the script goes on, so a script can
    check what happens after an error too, and a crash in one engine is a difference, not a stop.
    """

    def __init__(self, e: ModuleType) -> None:
        self.e = e
        self.log: list[tuple[Any, ...]] = []
        self._names: dict[int, str] = {}
        self._alive: list[Any] = []  # keeps ids unique for the trace's lifetime

    def connection(self, role: str, **kwargs: Any) -> Any:
        conn = self.e.Connection(self.e.CLIENT if role == "client" else self.e.SERVER, **kwargs)
        self._alive.append(conn)
        self._names[id(conn)] = f"{role}{len(self._alive)}"
        self._record(conn, "new", role)
        return conn

    def _record(self, conn: Any, *what: Any) -> None:
        self.log.append((self._names[id(conn)], *what, snapshot(self.e, conn)))

    def _guard(self, conn: Any, what: str, action: Callable[[], Any]) -> Any:
        try:
            return action()
        except Exception as exc:  # recorded by class, so an engine crash shows up as a difference
            self._record(conn, what, "raised", describe_error(self.e, exc))
            return exc

    def send(self, conn: Any, event: Any) -> Any:
        result = self._guard(conn, "send", lambda: conn.send(event))
        if not isinstance(result, BaseException):
            self._record(conn, "send", describe_event(self.e, event), result)
        return result

    def send_passthrough(self, conn: Any, event: Any) -> Any:
        result = self._guard(conn, "send_with_data_passthrough",
                             lambda: conn.send_with_data_passthrough(event))
        if not isinstance(result, BaseException):
            joined = None if result is None else b"".join(result)
            self._record(conn, "send_with_data_passthrough", describe_event(self.e, event), joined)
        return result

    def receive(self, conn: Any, data: bytes) -> None:
        result = self._guard(conn, "receive_data", lambda: conn.receive_data(data))
        if not isinstance(result, BaseException):
            self._record(conn, "receive_data", data)

    def next_event(self, conn: Any) -> Any:
        result = self._guard(conn, "next_event", conn.next_event)
        if not isinstance(result, BaseException):
            self._record(conn, "next_event", describe_event(self.e, result))
        return result

    def events(self, conn: Any, limit: int = 50) -> list[Any]:
        """next_event until NEED_DATA, PAUSED, ConnectionClosed or an error."""
        out = []
        for _ in range(limit):
            event = self.next_event(conn)
            out.append(event)
            if (
                isinstance(event, BaseException)
                or event is self.e.NEED_DATA
                or event is self.e.PAUSED
                or isinstance(event, self.e.ConnectionClosed)
            ):
                return out
        raise AssertionError("next_event kept producing events")

    def call(self, conn: Any, method: str) -> Any:
        result = self._guard(conn, method, getattr(conn, method))
        if not isinstance(result, BaseException):
            self._record(conn, method, "ok")
        return result

    def transfer(self, src: Any, dst: Any, event: Any) -> list[Any]:
        """src sends event; whatever bytes that made arrive at dst, which reads all it can."""
        out = self.send(src, event)
        if isinstance(out, bytes | bytearray) and out:
            self.receive(dst, bytes(out))
        return self.events(dst)

    def close(self, src: Any, dst: Any) -> list[Any]:
        self.send(src, self.e.ConnectionClosed())
        self.receive(dst, b"")
        return self.events(dst)

    def note(self, label: str, value: Any) -> None:
        """Record a derived observation (e.g. a computed property) under a label."""
        self.log.append(("note", label, value))


def first_difference(ref: list[tuple[Any, ...]], got: list[tuple[Any, ...]]) -> str | None:
    for i, (a, b) in enumerate(zip(ref, got, strict=False)):
        if a != b:
            lines = [f"step {i} differs", f"  h11:  {a!r}", f"  ours: {b!r}"]
            if i:
                lines.insert(1, f"  after: {ref[i - 1]!r}")
            return "\n".join(lines)
    if len(ref) != len(got):
        return f"h11 recorded {len(ref)} steps, ours {len(got)}; next h11 step: " + repr(
            ref[len(got)] if len(ref) > len(got) else got[len(ref)]
        )
    return None


@pytest.fixture
def compare_with_h11(engine: ModuleType, h11_ref: ModuleType) -> Callable[[Callable[[Trace], None]], Trace]:
    """Run a script against h11 and against ``engine``; fail on the first observable difference."""

    def run(script: Callable[[Trace], None]) -> Trace:
        ref = Trace(h11_ref)
        script(ref)
        ours = Trace(engine)
        script(ours)
        diff = first_difference(ref.log, ours.log)
        assert diff is None, diff
        return ours

    return run


@pytest.fixture
def compat() -> SimpleNamespace:
    """The helpers above, for test modules (which cannot import conftest by name reliably)."""
    return SimpleNamespace(Trace=Trace, describe_event=describe_event, describe_error=describe_error,
                           snapshot=snapshot, first_difference=first_difference, load=load)
