"""Engines: modules that offer h11's public API.

``h11dbg`` (our own :mod:`h11dbg.protocol`) is the default; ``h11`` is the
reference package when it is installed.  Session code talks to an engine only
through h11's API plus the optional explain hooks that our engine provides.
"""

from __future__ import annotations

import importlib
from types import ModuleType

ENGINE_MODULES = {"h11dbg": "h11dbg.protocol", "h11": "h11"}
ENGINE_NAMES = tuple(ENGINE_MODULES)  # the choices of every --engine option


class EngineUnavailable(Exception):
    """The requested engine cannot be imported."""


def load_engine(name: str = "h11dbg") -> ModuleType:
    try:
        module_name = ENGINE_MODULES[name]
    except KeyError:
        raise EngineUnavailable(
            f"unknown engine {name!r}: choose one of {', '.join(sorted(ENGINE_MODULES))}"
        ) from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise EngineUnavailable(f"engine {name!r} is not installed ({exc})") from None
    if not hasattr(module, "Connection"):
        raise EngineUnavailable(f"engine {name!r} ({module_name}) does not offer h11's API")
    return module


def is_explainable(engine: ModuleType) -> bool:
    """True when the engine offers h11dbg's explain hooks (observers, rich errors)."""
    return hasattr(engine, "Transition")
