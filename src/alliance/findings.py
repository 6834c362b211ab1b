"""The paper's four findings, each tested by the analysis that re-derives it.

:data:`CLAIMS` maps every published finding (Tasca et al. 2023, abstract) to
the chapter, figure and function of this book that re-derive it; the README's
claim map and chapter 7 are generated from it. :func:`evaluate` runs the
book's specification of each analysis on a data set and returns, claim by
claim, the estimate, its standard error, z, p, confidence interval and a
verdict. ``alliance report`` and chapter 7 both call it.

The specifications are those of the chapters: growth (chapter 3) with a
random intercept per therapist and a random intercept and slope per patient,
REML; truth and bias (chapter 4) with the therapist's rating as judgment and
the patient's as truth, REML; the lagged multilevel response surface
(chapter 5) of well-being on both ratings in the previous session,
moderated by arm, session as covariate, random intercepts per therapist and
patient, ML as in Nestler et al. (2019).
"""

from __future__ import annotations

import multiprocessing as mp
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alliance.data.validate import read_sessions
from alliance.errors import AllianceWarning
from alliance.growth import fit_growth
from alliance.results import Result
from alliance.rsa import fit_rsa
from alliance.synthetic.simulate import simulate
from alliance.truth_bias import fit_truth_bias

__all__ = ["CLAIMS", "CLAIM_MODELS", "Claim", "FindingsResult", "PAPER_MODELS",
           "claim_map_markdown", "evaluate", "fit_paper_models", "replication_rates"]


@dataclass(frozen=True)
class Claim:
    """One published finding and where this book re-derives it."""

    number: int
    statement: str
    hypothesis: str
    chapter: str
    chapter_label: str
    figure: str
    function: str


CLAIMS: tuple[Claim, ...] = (
    Claim(1, "Alliance grew faster under training when rated by therapists, but not when rated by "
             "patients.",
          "time x training > 0 for therapist ratings (p < alpha); not significant for patient ratings",
          "chapters/03_growth", "ch-growth", "fig-growth-trajectories",
          "alliance.growth.fit_growth"),
    Claim(2, "Trained therapists showed greater temporal congruence with their patients' alliance "
             "ratings than untrained therapists.",
          "temporal congruence (within-dyad truth force), training - control > 0 (p < alpha)",
          "chapters/04_truth_bias", "ch-truth-bias", "fig-tb-forces",
          "alliance.truth_bias.fit_truth_bias"),
    Claim(3, "Patient well-being improved in a session when trained therapists and their patients "
             "agreed in their positive alliance ratings in the previous session.",
          "lagged surface in the training arm: a1 > 0 along the line of congruence (p < alpha)",
          "chapters/05_response_surfaces", "ch-rsa", "fig-rsa-surface",
          "alliance.rsa.fit_rsa"),
    Claim(4, "That association was not significant among untrained therapists.",
          "lagged surface in the control arm: a1 not significant (p >= alpha); the arm difference "
          "is reported too",
          "chapters/05_response_surfaces", "ch-rsa", "fig-rsa-contour",
          "alliance.rsa.fit_rsa"),
)


@dataclass
class FindingsResult(Result):
    """Claim-by-claim results: ``tables["findings"]`` and ``tables["evidence"]``.

    ``findings``: one row per claim with ``claim``, ``statement``, ``verdict``
    and ``reason``. ``evidence``: every estimate a verdict rests on (``claim``,
    ``term``, ``level``, estimate, se, statistic, p, ci_low, ci_high).
    ``fits`` holds the fitted results by name.
    """

    fits: dict = field(default_factory=dict, repr=False)


def _rsa_lagged(data, conf_level):
    return fit_rsa(
        data, "wellbeing", x="alliance_therapist", y="alliance_patient",
        group=["therapist", "patient"], time="session", lag=1, moderator="condition",
        moderator_levels=["control", "training"], covariates=["session"], method="ML",
        conf_level=conf_level,
    )


#: The book's specification of every model behind the four findings: name ->
#: ``fn(validated_data, conf_level) -> Result``. :func:`fit_paper_models` fits them
#: all; ``alliance report`` fits them one by one, so that one that cannot be fitted
#: does not stop the others.
PAPER_MODELS = {
    "growth_therapist": lambda data, cl: fit_growth(data, "therapist", conf_level=cl),
    "growth_patient": lambda data, cl: fit_growth(data, "patient", conf_level=cl),
    "growth_both": lambda data, cl: fit_growth(data, "both", conf_level=cl),
    "truth_bias": lambda data, cl: fit_truth_bias(data, conf_level=cl),
    "rsa": _rsa_lagged,
}

