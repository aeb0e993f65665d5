"""The layering of docs/architecture.md, held by the imports themselves: every module imports only
from the layers below its own (and from its own package), so no import points up and none forms a
cycle between packages.  Lazy imports inside functions count too: they are still dependencies."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "h11dbg"

# Lowest first.  Packages on one level are independent of each other (session and replay are the
# two cores, twins that never import each other).
LAYERS: list[set[str]] = [
    {"protocol"},
    {"engines", "transcript"},
    {"transport"},
    {"session", "replay", "demo"},
    {"output"},
    {"ui"},
    {"cli"},
]
LEVEL = {name: level for level, names in enumerate(LAYERS) for name in names}
TOP_LEVEL_FILES = {"__init__", "__main__"}  # the version, and ``python -m h11dbg`` (which runs the CLI)


def _part(module: Path) -> str:
    relative = module.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py")


def _imported_parts(module: Path) -> set[str]:
    tree = ast.parse(module.read_text(encoding="utf-8"), str(module))
    found: set[str] = set()
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] if node.module != "h11dbg" else [f"h11dbg.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level > 0:  # the engine's h11-style imports
            package = ["h11dbg", *module.relative_to(PACKAGE).parent.parts]
            base = package[: len(package) - node.level + 1]
            names = [".".join([*base, node.module] if node.module else base)]
        for name in names:
            parts = name.split(".")
            if parts[0] == "h11dbg" and len(parts) > 1:
                found.add(parts[1])
    return found


MODULES = sorted(path for path in PACKAGE.rglob("*.py") if _part(path) not in TOP_LEVEL_FILES)


def test_every_package_has_a_layer() -> None:
    parts = {_part(path) for path in MODULES}
    assert parts == set(LEVEL), "a new top-level package needs its place in LAYERS and docs/architecture.md"


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_only(module: Path) -> None:
    own = _part(module)
    upward = sorted(part for part in _imported_parts(module) - {own, "__version__"}
                    if part not in LEVEL or LEVEL[part] >= LEVEL[own])
    assert upward == [], f"{own} (level {LEVEL[own]}) imports {upward}"


def test_the_engine_imports_nothing_of_ours_and_only_the_standard_library() -> None:
    import sys

    for module in (PACKAGE / "protocol").rglob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                tops = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops = [node.module.split(".")[0]]
            else:
                continue
            for top in tops:
                ours = top == "h11dbg" and isinstance(node, ast.ImportFrom) and node.module == "h11dbg" \
                    and [alias.name for alias in node.names] == ["__version__"]
                assert top in sys.stdlib_module_names or ours, f"{module}: imports {top}"
