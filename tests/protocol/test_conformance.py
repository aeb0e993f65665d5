"""The llhttp-derived conformance vectors (tests/data/conformance, from shared/conformance).

Every vector whose portable verdict is ``ok`` or ``error`` must agree, fed whole and one
byte at a time, using the shared runner's own judging code.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

import h11dbg.protocol as engine

DATA = Path(__file__).resolve().parent.parent / "data" / "conformance"


def _runner() -> ModuleType:
    spec = importlib.util.spec_from_file_location("run_vectors", DATA / "run_vectors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("run_vectors", module)
    spec.loader.exec_module(module)
    return module


RUNNER = _runner()
VECTORS = [json.loads(line) for line in (DATA / "llhttp_vectors.jsonl").read_text().splitlines() if line.strip()]
JUDGED = [v for v in VECTORS if v["portable_expect"] in ("ok", "error")]


def test_vector_file_is_complete() -> None:
    assert len(VECTORS) == 251
    assert len(JUDGED) == 178


@pytest.mark.parametrize("feed", ["whole", "bytewise"])
@pytest.mark.parametrize("vector", JUDGED, ids=[v["name"][7:70] for v in JUDGED])
def test_vector_agrees(vector: dict[str, object], feed: str) -> None:
    data = base64.b64decode(str(vector["input_b64"]))
    result = RUNNER.run_engine(engine, vector, data, feed)
    verdict, note = RUNNER.judge_llhttp(vector, result)
    if (
        verdict == "DISAGREE"
        and vector["portable_expect"] == "error"
        and result["outcome"] == "ok"
        and result["final"] == "need_data"
    ):
        # the input stops before the engine can decide: it must refuse once the peer closes
        result = RUNNER.run_engine(engine, dict(vector, eof=True), data, feed)
        verdict, note = RUNNER.judge_llhttp(vector, result)
    assert verdict == "agree", f"{verdict}: {note} ({result})"


@pytest.mark.parametrize("vector", [v for v in VECTORS if v["portable_expect"] in ("either", "skip")][:60])
def test_informational_vectors_never_crash(vector: dict[str, object]) -> None:
    data = base64.b64decode(str(vector["input_b64"]))
    for feed in ("whole", "bytewise"):
        result = RUNNER.run_engine(engine, vector, data, feed)
        assert result["outcome"] in ("ok", "error"), result
