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

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alliance.data.validate import read_sessions
from alliance.errors import AllianceWarning
from alliance.growth import fit_growth
from alliance.results import Result
from alliance.rsa import fit_rsa
from alliance.draws.rates import StudyResult, rate
from alliance.draws.runner import run_draws
from alliance.synthetic.params import SimulationParams
from alliance.synthetic.scenarios import scenario_params
from alliance.synthetic.simulate import simulate
from alliance.truth_bias import fit_truth_bias

__all__ = ["CLAIMS", "CLAIM_MODELS", "Claim", "FindingsResult", "MODELS", "PAPER_MODELS",
           "PRIMARY_MODELS", "PRIMARY_TESTS", "claim_map_markdown", "evaluate", "findings_draw",
           "fit_paper_models", "primary_tests", "replication_rates", "summarise_draws"]


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


#: Names of the models behind the findings, in the order they are fitted.
MODELS = tuple(PAPER_MODELS)


def fit_paper_models(data, conf_level: float = 0.95, *, columns=None,
                     only=None) -> tuple[dict, list[str]]:
    """Fit the book's specification of every model behind the four findings.

    ``data`` is a file or a DataFrame, validated by :func:`alliance.read_sessions`
    (``columns`` maps your column names). ``only`` names a subset of :data:`MODELS`
    (the power studies fit :data:`PRIMARY_MODELS`). Returns the fitted results by
    name and the warnings they raised (each also re-emitted as
    :class:`alliance.AllianceWarning`).
    """
    data = read_sessions(data, columns)
    wanted = MODELS if only is None else tuple(only)
    unknown = set(wanted) - set(MODELS)
    if unknown:
        raise ValueError(f"unknown models {sorted(unknown)}; known: {MODELS}")
    fits = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AllianceWarning)
        for name, fit in PAPER_MODELS.items():
            if name in wanted:
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


#: The tests behind the verdicts, as the studies record them: key -> (model in the fits of
#: :func:`fit_paper_models`, table, term, level, label, key of ``SimulationParams.truth()``).
PRIMARY_TESTS = {
    "g_ther": ("growth_therapist", None, "time:training", None,
               "growth difference, therapist-rated", "growth_difference_therapist"),
    "g_pat": ("growth_patient", None, "time:training", None,
              "growth difference, patient-rated", "growth_difference_patient"),
    "tc_diff": ("truth_bias", None, "temporal congruence", "training - control",
                "temporal congruence, training - control", "tracking_difference"),
    "a1_training": ("rsa", "surface", "a1", "training", "a1, training arm", "a1"),
    "a1_control": ("rsa", "surface", "a1", "control", "a1, control arm", "a1_control"),
    "a1_difference": ("rsa", "surface", "a1", "difference", "a1, arm difference",
                      "a1_difference"),
}

#: The models a study of the primary tests needs (the stacked growth model is not one).
PRIMARY_MODELS = ("growth_therapist", "growth_patient", "truth_bias", "rsa")


def primary_tests(fits: dict) -> dict[str, float]:
    """Estimate, SE, df and p of every primary test, flat (``est_<key>``, ``se_<key>``, ...).

    ``df`` is the test's degrees of freedom where the table has them and ``inf``
    for a Wald z test. Also ``converged_<model>`` and ``boundary_<model>`` of each
    fit. Used by the per-draw functions of the studies (chapter 7, chapter 9).
    """
    out: dict[str, float] = {}
    for key, (model, table, term, level, _label, _truth) in PRIMARY_TESTS.items():
        if model not in fits:
            continue
        res = fits[model]
        row = res.rows(table, term=term, **({"level": level} if level else {})).iloc[0]
        out[f"est_{key}"] = float(row["estimate"])
        out[f"se_{key}"] = float(row["se"])
        out[f"df_{key}"] = float(row["df"]) if "df" in row.index else float("inf")
        out[f"p_{key}"] = float(row["p"])
    for model, res in fits.items():
        out[f"converged_{model}"] = int(bool(res.converged))
        out[f"boundary_{model}"] = int(bool(res.info.get("boundary", False)))
    return out


def findings_draw(draw: int, rng, params=None, alpha: float = 0.05) -> dict:
    """One draw of a replication study: a fresh synthetic trial and the four verdicts.

    Simulates a trial from ``params`` (:func:`alliance.simulate` with the draw's
    generator), runs :func:`evaluate` on it and returns ``verdict_1`` .. ``verdict_4``
    (1 = replicated), ``joint`` (all four), the primary tests
    (:func:`primary_tests`) and the rows used. The function of
    :func:`alliance.draws.run_draws`: warnings, time and failures are recorded
    by the runner.
    """
    res = evaluate(simulate(params, seed=rng), alpha=alpha)
    verdicts = (res.tables["findings"]["verdict"] == "replicated").to_numpy()
    out = {f"verdict_{c.number}": int(v) for c, v in zip(CLAIMS, verdicts)}
    out["joint"] = int(verdicts.all())
    out["n_obs"] = int(res.n_obs)
    out.update(primary_tests(res.fits))
    return out


