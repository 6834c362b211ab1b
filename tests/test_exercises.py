"""Graded exercises: a difficulty and an objective for each, self-checks that say right, close or wrong.

The checks compute their answers when called (from the shipped synthetic data or a seeded draw), so
these tests never state an answer either: they feed a check its own computed answer (right), the
answer nudged by a typical slip (close) and a far-off answer (wrong). ``test_every_self_check_in_the
_book_says_right`` reads the built pages, where every solution calls its check on the answer the
solution computed.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from alliance import exercises

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))
LEVELS = ("Warm-up", "Practice", "Challenge")
_EXERCISE = re.compile(r"(`{3,})\{exercise(?:-start)?\}([^\n]*)\n:label: ([\w-]+)\n(.*?)\1",
                       re.DOTALL)
_SOLUTION = re.compile(r"```\{solution-start\} ([\w-]+)\n(.*?)```\{solution-end\}", re.DOTALL)


def _exercises(md: Path):
    return [(m.group(3), m.group(2).strip(), m.group(4)) for m in _EXERCISE.finditer(md.read_text())]


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_every_exercise_has_a_difficulty_and_an_objective(md):
    found = _exercises(md)
    assert found, f"{md.name} has no exercises"
    for label, title, body in found:
        level = title.split(":", 1)[0]
        assert level in LEVELS and ":" in title, f"{md.name}: {label} has no difficulty ({title!r})"
        assert re.search(r"\*\*Learning objective:\*\* \S", body), \
            f"{md.name}: {label} states no learning objective"


@pytest.mark.parametrize("md", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_has_a_self_check_that_its_solution_calls(md):
    text = md.read_text()
    checked = [label for label, _, body in _exercises(md)
               if f'exercises.check("{label}"' in body]
    assert checked, f"{md.name}: no exercise with a self-check"
    solutions = dict(_SOLUTION.findall(text))
    for label in checked:
        assert label in exercises.EXERCISES, f"{label}: no check in alliance.exercises"
        code = "".join(re.findall(r"```\{code-cell\} ipython3\n(.*?)```", solutions[label],
                                  flags=re.DOTALL))
        assert f'exercises.check("{label}"' in code, f"{label}: the solution does not run its check"


def test_every_check_belongs_to_an_exercise_of_the_book():
    labels = {label for md in CHAPTERS for label, _, _ in _exercises(md)}
    assert set(exercises.labels()) <= labels


@pytest.mark.parametrize("label", [lbl for lbl in exercises.labels() if lbl != "ex-robustness-1"])
def test_a_check_says_right_to_its_answer_and_wrong_far_from_it(label):
    ex = exercises.EXERCISES[label]
    answer = exercises.expected(label)
    assert exercises.check(label, answer).verdict == "right"
    if isinstance(answer, str):
        assert exercises.check(label, "something else").verdict == "wrong"
        assert exercises.check(label, answer.upper()).verdict == "right"  # letter case is no error
        return
    assert exercises.check(label, answer + 10 * max(ex.close, 1) + 1e6).verdict == "wrong"
    if ex.close:
        assert exercises.check(label, answer + 0.9 * ex.close).verdict == "close"
    if ex.kind == "number":
        assert exercises.check(label, round(answer, 2 if ex.right > 0.001 else 3)).verdict == "right"
    assert exercises.check(label, "not a number").verdict == "wrong"


def test_a_check_reads_a_result_the_chapter_already_computed():
    """ex-robustness-1 takes the chapter's multiverse (refitting it takes half a minute)."""

    class Fake:
        tables = {"specifications": pd.DataFrame({
            "finding": [3, 3, 3, 3, 2], "centring": ["pooled mean"] * 3 + ["none", "pooled mean"],
            "lag_rule": ["gaps allowed", "gaps allowed", "strict", "gaps allowed", "gaps allowed"],
            "agrees": [True, False, True, True, False]})}

    assert exercises.expected("ex-robustness-1", multiverse=Fake()) == 0.5
    assert exercises.check("ex-robustness-1", 0.5, multiverse=Fake()).verdict == "right"
    assert exercises.check("ex-robustness-1", 0.45, multiverse=Fake()).verdict == "close"
    assert exercises.check("ex-robustness-1", 0.9, multiverse=Fake()).verdict == "wrong"


def test_the_allocation_count_follows_the_procedure():
    from alliance.allocation import allocate

    # all 6 lists of one block of four occur, and no other (blocks are 1:1)
    seen = {tuple(allocate(list("abcd"), seed=s, block_size=4)["condition"]) for s in range(200)}
    assert len(seen) == exercises._blocked_allocations([4], 4) == 6
    odd = {tuple(allocate(list("abc"), seed=s, block_size=4)["condition"]) for s in range(200)}
    assert len(odd) == exercises._blocked_allocations([3], 4) == 6


def test_an_unknown_label_names_the_ones_there_are():
    with pytest.raises(KeyError, match="ex-growth-1"):
        exercises.check("ex-growth-99", 1)


@pytest.mark.slow
def test_every_self_check_in_the_book_says_right(built_book):
    said = {}
    for page in sorted((built_book / "chapters").glob("*.html")):
        text = re.sub(r"<[^>]+>", "", page.read_text())
        for label, verdict in re.findall(r"(ex-[\w-]+), (right|close|wrong): ", text):
            said.setdefault(label, set()).add(verdict)
    assert set(said) == set(exercises.labels()), "a check's output is missing from the book"
    assert all(v == {"right"} for v in said.values()), said