#: The fits each claim's verdict and evidence rest on.
CLAIM_MODELS = {1: ("growth_therapist", "growth_patient", "growth_both"), 2: ("truth_bias",),
                3: ("rsa",), 4: ("rsa",)}


def fit_paper_models(data, conf_level: float = 0.95, *, columns=None) -> tuple[dict, list[str]]:
    """Fit the book's specification of every model behind the four findings.

    ``data`` is a file or a DataFrame, validated by :func:`alliance.read_sessions`
    (``columns`` maps your column names). Returns the fitted results by name and
    the warnings they raised (each also re-emitted as :class:`alliance.AllianceWarning`).
    """
    data = read_sessions(data, columns)
    fits = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AllianceWarning)
        for name, fit in PAPER_MODELS.items():
            fits[name] = fit(data, conf_level)
    messages = [str(w.message) for w in caught if issubclass(w.category, AllianceWarning)]
    for m in messages:
        warnings.warn(m, AllianceWarning, stacklevel=2)
    return fits, messages


def _row(table: pd.DataFrame, claim: int, term: str, level: str | None = None,
         label: str | None = None) -> dict:
    sel = table["term"] == term
    if level is not None:
        sel &= table["level"] == level
    row = table[sel]
    if len(row) != 1:
        raise KeyError(f"expected one row for term {term!r} level {level!r}")
    r = row.iloc[0]
    return {"claim": claim, "term": label or term, "level": level or "all",
            **{k: float(r[k]) for k in ("estimate", "se", "statistic", "df", "p", "ci_low",
                                        "ci_high") if k in r}}


def evaluate(data, *, alpha: float = 0.05, conf_level: float = 0.95,
             columns=None, fits: dict | None = None) -> FindingsResult:
    """Test each of the paper's four findings on ``data``.

    Parameters
    ----------
    data : pandas.DataFrame or path
        Session data: a file or a DataFrame, validated by :func:`alliance.read_sessions`.
    alpha : float
        Significance level of the verdicts.
    conf_level : float
        Level of the confidence intervals.
    fits : dict, optional
        Results already fitted by :data:`PAPER_MODELS` (name -> result), as
        ``alliance report`` has them; fits that are absent (they could not be
        fitted) make the claims resting on them ``not evaluated``. Default: fit
        every model here (a model that cannot be fitted raises).

    Returns
    -------
    FindingsResult
        See the class docstring. Verdicts: ``replicated`` when the estimate has
        the published direction and significance (for finding 4: not significant),
        ``not replicated`` otherwise, ``not evaluated`` when ``fits`` lacks a model
        the claim rests on. A verdict on synthetic data shows that the
        pipeline recovers an effect that was built in; it says nothing about the
        trial.

    Examples
    --------
    >>> import alliance
    >>> from alliance.findings import evaluate
    >>> res = evaluate(alliance.load_example())  # doctest: +SKIP
    >>> res.tables["findings"]["verdict"].tolist()  # doctest: +SKIP
    ['replicated', 'replicated', 'replicated', 'replicated']
    """
    data = read_sessions(data, columns)
    if fits is None:
        fits, messages = fit_paper_models(data, conf_level)
    else:
        fits = {k: v for k, v in fits.items() if v is not None}
        messages = [w for f in fits.values() for w in getattr(f, "warnings", [])]
    missing = {c: [m for m in models if m not in fits] for c, models in CLAIM_MODELS.items()}
    ok = {c: not m for c, m in missing.items()}
    ev = []
    if ok[1]:
        g_t = fits["growth_therapist"].estimates
        g_p = fits["growth_patient"].estimates
        g_b = fits["growth_both"].estimates
        ev.append(_row(g_t, 1, "time:training", label="growth difference (therapist-rated)"))
        ev.append(_row(g_p, 1, "time:training", label="growth difference (patient-rated)"))
        ev.append(_row(g_b, 1, "time:training:therapist_rater",
                       label="rater difference in the growth difference (stacked model)"))
    if ok[2]:
        forces = fits["truth_bias"].estimates
        for lv in ("control", "training", "training - control"):
            ev.append(_row(forces, 2, "temporal congruence", lv))
    if ok[3]:
        surface = fits["rsa"].tables["surface"]
        for lv in ("training",):
            ev.append(_row(surface, 3, "a1", lv))
            ev.append(_row(surface, 3, "a4", lv))
        ev.append(_row(surface, 4, "a1", "control"))
        diff_levels = [lv for lv in surface["level"].unique() if lv not in ("training", "control")]
        for lv in diff_levels:
            ev.append(_row(surface, 4, "a1", lv))
    evidence = pd.DataFrame(ev, columns=["claim", "term", "level", "estimate", "se", "statistic",
                                         "p", "ci_low", "ci_high"])

    def get(claim, term, level="all"):
        r = evidence[(evidence["claim"] == claim) & (evidence["term"] == term)
                     & (evidence["level"] == level)].iloc[0]
        return r

    sig = lambda r: r["p"] < alpha  # noqa: E731
    rows = {}
    if ok[1]:
        ther = get(1, "growth difference (therapist-rated)")
        pat = get(1, "growth difference (patient-rated)")
        rows[1] = (ther["estimate"] > 0 and sig(ther) and not sig(pat),
                   f"therapist-rated growth difference {'>' if ther['estimate'] > 0 else '<='} 0 "
                   f"with p {'<' if sig(ther) else '>='} {alpha:g}; patient-rated p "
                   f"{'<' if sig(pat) else '>='} {alpha:g}")
    if ok[2]:
        tc = get(2, "temporal congruence", "training - control")
        rows[2] = (tc["estimate"] > 0 and sig(tc),
                   f"temporal congruence difference {'>' if tc['estimate'] > 0 else '<='} 0 with p "
                   f"{'<' if sig(tc) else '>='} {alpha:g}")
    if ok[3]:
        a1t = get(3, "a1", "training")
        a1c = get(4, "a1", "control")
        rows[3] = (a1t["estimate"] > 0 and sig(a1t),
                   f"a1 in the training arm {'>' if a1t['estimate'] > 0 else '<='} 0 with p "
                   f"{'<' if sig(a1t) else '>='} {alpha:g}")
        rows[4] = (not sig(a1c), f"a1 in the control arm has p {'<' if sig(a1c) else '>='} {alpha:g}")

    def verdict(c):
        if c.number not in rows:
            return {"claim": c.number, "statement": c.statement, "verdict": "not evaluated",
                    "reason": f"the {', '.join(missing[c.number])} model(s) could not be fitted"}
        good, why = rows[c.number]
        return {"claim": c.number, "statement": c.statement,
                "verdict": "replicated" if good else "not replicated", "reason": why}

    findings = pd.DataFrame([verdict(c) for c in CLAIMS])
    first = next(iter(fits.values()), None)
    n_groups = dict(first.n_groups) if first is not None else {}
    return FindingsResult(
        title="The paper's four findings on this data set",
        tables={"findings": findings, "evidence": evidence},
        n_obs=len(data), n_groups=dict(n_groups), converged=all(
            getattr(f, "converged", True) for f in fits.values()),
        warnings=messages, info={"alpha": alpha, "conf_level": conf_level}, fits=fits,
    )