def _claim_meaning(number: int, truth: dict, alpha: float) -> str:
    if number == 1:
        return ("power of the therapist-rated test x P(patient-rated test not significant)"
                if truth["growth_difference_therapist"] != 0 else
                "false-positive rate of the rule (therapist-rated significant, patient-rated not)")
    if number in (2, 3):
        key = "tracking_difference" if number == 2 else "a1"
        return "power" if truth[key] != 0 else "false-positive rate"
    if truth["a1_control"] == 0:
        return f"1 - false-positive rate of the control-arm test (nominally 1 - alpha = {1 - alpha:g})"
    return "1 - power of the control-arm test (the association exists)"


def summarise_draws(draws: pd.DataFrame, params=None, *, alpha: float = 0.05,
                    conf_level: float = 0.95, title: str = "Replication rates"):
    """Rates of a replication study's draws, each with its CI and what it estimates.

    ``draws`` are rows of :func:`findings_draw` (from :func:`replication_rates` or a
    frozen study). Returns a :class:`~alliance.draws.rates.StudyResult` with
    tables ``rates`` (each finding's verdict and all four jointly) and ``tests``
    (the rejection rate of every primary test at ``alpha``: power where
    ``params`` builds the effect in, a false-positive rate where it does not; a
    test with an effect counts only rejections in the effect's direction), and
    ``draws``. A failed draw (``error`` not empty) counts in ``failed``, not in
    ``n``.
    """
    truth = (params or SimulationParams()).truth()
    failed = draws["error"].astype(str) != ""
    rows = []
    for c in CLAIMS:
        hits = draws[f"verdict_{c.number}"].where(~failed)
        rows.append(rate(hits, f"finding {c.number}", _claim_meaning(c.number, truth, alpha),
                         conf_level))
    rows.append(rate(draws["joint"].where(~failed), "all four findings",
                     "joint rate: every verdict as published in the same trial", conf_level))
    tests = []
    for key, (_m, _t, _term, _lv, label, tkey) in PRIMARY_TESTS.items():
        if f"p_{key}" not in draws:
            continue
        p, est = draws[f"p_{key}"], draws[f"est_{key}"]
        effect = truth[tkey]
        hit = (p < alpha) & ((np.sign(est) == np.sign(effect)) if effect != 0 else True)
        tests.append(rate(hit.astype(float).where(~failed & p.notna()), label,
                          "power" if effect != 0 else "false-positive rate", conf_level,
                          test=key, truth=effect))
    return StudyResult(title=title,
                       tables={"rates": pd.DataFrame(rows), "tests": pd.DataFrame(tests),
                               "draws": draws},
                       n_obs=int(len(draws)),
                       warnings=([f"{int(failed.sum())} draws failed"] if failed.any() else []),
                       info={"alpha": alpha, "conf_level": conf_level, "draws": int(len(draws)),
                             "failed": int(failed.sum())})


def replication_rates(n_draws: int = 20, *, params=None, scenario: str | None = None,
                      seed: int = 1, alpha: float = 0.05, n_jobs: int = 1,
                      scheduler: str | None = None, store=None, progress: bool = False):
    """How often each finding comes out ``replicated`` across fresh synthetic trials.

    Draws ``n_draws`` trials from the generative model (``params``, or the named
    ``scenario`` of :mod:`alliance.synthetic.scenarios`; default the book's model)
    with :func:`alliance.draws.run_draws` -- draw *i* from
    ``SeedSequence(seed, spawn_key=(i,))``, so it is the same whatever runs it --
    evaluates each (:func:`findings_draw`) and summarises them
    (:func:`summarise_draws`).

    What each rate estimates is stated beside it: for finding 1 the joint rule
    (therapist-rated test significant *and* patient-rated not) is power times the
    chance the patient-rated test stays non-significant; for findings 2 and 3 it
    is power; for finding 4 it is one minus the false-positive rate of the
    control-arm test, nominally ``1 - alpha``, whatever training does. Under the
    ``null`` scenario the rates of findings 1-3 are false-positive rates.

    Parameters
    ----------
    n_draws : int
        Number of synthetic trials.
    params : SimulationParams, optional
        Parameters of the generative model (exclusive with ``scenario``).
    scenario : str, optional
        A named scenario (``default``, ``null``, ``ceiling``, ...).
    seed : int
        The study's seed.
    alpha : float
        Level of every test.
    n_jobs : int
        Local worker processes.
    scheduler : str, optional
        Address of a ``dask.distributed`` scheduler to run the draws on instead.
    store : path, optional
        Chunk store of the draws (a killed run resumes there).
    progress : bool
        A progress bar on standard error.

    Returns
    -------
    StudyResult
        Tables ``rates`` (term, estimate = share, se = Monte Carlo SE, ci_low,
        ci_high, k, n, failed, estimates), ``tests`` and ``draws``.

    Examples
    --------
    >>> from alliance.findings import replication_rates
    >>> res = replication_rates(2, seed=5)  # doctest: +SKIP
    >>> res.tables["rates"][["term", "estimate", "estimates"]]  # doctest: +SKIP
    """
    if params is not None and scenario is not None:
        raise ValueError("give params or scenario, not both")
    params = params if params is not None else scenario_params(scenario or "default")
    draws = run_draws(findings_draw, n_draws, seed=seed, args=(params, alpha), jobs=n_jobs,
                      scheduler=scheduler, store=store, progress=progress)
    return summarise_draws(draws, params, alpha=alpha,
                           title=f"Replication rates over {n_draws} synthetic trials")
