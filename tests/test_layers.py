"""The package's layers (CONTRIBUTING.md): each module imports only its own layer and those below.

Lazy imports inside functions count too: a layer that reaches up at run time is
as tangled as one that does so at import time.
"""

import ast
from pathlib import Path

import pytest

from alliance import registry

SRC = Path(__file__).resolve().parents[1] / "src" / "alliance"

#: Layer of each top-level module or subpackage of ``alliance``, from the ground up: the one
#: source, ``alliance.registry.LAYERS`` (CONTRIBUTING.md's table is generated from it).
#: ``alliance/__init__.py`` is the facade: it may name anything.
LAYERS = [set(layer.names) for layer in registry.layers()]
LEVEL = {name: i for i, names in enumerate(LAYERS) for name in names}


def _unit(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def _imported_units(path: Path):
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "alliance" and len(parts) > 1 and parts[1] in LEVEL:
                yield parts[1], node.lineno
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value.startswith("alliance.") and " " not in node.value:
            unit = node.value.split(".")[1]
            if unit in LEVEL:  # a module named for importlib.import_module
                yield unit, node.lineno


MODULES = sorted(p for p in SRC.rglob("*.py") if p != SRC / "__init__.py")


def test_every_module_has_a_layer():
    assert {_unit(p) for p in MODULES} <= set(LEVEL), (
        "a new top-level module needs its layer in alliance.registry.layers() (an analysis: its "
        "ANALYSIS descriptor)")


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_run_down_the_layers(path):
    unit = _unit(path)
    up = sorted({f"{other} (line {line})" for other, line in _imported_units(path)
                 if LEVEL[other] > LEVEL[unit]})
    assert not up, f"{path.relative_to(SRC)} (layer {unit}) imports a higher layer: {up}"


def test_no_control_characters_in_sources():
    """A docstring written through a tool that read ``\\t`` or ``\\b`` as escapes once held a tab
    and a backspace where LaTeX's ``\\textstyle`` and ``\\bar`` belonged (the rendered maths
    said "extstyle" and "ar"). No source, chapter or page may hold a control character other
    than the line break."""
    root = Path(__file__).resolve().parents[1]
    files = [*sorted((root / "src").rglob("*.py")), *sorted((root / "chapters").glob("*.md")),
             *sorted(root.glob("*.md"))]
    bad = []
    for f in files:
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
            if any(ord(c) < 32 and c not in "\r" for c in line):
                bad.append(f"{f.relative_to(root)}:{n}")
    assert len(files) > 50 and not bad, bad
