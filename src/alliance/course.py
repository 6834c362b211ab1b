"""The book as a graduate course: reading times counted from the pages, and the week plan.

Every reading time the book prints (the "Time:" line of each chapter, the totals of
the paths page and the instructor's guide) comes from :func:`reading_minutes`, so the
pages agree by construction: the words a reader reads on a page (its Markdown prose,
with code, directive options and labels left out; a glued number or a formula counts as
one word) at :data:`WORDS_PER_MINUTE`, rounded to :data:`ROUND_TO` minutes. A total is
the sum of the pages' rounded times, so that the numbers on the pages add up.

:data:`WEEK_PLAN` maps the pages to the weeks of a 14-week graduate methods course;
the instructor's guide prints it with each week's reading time and the lab time measured
when the book was built (the execution time of each page's code).

Examples
--------
>>> count_words("---\\nx: 1\\n---\\n# A title\\n\\nTwo words $a_1$.\\n```{code-cell} ipython3\\n"
...             "not = 'counted'\\n```\\n")
5
>>> rounded_minutes(0), rounded_minutes(1), rounded_minutes(151 * 12)
(0, 5, 10)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ROUND_TO", "WEEK_PLAN", "WORDS_PER_MINUTE", "Week", "count_words", "page_text",
           "reading_minutes", "rounded_minutes", "total_minutes"]

#: Words a student reads per minute when studying a methods text with formulas and tables:
#: between the "learning" (about 200) and "memorising" (about 138) reading rates of Carver
#: (1992, Journal of Reading 36(2), 84-95).
WORDS_PER_MINUTE = 150
#: Reading times are printed to the nearest this many minutes (at least this many).
ROUND_TO = 5

_CODE_FENCES = ("{code-cell}", "{code-block}", "{code}", "{literalinclude}")
_WORD = re.compile(r"[0-9A-Za-zÀ-ÿ]")


def page_text(markdown: str) -> str:
    """The Markdown a reader reads as text: no front matter, no code, no directive fences or options.

    Code cells, code blocks and included source are left out (running them is lab time);
    the content of admonitions, exercises, solutions and tabs is kept.
    """
    text = re.sub(r"\A---\n.*?\n---\n", "", markdown, flags=re.DOTALL)
    out: list[str] = []
    stack: list[tuple[str, bool]] = []  # open fences: (marker, holds code)
    for line in text.splitlines():
        m = re.match(r"^\s*(`{3,}|~{3,}|:{3,})(.*)$", line)
        if m:
            marker, info = m.group(1), m.group(2).strip()
            top = stack[-1] if stack else None
            if top and not info and marker[0] == top[0][0] and len(marker) >= len(top[0]):
                stack.pop()
                continue
            if not (top and top[1]) and (marker[0] != ":" or info.startswith("{")):
                stack.append((marker, not info.startswith("{") or info.startswith(_CODE_FENCES)))
                continue
        if stack and stack[-1][1]:
            continue
        if stack and re.match(r"^:[\w-]+:", line):  # a directive option
            continue
        if re.match(r"^\([\w.:-]+\)=\s*$", line):  # a label
            continue
        out.append(line)
    return "\n".join(out)


def count_words(markdown: str) -> int:
    """Words of a page's prose (:func:`page_text`): tokens with at least one letter or digit."""
    return sum(1 for token in page_text(markdown).split() if _WORD.search(token))


def rounded_minutes(words: int, wpm: float = WORDS_PER_MINUTE) -> int:
    """Minutes to read ``words`` at ``wpm``, to the nearest :data:`ROUND_TO` (at least that)."""
    if words <= 0:
        return 0
    return max(ROUND_TO, ROUND_TO * round(words / wpm / ROUND_TO))


def reading_minutes(path: str | Path, wpm: float = WORDS_PER_MINUTE) -> int:
    """The reading time of one page (a Markdown file), as every page of the book prints it."""
    return rounded_minutes(count_words(Path(path).read_text(encoding="utf-8")), wpm)


def total_minutes(paths, wpm: float = WORDS_PER_MINUTE) -> int:
    """The sum of the pages' printed reading times (so that the pages add up)."""
    return sum(reading_minutes(p, wpm) for p in paths)


def hours_and_minutes(minutes: int) -> str:
    """``255`` -> ``"4 hours 15 minutes"`` (``"45 minutes"`` under an hour).

    >>> hours_and_minutes(255), hours_and_minutes(45), hours_and_minutes(60)
    ('4 hours 15 minutes', '45 minutes', '1 hour')
    """
    h, m = divmod(int(minutes), 60)
    parts = ([f"{h} hour{'s' if h != 1 else ''}"] if h else []) + ([f"{m} minutes"] if m else [])
    return " ".join(parts) or "0 minutes"


