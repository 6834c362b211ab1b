"""The book as a course: the week plan, reading times that agree across pages, model notes said once."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
import yaml

from alliance import course
from alliance.errors import AllianceWarning

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.md"))


def _toc_files() -> set[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = {toc["root"]}

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.add(node["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc["parts"])
    return files


def test_the_week_plan_covers_the_book_in_12_to_14_weeks():
    plan = course.WEEK_PLAN
    assert 12 <= len(plan) <= 14
    assert [w.number for w in plan] == list(range(1, len(plan) + 1))
    pages = _toc_files()
    read = [d for w in plan for d in w.read]
    for w in plan:
        assert w.objectives, f"week {w.number} has no learning objective"
        assert set(w.read) | set(w.lab) <= pages, f"week {w.number} names a page not in _toc.yml"
    for md in CHAPTERS:
        doc = f"chapters/{md.stem}"
        assert doc in read, f"{doc} is never read"
        assert any(doc in w.lab for w in plan), f"{doc} is never run in a lab"
    assert read.index("chapters/09_planning") > read.index("chapters/07_findings")
    assert sum("assignment" in w.assessed for w in plan) == 4  # two handed out, two due


def test_reading_time_counts_prose_only():
    text = ("---\njupytext: {}\n---\n(label)=\n# Title words\n\n```{code-cell} ipython3\n"
            + "x = 1\n" * 500 + "```\n\n```{admonition} Note\n:class: tip\nThree more words\n```\n"
            "::::{tab-set}\n:::{tab-item} R\n:sync: r\n```{literalinclude} f.R\n```\ntab text\n"
            ":::\n::::\n| a | b |\n|---|---|\n")
    assert course.count_words(text) == 2 + 3 + 2 + 2
    assert course.rounded_minutes(150 * 7) == 5 and course.rounded_minutes(150 * 8) == 10


def test_every_chapter_glues_its_own_reading_time_in_its_time_line():
    for md in CHAPTERS:
        text = md.read_text()
        assert f'course.reading_minutes("{md.name}")' in text, md.name
        box = re.search(r"\*\*Time:\*\*(.*?)\n", text, flags=re.DOTALL)
        assert box and "{glue:text}`reading_minutes`" in box.group(1), md.name
        assert not re.search(r"\*\*Time:\*\* about \d", text), f"{md.name}: a typed time"


def test_a_model_note_is_said_once_per_page(monkeypatch):
    IPython = pytest.importorskip("IPython.display")
    from alliance.plots import tables

    shown = []
    monkeypatch.setattr(IPython, "display", lambda obj: shown.append(obj.data))
    tables._SHOWN.clear()  # what setup_book does at the top of a page
    msg = "x.csv (growth): boundary (singular) fit: a random-effect variance is estimated as zero"
    for text in (msg, msg, msg + " (another model)"):
        tables._show(AllianceWarning(text), AllianceWarning, "f.py", 1)
    assert len(shown) == 2
    assert "sensitivity analysis" not in shown[0]
    assert "valid fit of the simpler model" in shown[0]
    tables._SHOWN.clear()  # a new page: said again
    tables._show(AllianceWarning(msg), AllianceWarning, "f.py", 1)
    assert len(shown) == 3


def _text(path: Path) -> str:
    t = re.sub(r"<script.*?</script>|<style.*?</style>", "", path.read_text(), flags=re.DOTALL)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", t)))


@pytest.mark.slow
def test_reading_times_agree_across_the_built_pages(built_book):
    """Each chapter's Time line, the guide's week plan and the paths page's total: one computation."""
    printed = {}
    for md in CHAPTERS:
        m = re.search(r"Time: about (\d+) minutes of reading", _text(built_book / "chapters" /
                                                                     f"{md.stem}.html"))
        assert m, md.name
        printed[md.stem] = int(m.group(1))
        assert printed[md.stem] == course.reading_minutes(md), md.name
    guide = _text(built_book / "instructor.html")
    for week in course.WEEK_PLAN:
        if len(week.read) == 1 and week.read[0].startswith("chapters/"):
            stem = week.read[0].split("/")[1]
            row = re.search(rf" {week.number} {re.escape(week.topic)}.*? (\d+) min ", guide)
            assert row and int(row.group(1)) == printed[stem], (week.number, stem)
    first_seven = sum(v for k, v in printed.items() if int(k[:2]) <= 7)
    total = course.hours_and_minutes(first_seven)
    assert f"about {total} of reading" in _text(built_book / "paths.html")
    assert f"chapters 1 to 7, the replication proper, about {total}" in guide
    lab = re.search(r"All (\d+) min ([\d.]+ (?:s|min))", guide)
    assert lab, "the week plan's totals row"
