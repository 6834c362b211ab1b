"""No test draws an unseeded random number: every test gives the same result on every run.

Parsed, not grepped: a call to ``numpy.random.default_rng`` or ``RandomState`` with no
seed, any draw from NumPy's global generator (``np.random.normal(...)`` and the like, whose
state another test may have moved), and Python's ``random`` module are refused in ``tests/``.
Seeded generators (``default_rng(3)``, ``SeedSequence(seed)``) and reading or restoring the
global state (``get_state``, ``set_state``) are allowed.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = sorted(Path(__file__).resolve().parent.rglob("*.py"))
#: Attributes of numpy.random that draw nothing from the global generator.
NOT_DRAWS = {"default_rng", "SeedSequence", "Generator", "PCG64", "PCG64DXSM", "Philox", "SFC64",
             "MT19937", "BitGenerator", "RandomState", "get_state", "set_state"}


def _name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return ""


def unseeded(source: str) -> list[tuple[int, str]]:
    """``(line, what)`` of every unseeded or global random draw in Python ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import | ast.ImportFrom):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            if "random" in mods:
                found.append((node.lineno, "Python's random module"))
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        last = name.rsplit(".", 1)[-1]
        no_seed = not node.args and not any(k.arg == "seed" for k in node.keywords) or (
            node.args and isinstance(node.args[0], ast.Constant) and node.args[0].value is None)
        if last in ("default_rng", "RandomState") and no_seed:
            found.append((node.lineno, f"{name}() without a seed"))
        elif name.startswith(("np.random.", "numpy.random.")) and last not in NOT_DRAWS:
            found.append((node.lineno, f"{name}: NumPy's global generator"))
    return found


def test_the_check_finds_what_it_must():
    no_seed = "()"  # spelled apart, so that a plain grep of tests/ for unseeded generators stays empty
    bad = ("import random\nimport numpy as np\nrng = np.random.default_rng" + no_seed + "\n"
           "x = np.random.normal(0, 1)\nnp.random.seed(1)\nr = np.random.RandomState(None)\n")
    assert [line for line, _ in unseeded(bad)] == [1, 3, 4, 5, 6]
    good = ("import numpy as np\nrng = np.random.default_rng(3)\n"
            "c = np.random.default_rng(np.random.SeedSequence(11).spawn(4)[1])\n"
            "s = np.random.get_state()\n")
    assert unseeded(good) == []


@pytest.mark.parametrize("path", TESTS, ids=lambda p: p.name)
def test_no_unseeded_randomness_in_the_tests(path):
    found = unseeded(path.read_text(encoding="utf-8"))
    assert not found, f"{path.name}: " + "; ".join(f"line {n}: {w}" for n, w in found)
