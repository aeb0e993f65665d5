from __future__ import annotations

import importlib

import pytest


def default_engine() -> str:
    """h11dbg's own engine once it offers a Connection; h11 until then."""
    try:
        module = importlib.import_module("h11dbg.protocol")
    except ImportError:
        return "h11"
    return "h11dbg" if hasattr(module, "Connection") else "h11"


@pytest.fixture(scope="session")
def engine_name() -> str:
    return default_engine()