def claim_map_markdown() -> str:
    """The README's claim map: each finding to its chapter, figure and function."""
    lines = ["| # | finding (Tasca et al. 2023) | chapter | figure | function | status |",
             "|---|---|---|---|---|---|"]
    for c in CLAIMS:
        lines.append(f"| {c.number} | {c.statement} | `{c.chapter}.md` | `{c.figure}` | "
                     f"`{c.function}` | re-derived on synthetic data; verdict in chapter 7 |")
    return "\n".join(lines)


def _one_draw(seed: int, params, alpha: float):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AllianceWarning)
        res = evaluate(simulate(params, seed=int(seed)), alpha=alpha)
    return (res.tables["findings"]["verdict"] == "replicated").to_numpy()


def replication_rates(n_draws: int = 20, *, params=None, seed: int = 1, alpha: float = 0.05,
                      n_jobs: int = 1) -> pd.DataFrame:
    """How often each finding comes out ``replicated`` across fresh synthetic trials.

    Draws ``n_draws`` trials from :func:`alliance.simulate` (seeds from a
    generator seeded with ``seed``), runs :func:`evaluate` on each and returns,
    per claim, the share of draws with the verdict ``replicated`` and its Monte
    Carlo standard error. For claims 1-3 this is the power of the design to
    detect the effects the generative model builds in; for claim 4 it is the
    share of trials in which the control arm's association is non-significant.
    ``n_jobs > 1`` runs draws in that many processes (results are identical:
    each draw has its own seed). Boundary warnings of the individual fits are
    not shown.
    """
    rng = np.random.default_rng(seed)
    seeds = [int(s) for s in rng.integers(0, 2**31 - 1, n_draws)]
    if n_jobs > 1:
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else None
        with ProcessPoolExecutor(max_workers=n_jobs, mp_context=ctx) as pool:
            verdicts = list(pool.map(_one_draw, seeds, [params] * n_draws, [alpha] * n_draws))
    else:
        verdicts = [_one_draw(s, params, alpha) for s in seeds]
    v = np.array(verdicts, dtype=float)
    share = v.mean(axis=0)
    return pd.DataFrame({
        "claim": [c.number for c in CLAIMS],
        "share_replicated": share,
        "mc_se": np.sqrt(share * (1 - share) / n_draws),
        "n_draws": n_draws,
    })