@dataclass(frozen=True)
class Week:
    """One week of the course: the pages to read, the pages run in the lab, what students learn."""

    number: int
    topic: str
    read: tuple[str, ...]
    lab: tuple[str, ...]
    objectives: tuple[str, ...]
    assessed: str = ""


#: The 14-week plan (pages named as in ``_toc.yml``). One seminar (the reading, discussed)
#: and one lab (the pages' code run, changed, and their exercises) a week.
WEEK_PLAN: tuple[Week, ...] = (
    Week(1, "The trial, its data and the book's notation",
         ("intro", "paths", "notation", "chapters/01_design"), ("chapters/01_design",),
         ("describe a cluster-randomised trial's nesting (sessions in patients in therapists) and "
          "why the therapist is the unit of analysis for an arm difference",
          "read, validate and summarise long session data with the package (one row per patient "
          "and session)",
          "say what a synthetic replication can and cannot show")),
    Week(2, "Randomisation, balance and clustering",
         ("chapters/02_randomisation",), ("chapters/02_randomisation",),
         ("write an allocation procedure as reproducible code and describe balance without "
          "significance tests",
          "estimate intraclass correlations and design effects from a three-level model",
          "run and interpret a randomisation test of a cluster-level effect")),
    Week(3, "Growth models with patients nested in therapists",
         ("chapters/03_growth",), ("chapters/03_growth",),
         ("write a linear growth model with a time-by-arm interaction and map every symbol to data",
          "choose small-sample tests (Satterthwaite, Kenward-Roger) and explain why they matter "
          "with 40 clusters",
          "test a rater difference with a stacked model rather than by comparing p values")),
    Week(4, "Mixed models in depth: boundary fits, engines, the same model in R",
         ("appendices/engine",), ("chapters/03_growth", "appendices/engine"),
         ("recognise and interpret a boundary (singular) fit",
          "reproduce a growth model in lme4/lmerTest and nlme from the book's R tabs and compare "
          "the numbers",
          "judge how a result depends on the therapist-level random effects")),
    Week(5, "Truth and bias: do trained therapists track their patients?",
         ("chapters/04_truth_bias",), ("chapters/04_truth_bias",),
         ("state the truth-and-bias model with within- and between-patient parts of the truth",
          "interpret directional bias, temporal congruence and level accuracy per arm",
          "test an arm difference in a within-patient slope against therapist-level variation")),
    Week(6, "Response surface analysis I: the surface and its parameters",
         ("chapters/05_response_surfaces",), ("chapters/05_response_surfaces",),
         ("fit a multilevel lagged response surface and read a1 to a5 along the lines of "
          "congruence and incongruence",
          "tell a within-patient surface from a between-patient one")),
    Week(7, "Response surface analysis II: congruence, model families, the bootstrap",
         (), ("chapters/05_response_surfaces",),
         ("apply the congruence checklist and say when a1 > 0 is not a congruence effect",
          "compare constrained surfaces by AICc and likelihood-ratio tests",
          "use a cluster bootstrap for nonlinear surface quantities")),
    Week(8, "Lagged outcomes and the Nickell bias",
         ("chapters/06_lagged",), ("chapters/06_lagged",),
         ("separate within- and between-patient lagged effects",
          "explain the bias of a person-centred lagged outcome in short series and measure it by "
          "simulation",
          "fit and interpret the reverse direction")),
    Week(9, "What replicates: an analysis plan and its verdicts",
         ("chapters/07_findings",), ("chapters/07_findings",),
         ("write a verdict rule fixed in advance (primary test, Holm adjustment, equivalence "
          "margins)",
          "read replication rates and false-positive rates from simulated trials"),
         "assignment 2 handed out"),
    Week(10, "Robustness: multiverse analysis",
         ("chapters/08_robustness",), ("chapters/08_robustness",),
         ("build and read a specification curve",
          "tell a choice that changes the question from one that changes the answer")),
    Week(11, "Planning the next trial: power by simulation",
         ("chapters/09_planning",), ("chapters/09_planning",),
         ("estimate power of each primary test by simulating the planned design",
          "read the number of therapists needed off a power curve, with its Monte Carlo error"),
         "assignment 1 handed out"),
    Week(12, "Lab: planning a trial (assignment 1)", (), (),
         ("run a power study with `alliance power` on a lab machine and judge its Monte Carlo "
          "error",)),
    Week(13, "Lab: a new scenario through the whole pipeline (assignment 2)", (), (),
         ("apply validate, report and multiverse to a trial from another scenario",),
         "assignment 1 due"),
    Week(14, "Presentations and synthesis", (), (),
         ("defend a set of verdicts against the generative model that produced the data",),
         "assignment 2 due"),
)
