"""Engines: modules that offer h11's public API.

``h11dbg`` (our own :mod:`h11dbg.protocol`) is the default; ``h11`` is the
reference package when it is installed.  Session code talks to an engine only
through h11's API plus the optional explain hooks that our engine provides.

:class:`Engine` and :class:`Machine` name that API for the type checker: what the
cores use of an engine module and of one of its Connection objects (a *machine*,
one role's state machine; ``conn`` is always a transcript's connection number).
Both engines satisfy them (checked below).  Our engine's additions
(``add_observer``, ``advance``, ``bytes_consumed``, ``keep_alive_http10``) are not
part of them: code that uses one asks for it with ``hasattr``/``getattr`` first
(:class:`Counting` names the one the replay reads).  Each engine has its own
classes for roles, states and events, so the protocols name what both offer:
read-only attributes (properties, so that a module fits) and the calls the cores
make.

They exist for the type checker only (import them under ``TYPE_CHECKING``): as
classes, a dozen Protocols would cost every command's start-up some two million
instructions to build.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, cast

ENGINE_MODULES = {"h11dbg": "h11dbg.protocol", "h11": "h11"}
ENGINE_NAMES = tuple(ENGINE_MODULES)  # the choices of every --engine option
#: How to get an engine that is not a runtime dependency (h11 is an optional extra, pyproject.toml).
INSTALL_HINTS = {"h11": "pip install 'h11dbg[h11]'"}

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from typing import Any, Protocol, TypeAlias

    import h11

    import h11dbg.protocol

    #: A role (CLIENT, SERVER), a state (IDLE, DONE ...) or NEED_DATA/PAUSED: a class that is its own
    #: type, compared by identity.  Each engine has its own, so nothing narrower holds for both.
    Sentinel: TypeAlias = type

    #: Headers for a new event: (name, value) pairs in order (h11's API takes text as well as bytes).
    HeaderPairs: TypeAlias = Sequence[tuple[bytes | str, bytes | str]]

    class Headers(Protocol):
        def __iter__(self) -> Iterator[tuple[bytes, bytes]]: ...  # names lower-cased
        def raw_items(self) -> list[tuple[bytes, bytes]]: ...  # names as they were sent

    class Request(Protocol):
        def __init__(self, *, method: bytes | str, target: bytes | str, headers: HeaderPairs,
                     http_version: bytes | str = b"1.1") -> None: ...
        @property
        def method(self) -> bytes: ...
        @property
        def target(self) -> bytes: ...
        @property
        def headers(self) -> Headers: ...
        @property
        def http_version(self) -> bytes: ...

    class Response(Protocol):
        """A Response or an InformationalResponse."""

        def __init__(self, *, status_code: int, headers: HeaderPairs, reason: bytes | str = b"",
                     http_version: bytes | str = b"1.1") -> None: ...
        @property
        def status_code(self) -> int: ...
        @property
        def reason(self) -> bytes: ...
        @property
        def headers(self) -> Headers: ...
        @property
        def http_version(self) -> bytes: ...

    class Data(Protocol):
        def __init__(self, *, data: bytes, chunk_start: bool = False, chunk_end: bool = False) -> None: ...
        @property
        def data(self) -> bytes: ...

    class EndOfMessage(Protocol):
        def __init__(self, *, headers: HeaderPairs = ()) -> None: ...
        @property
        def headers(self) -> Headers: ...

    class ConnectionClosed(Protocol):
        def __init__(self) -> None: ...

    class Machine(Protocol):
        """One engine Connection: one role's view of an HTTP/1.1 connection."""

        @property
        def states(self) -> Mapping[Any, Sentinel]: ...  # Any: keyed by the engine's own role class
        @property
        def our_state(self) -> Sentinel: ...
        @property
        def their_state(self) -> Sentinel: ...
        @property
        def their_http_version(self) -> bytes | None: ...
        @property
        def they_are_waiting_for_100_continue(self) -> bool: ...
        @property
        def client_is_waiting_for_100_continue(self) -> bool: ...
        @property
        def trailing_data(self) -> tuple[bytes, bool]: ...

        def receive_data(self, data: bytes) -> None: ...
        def next_event(self) -> object: ...  # an event, NEED_DATA or PAUSED
        # Any: an engine accepts only its own event classes, which no one type names.
        def send(self, event: Any) -> bytes | None: ...
        def send_with_data_passthrough(self, event: Any) -> Sequence[bytes] | None: ...
        def start_next_cycle(self) -> None: ...

    class Counting(Protocol):
        """Our engine's Connection also counts the peer's bytes it has made events of (h11's does not)."""

        @property
        def bytes_consumed(self) -> int: ...

    class Engine(Protocol):
        """What the cores use of an engine module (read-only: properties, so that a module fits)."""

        @property
        def __name__(self) -> str: ...
        # (our_role, max_incomplete_event_size=..., **our engine's extras): h11 refuses the extras
        @property
        def Connection(self) -> Callable[..., Machine]: ...
        @property
        def CLIENT(self) -> Sentinel: ...
        @property
        def SERVER(self) -> Sentinel: ...
        @property
        def NEED_DATA(self) -> Sentinel: ...
        @property
        def PAUSED(self) -> Sentinel: ...
        @property
        def IDLE(self) -> Sentinel: ...
        @property
        def SEND_RESPONSE(self) -> Sentinel: ...
        @property
        def SEND_BODY(self) -> Sentinel: ...
        @property
        def DONE(self) -> Sentinel: ...
        @property
        def MUST_CLOSE(self) -> Sentinel: ...
        @property
        def CLOSED(self) -> Sentinel: ...
        @property
        def ERROR(self) -> Sentinel: ...
        @property
        def MIGHT_SWITCH_PROTOCOL(self) -> Sentinel: ...
        @property
        def SWITCHED_PROTOCOL(self) -> Sentinel: ...
        @property
        def Request(self) -> type[Request]: ...
        @property
        def InformationalResponse(self) -> type[Response]: ...
        @property
        def Response(self) -> type[Response]: ...
        @property
        def Data(self) -> type[Data]: ...
        @property
        def EndOfMessage(self) -> type[EndOfMessage]: ...
        @property
        def ConnectionClosed(self) -> type[ConnectionClosed]: ...
        @property
        def LocalProtocolError(self) -> type[Exception]: ...
        @property
        def RemoteProtocolError(self) -> type[Exception]: ...

    # Both engines offer everything the cores use: a change to either API fails here first.
    _ours: Engine = h11dbg.protocol
    # (h11 has MIGHT_SWITCH_PROTOCOL, and documents it, but leaves it out of its __all__)
    _reference: Engine = h11  # type: ignore[assignment]


class EngineUnavailable(Exception):
    """The requested engine cannot be imported."""


def load_engine(name: str = "h11dbg") -> Engine:
    try:
        module_name = ENGINE_MODULES[name]
    except KeyError:
        raise EngineUnavailable(
            f"unknown engine {name!r}: choose one of {', '.join(sorted(ENGINE_MODULES))}"
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = INSTALL_HINTS.get(name)
        if hint is not None and exc.name == module_name:
            raise EngineUnavailable(f"engine {name!r} needs the {module_name} package, which is not installed: "
                                    f"{hint}") from None
        raise EngineUnavailable(f"engine {name!r} cannot be imported ({exc})") from None
    if not hasattr(module, "Connection"):
        raise EngineUnavailable(f"engine {name!r} ({module_name}) does not offer h11's API")
    return cast("Engine", module)


def is_explainable(engine: Engine) -> bool:
    """True when the engine offers h11dbg's explain hooks (observers, rich errors)."""
    return hasattr(engine, "Transition")

