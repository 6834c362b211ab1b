"""Self-checks for the book's exercises: is an answer right, close or wrong?

Every exercise whose answer is a number or a verdict names a check::

    from alliance import exercises
    exercises.check("ex-growth-1", 4.3)      # -> right, close or wrong, with a hint

The right answer is **computed when the check is called**, from the shipped synthetic data
(``alliance.load_example()``) or a trial drawn with the seed the exercise names, with the same
package functions the chapter uses: nothing is stored, so a check stays right when the data or a
model change. Pass ``data=`` to check an answer computed on other data. Where the computation is
long (a multiverse, a study of simulated trials) and the chapter has already done it, pass its
result (``multiverse=res``); the check then reads the answer from it.

A number is *right* within the rounding the exercise asks for and *close* within a wider band
that catches a typical slip (named in the hint); a verdict or a choice is right when it names the
same thing, in any letter case. :func:`expected` gives an instructor the answer itself.

Examples
--------
>>> from alliance import exercises
>>> result = exercises.check("ex-randomisation-1", 6 ** 10)
>>> result.verdict
'right'
>>> exercises.check("ex-randomisation-1", 137846528820).verdict   # complete randomisation
'wrong'
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["EXERCISES", "Check", "Exercise", "check", "expected", "labels"]


@dataclass(frozen=True)
class Check:
    """The outcome of a self-check: ``verdict`` is ``"right"``, ``"close"`` or ``"wrong"``."""

    label: str
    verdict: str
    message: str

    def __bool__(self) -> bool:
        return self.verdict == "right"

    def __str__(self) -> str:
        return f"{self.label}, {self.verdict}: {self.message}"

    __repr__ = __str__


@dataclass(frozen=True)
class Exercise:
    """How one exercise's answer is computed and compared.

    ``kind`` is ``"number"`` (right within ``right``, close within ``close``, both absolute),
    ``"count"`` (a whole number: right when equal, close within ``close``) or ``"choice"`` (a
    word or name: right when it equals the computed one, ignoring case and spaces; ``aliases``
    maps other accepted spellings to it).
    """

    label: str
    asks: str
    kind: str
    answer: Callable[..., Any]
    hint: str
    right: float = 0.0
    close: float = 0.0
    aliases: dict = field(default_factory=dict)


def _quiet(fn, *args, **kwargs):
    from alliance.errors import AllianceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AllianceWarning)  # boundary fits: not the question here
        return fn(*args, **kwargs)


def _shipped(data):
    import alliance

    return alliance.load_example() if data is None else data


# ---------------------------------------------------------------------------- the answers
def _design_1(data=None, **_):
    import alliance
    from alliance.data.summary import sample_structure

    s = sample_structure(alliance.simulate(seed=1)).set_index("condition")
    return int(s.loc["training", "patients"])


def _blocked_allocations(sizes, block: int) -> int:
    """Distinct allocation lists of permuted blocks (an odd block gives its extra unit to either arm)."""
    total = 1
    for n in sizes:
        for start in range(0, n, block):
            m = min(block, n - start)
            total *= math.comb(m, m // 2) * (2 if m % 2 else 1)
    return total


def _randomisation_1(data=None, **_):
    from alliance.randomise import median_strata

    strata = pd.Series(median_strata(_shipped(data), "therapist_experience"))
    return _blocked_allocations(strata.value_counts().sort_index().tolist(), 4)


def _growth_1(data=None, **_):
    from alliance import growth, mixed

    d = _shipped(data)
    none = _quiet(growth.fit_growth, d, "therapist", method="ML", therapist_effects="none")
    full = _quiet(growth.fit_growth, d, "therapist", method="ML")
    return float(mixed.lrt(none.fit, full.fit)["statistic"])


def _tb_1(data=None, **_):
    from alliance import truth_bias

    res = _quiet(truth_bias.fit_truth_bias, _shipped(data), judgment="alliance_patient",
                 truth="alliance_therapist")
    signs = {np.sign(res.value("directional bias", lv)) for lv in ("control", "training")}
    if len(signs) != 1:
        return "mixed"
    return "positive" if signs.pop() > 0 else "negative"


def _tb_3(data=None, **_):
    import alliance
    from alliance import truth_bias

    trial = alliance.simulate(alliance.SimulationParams(tracking_training=0.2), seed=1)
    res = _quiet(truth_bias.fit_truth_bias, trial)
    return float(res.value("temporal congruence", "training - control"))


def _rsa_1(data=None, **_):
    from alliance import rsa

    d = _shipped(data)
    train = d[d["condition"] == "training"]
    res = _quiet(rsa.fit_rsa, train, "wellbeing", "alliance_therapist", "alliance_patient",
                 time="session", lag=1, lag_within="patient", covariates=["session"])
    models = res.tables["models"].dropna(subset=["weight"])
    return str(models.sort_values("weight", ascending=False)["model"].iloc[0])


def _lagged_1(data=None, **_):
    from alliance import lagged

    d = _shipped(data)
    with_prior = _quiet(lagged.fit_lagged, d)
    without = _quiet(lagged.fit_lagged, d, control_prior=False)
    return int(without.n_obs - with_prior.n_obs)


def _findings_verdict(data=None, evaluation=None, **_):
    from alliance import findings

    res = evaluation if evaluation is not None else _quiet(findings.evaluate, _shipped(data))
    verdicts = res.tables["findings"].set_index("claim")["verdict"]
    return str(verdicts.loc[2])


def _robustness_1(data=None, multiverse=None, **_):
    from alliance.studies import multiverse as mv

    res = multiverse if multiverse is not None else _quiet(mv.multiverse, _shipped(data),
                                                           findings=(3,), grid="full")
    t = res.tables["specifications"]
    t = t[(t["finding"] == 3) & (t["centring"] == "pooled mean")]
    return float(t.loc[t["lag_rule"] == "gaps allowed", "agrees"].mean())


def _planning_2(data=None, study=None, **_):
    from alliance.studies import frozen, power

    res = study if study is not None else frozen.summarise_study("power-therapists")
    needed = power.therapists_needed(res.tables["draws"], "a1_difference", 0.8)["logistic"]
    return "beyond the simulated range" if pd.isna(needed) else int(needed)


#: Every self-check, by the exercise's label.
EXERCISES: dict[str, Exercise] = {e.label: e for e in (
    Exercise("ex-design-1", "the number of patients in the training arm of the trial drawn with "
             "seed 1", "count", _design_1,
             "count patients, not rows (sessions) or therapists: `sample_structure` of the trial "
             "drawn by `alliance.simulate(seed=1)`, row `training`", close=3),
    Exercise("ex-randomisation-1", "the number of allocation lists of the stratified, blocked "
             "procedure", "count", _randomisation_1,
             "each block of four can be labelled in `math.comb(4, 2)` ways and the blocks are "
             "independent: multiply over every block of both strata (complete randomisation is "
             "`math.comb(40, 20)`, a different procedure)"),
    Exercise("ex-growth-1", "the likelihood-ratio statistic (chi-square) of the therapist "
             "intercept, to two decimals", "number", _growth_1,
             "fit both models by ML (`method=\"ML\"`), the smaller one with "
             "`therapist_effects=\"none\"`, and read `statistic` of `alliance.mixed.lrt`",
             right=0.006, close=2.0),
    Exercise("ex-tb-1", "the sign of directional bias when the patient judges: positive or "
             "negative", "choice", _tb_1,
             "with `judgment=\"alliance_patient\"` the bias is the patient's rating minus the "
             "therapist's; look at the rows `directional bias` of both arms",
             aliases={"+": "positive", "-": "negative", "higher": "positive", "lower": "negative"}),
    Exercise("ex-tb-3", "the arm difference in temporal congruence in the trial drawn with "
             "tracking_training=0.2 and seed 1, to three decimals", "number", _tb_3,
             "simulate `alliance.SimulationParams(tracking_training=0.2)` with `seed=1`, fit "
             "`fit_truth_bias` and read `temporal congruence`, level `training - control`",
             right=0.0006, close=0.05),
    Exercise("ex-rsa-1", "the model with the largest AICc weight", "choice", _rsa_1,
             "sort `res.tables[\"models\"]` by `weight` (largest first); the model names are the "
             "RSA package's (`SQD`, `RR`, `full`, ...)"),
    Exercise("ex-lagged-1", "how many more rows the model without the prior outcome uses",
             "count", _lagged_1,
             "compare `n_obs` of the two fits (or the `rows` tables): rows whose previous session "
             "lacks only well-being come back", close=5),
    Exercise("ex-findings-verdicts", "the verdict on finding 2", "choice", _findings_verdict,
             "run `findings.evaluate(data)` and read the row of claim 2 in `tables[\"findings\"]`; "
             "a verdict is one of replicated, inconclusive, not replicated, contradicted"),
    Exercise("ex-robustness-1", "the share of pooled-mean specifications of finding 3 that agree "
             "under the 'gaps allowed' lag rule, to two decimals", "number", _robustness_1,
             "restrict `res.tables[\"specifications\"]` to finding 3 and centring `pooled mean`, "
             "then take the mean of `agrees` for lag rule `gaps allowed` (a share, between 0 and 1)",
             right=0.006, close=0.1),
    Exercise("ex-planning-2", "the number of therapists the logistic reading gives for 80% power "
             "of the arm difference in a1 (or 'beyond the simulated range')", "choice",
             _planning_2,
             "`power.therapists_needed(draws, \"a1_difference\", 0.8)` on the draws of the study "
             "over therapists, its `logistic` reading; NaN means the target is not reached within "
             "the simulated designs",
             aliases={"nan": "beyond the simulated range", "none": "beyond the simulated range",
                      "beyond": "beyond the simulated range"}),
)}


def labels() -> list[str]:
    """The labels of the exercises that have a self-check."""
    return list(EXERCISES)


def _exercise(label: str) -> Exercise:
    try:
        return EXERCISES[label]
    except KeyError:
        raise KeyError(f"no self-check for {label!r}; exercises with one: "
                       f"{', '.join(EXERCISES)}") from None


def expected(label: str, *, data=None, **context):
    """The right answer to an exercise, computed now (for instructors and the tests)."""
    return _exercise(label).answer(data=data, **context)


def _norm(x) -> str:
    return " ".join(str(x).strip().lower().replace("_", " ").split())


def check(label: str, answer, *, data=None, **context) -> Check:
    """Say whether ``answer`` to the exercise ``label`` is right, close or wrong, with a hint.

    Parameters
    ----------
    label : str
        The exercise's label (``"ex-growth-1"``), as printed under it.
    answer
        A number, a whole number or a word, as the exercise asks.
    data : DataFrame, optional
        Data to compute the right answer on (default: the shipped synthetic data).
    **context
        A result the chapter has already computed, where the exercise names one
        (``multiverse=``, ``evaluation=``, ``study=``).

    Returns
    -------
    Check
        ``verdict`` (``"right"``, ``"close"``, ``"wrong"``) and a message; true when right.
    """
    ex = _exercise(label)
    truth = ex.answer(data=data, **context)
    if ex.kind == "choice" or isinstance(truth, str):
        given = _norm(answer)
        given = _norm(ex.aliases.get(given, given))
        if given == _norm(truth):
            return Check(label, "right", f"this is {ex.asks}.")
        if isinstance(truth, int) and not isinstance(answer, str):
            ex = Exercise(ex.label, ex.asks, "count", ex.answer, ex.hint)
        else:
            return Check(label, "wrong", f"this is not {ex.asks}. Hint: {ex.hint}.")
    try:
        value = float(answer)
    except (TypeError, ValueError):
        return Check(label, "wrong", f"the answer is {ex.asks}, a number. Hint: {ex.hint}.")
    if not math.isfinite(value):
        return Check(label, "wrong", f"the answer is {ex.asks}, a finite number. Hint: {ex.hint}.")
    diff = abs(value - float(truth))
    if ex.kind == "count":
        if value == round(value) and diff == 0:
            return Check(label, "right", f"this is {ex.asks}.")
        if diff <= ex.close:
            return Check(label, "close", f"nearly {ex.asks}, but not exactly. Hint: {ex.hint}.")
        return Check(label, "wrong", f"this is not {ex.asks}. Hint: {ex.hint}.")
    if diff <= ex.right:
        return Check(label, "right", f"this is {ex.asks}.")
    if diff <= ex.close:
        return Check(label, "close", f"near {ex.asks}, but not within its rounding. "
                                     f"Hint: {ex.hint}.")
    return Check(label, "wrong", f"this is not {ex.asks}. Hint: {ex.hint}.")
