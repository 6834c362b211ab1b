"""The paper's four findings, each tested by pre-specified rules.

:data:`CLAIMS` maps every published finding (Tasca et al. 2023, abstract) to
the chapter, figure and function of this book that re-derive it; the README's
claim map and chapter 7 are generated from it. :data:`PRIMARY_TESTS` fixes,
before any result, the tests behind every claim (one primary test per claim,
Holm-adjusted across the four, and the further parts a claim makes);
:func:`judge` turns them into one of four verdicts -- *replicated*,
*inconclusive*, *not replicated*, *contradicted* -- with the reason.
:func:`evaluate` runs it on a data set (chapter 7 and ``alliance report``);
:func:`findings_draw` and :func:`summarise_draws` give the rules' operating
characteristics over many simulated trials (frozen studies, chapter 7).

The specifications are those of the chapters: growth (chapter 3) with a
random intercept per therapist and a random intercept and slope per patient,
REML; truth and bias (chapter 4) with the therapist's rating as judgment and
the patient's as truth, REML; the lagged multilevel response surface
(chapter 5) of well-being on both ratings in the previous session,
moderated by arm, session as covariate, random intercepts per therapist and
patient, ML as in Nestler et al. (2019), with each patient's mean ratings at
level 2 so that the surface of findings 3 and 4 is within-patient (the raw
surface is recorded beside it).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from alliance.data.validate import read_sessions
from alliance.draws.rates import StudyResult, rate
from alliance.draws.runner import run_draws
from alliance.errors import AllianceWarning
from alliance.growth import _fit_growth
from alliance.options import check_alpha, check_conf_level
from alliance.results import Result
from alliance.rsa import fit_rsa
from alliance.rsa.fit import _fit_rsa_validated
from alliance.synthetic.params import SimulationParams
from alliance.synthetic.scenarios import scenario_params
from alliance.synthetic.simulate import simulate
from alliance.truth_bias import _fit_truth_bias

__all__ = [
    "CLAIMS",
    "CLAIM_MODELS",
    "MODELS",
    "PAPER_MODELS",
    "PRIMARY",
    "PRIMARY_MODELS",
    "PRIMARY_TESTS",
    "SESOI",
    "VERDICTS",
    "Claim",
    "FindingsResult",
    "Test",
    "analysis_plan",
    "claim_map_markdown",
    "draw_verdicts",
    "equivalence",
    "evaluate",
    "findings_draw",
    "fit_paper_models",
    "holm",
    "judge",
    "primary_holm",
    "primary_tests",
    "replication_rates",
    "summarise_draws",
]


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
          "time x training > 0 for therapist ratings (primary, Holm); rater x condition x time > 0; "
          "patient-rated difference equivalent to 0 within the smallest effect of interest",
          "chapters/03_growth", "ch-growth", "fig-growth-trajectories",
          "alliance.growth.fit_growth"),
    Claim(2, "Trained therapists showed greater temporal congruence with their patients' alliance "
             "ratings than untrained therapists.",
          "temporal congruence (within-dyad truth force), training - control > 0 (primary, Holm)",
          "chapters/04_truth_bias", "ch-truth-bias", "fig-tb-forces",
          "alliance.truth_bias.fit_truth_bias"),
    Claim(3, "Patient well-being improved in a session when trained therapists and their patients "
             "agreed in their positive alliance ratings in the previous session.",
          "within-patient lagged surface, training arm: a1 > 0 (primary, Holm) with the congruence "
          "pattern (Humberg et al. checklist)",
          "chapters/05_response_surfaces", "ch-rsa", "fig-rsa-surface",
          "alliance.rsa.fit_rsa"),
    Claim(4, "That association was not significant among untrained therapists.",
          "within-patient lagged surface: a1 larger under training than in control (primary, "
          "Holm) and not significantly > 0 in control; never 'not significant in control' alone",
          "chapters/05_response_surfaces", "ch-rsa", "fig-rsa-contour",
          "alliance.rsa.fit_rsa"),
)


@dataclass
class FindingsResult(Result):
    """Claim-by-claim results: ``tables["findings"]``, ``tables["evidence"]`` and ``tables["plan"]``.

    ``findings``: one row per claim with ``claim``, ``statement``, ``verdict``
    (one of :data:`VERDICTS`) and ``reason``. ``evidence``: every test a verdict
    rests on (``claim``, ``test``, ``role``, ``term``, ``level``, estimate, se,
    statistic, df, p, ``p_holm`` for the four primary tests, ci_low, ci_high).
    ``plan``: the pre-specified tests (:func:`analysis_plan`). ``fits`` holds the
    fitted results by name.
    """

    fits: dict = field(default_factory=dict, repr=False)


def _rsa_lagged(data, conf_level=0.95, *, method: str = "ML", validated: bool = False,
                **options):
    """The book's lagged surface (chapter 5); ``options`` go to :func:`alliance.rsa.fit_rsa`.

    The one place the specification is written: :data:`PAPER_MODELS`, the cluster
    bootstrap of chapter 7 (:mod:`alliance.studies.bootstrap`) and the
    specification studies of chapter 5 call it. ``validated=True``: ``data`` came from
    :func:`alliance.read_sessions` and is not validated again.
    """
    return (_fit_rsa_validated if validated else fit_rsa)(
        data, "wellbeing", x="alliance_therapist", y="alliance_patient",
        group=["therapist", "patient"], time="session", lag=1, moderator="condition",
        moderator_levels=["control", "training"], covariates=["session"], method=method,
        conf_level=conf_level, **options,
    )


def _rsa_within(data, conf_level, validated: bool = False):
    return _rsa_lagged(data, conf_level, level2_means=True, validated=validated)


#: The book's specification of every model behind the four findings: name ->
#: ``fn(validated_data, conf_level) -> Result``. :func:`fit_paper_models` fits them
#: all (on the data validated once: the private fits behind each public door);
#: ``alliance report`` fits them one by one, so that one that cannot be fitted
#: does not stop the others. ``rsa`` is chapter 5's raw lagged surface (within- and
#: between-patient association mixed); ``rsa_within`` adds each patient's mean
#: ratings at level 2 (Nestler et al., 2019), so its a1..a5 are within-patient --
#: the surface findings 3 and 4 are judged on.
PAPER_MODELS = {
    "growth_therapist": lambda data, cl: _fit_growth(data, "therapist", conf_level=cl),
    "growth_patient": lambda data, cl: _fit_growth(data, "patient", conf_level=cl),
    "growth_both": lambda data, cl: _fit_growth(data, "both", conf_level=cl),
    "truth_bias": lambda data, cl: _fit_truth_bias(data, conf_level=cl),
    "rsa": lambda data, cl: _rsa_lagged(data, cl, validated=True),
    "rsa_within": lambda data, cl: _rsa_within(data, cl, validated=True),
}

#: The fits each claim's verdict and evidence rest on.
CLAIM_MODELS = {1: ("growth_therapist", "growth_patient", "growth_both"), 2: ("truth_bias",),
                3: ("rsa_within",), 4: ("rsa_within",)}


#: Names of the models behind the findings, in the order they are fitted.
MODELS = tuple(PAPER_MODELS)

#: The verdicts a claim can get, from the best to the worst for the paper.
VERDICTS = ("replicated", "inconclusive", "not replicated", "contradicted")


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


@dataclass(frozen=True)
class Test:
    """One pre-specified test: where its estimate comes from and what it is for."""

    claim: int
    role: str
    model: str
    table: str | None
    term: str
    level: str | None
    label: str
    truth: str | None


#: Every test behind the verdicts, fixed before any result is seen: key -> :class:`Test`.
#: ``role`` is ``primary`` (one per claim; Holm-adjusted across the four), ``secondary``
#: (a further part of the same claim, tested at alpha: a claim with several parts is
#: replicated only when every part is, so no further adjustment is needed -- the
#: intersection-union principle) or ``context`` (recorded by the studies, never used by a
#: verdict: the raw lagged surface of chapter 5). ``truth`` is the key of
#: :meth:`SimulationParams.truth` the estimate targets (``None``: not encoded).
PRIMARY_TESTS = {
    "g_ther": Test(1, "primary", "growth_therapist", None, "time:training", None,
                   "growth difference, therapist-rated", "growth_difference_therapist"),
    "g_rater": Test(1, "secondary", "growth_both", None, "time:training:therapist_rater", None,
                    "rater difference in the growth difference (rater x condition x time)",
                    "growth_difference_rater"),
    "g_pat": Test(1, "secondary", "growth_patient", None, "time:training", None,
                  "growth difference, patient-rated", "growth_difference_patient"),
    "tc_diff": Test(2, "primary", "truth_bias", None, "temporal congruence", "training - control",
                    "temporal congruence, training - control", "tracking_difference"),
    "a1_training": Test(3, "primary", "rsa_within", "surface", "a1", "training",
                        "a1, training arm (within-patient)", "a1"),
    "a4_training": Test(3, "secondary", "rsa_within", "surface", "a4", "training",
                        "a4, training arm (within-patient)", "a4"),
    "a1_difference": Test(4, "primary", "rsa_within", "surface", "a1", "difference",
                          "a1, training - control (within-patient)", "a1_difference"),
    "a1_control": Test(4, "secondary", "rsa_within", "surface", "a1", "control",
                       "a1, control arm (within-patient)", "a1_control"),
    "raw_a1_training": Test(3, "context", "rsa", "surface", "a1", "training",
                            "a1, training arm (raw lagged)", "a1"),
    "raw_a4_training": Test(3, "context", "rsa", "surface", "a4", "training",
                            "a4, training arm (raw lagged)", "a4"),
    "raw_a1_control": Test(4, "context", "rsa", "surface", "a1", "control",
                           "a1, control arm (raw lagged)", "a1_control"),
    "raw_a1_difference": Test(4, "context", "rsa", "surface", "a1", "difference",
                              "a1, training - control (raw lagged)", "a1_difference"),
}

#: The primary test of each claim (Holm-adjusted across the four).
PRIMARY = {t.claim: key for key, t in PRIMARY_TESTS.items() if t.role == "primary"}

#: The smallest effect of interest of the equivalence test of finding 1's second part
#: (patient-rated growth difference, scale points per session): 0.04 per session is
#: 0.2 points over the five intervals of six sessions, about a third of the
#: between-patient SD of patient-rated alliance (0.55 in the generative model), and the
#: size of the therapist-rated difference the paper reports as an effect. A difference
#: whose 90% CI lies inside +/-0.04 counts as "no effect for patients" (two one-sided
#: tests at alpha = 0.05).
SESOI = {"g_pat": 0.04}

#: The models a power study of the primary tests fits (the stacked growth model, for the
#: secondary rater test, is the slowest and is left out; so is the raw surface).
PRIMARY_MODELS = ("growth_therapist", "growth_patient", "truth_bias", "rsa_within")


def analysis_plan() -> pd.DataFrame:
    """The pre-specified tests of every claim: the table chapter 7 shows before any result."""
    rows = []
    for key, t in PRIMARY_TESTS.items():
        if t.role == "context":
            continue
        rule = {"primary": "Holm-adjusted p < alpha, estimate > 0",
                "secondary": "p < alpha, estimate > 0"}[t.role]
        if key == "g_pat":
            rule = f"equivalence: 90% CI inside +/-{SESOI['g_pat']:g} (two one-sided tests)"
        if key == "a4_training":
            rule = "the congruence checklist (Humberg et al. 2019) holds: broad or strict"
        if key == "a1_control":
            rule = "not significantly > 0 (p >= alpha or estimate <= 0)"
        rows.append({"claim": t.claim, "test": key, "role": t.role, "quantity": t.label,
                     "model": t.model, "rule": rule})
    return pd.DataFrame(rows)


def primary_tests(fits: dict) -> dict[str, float]:
    """Estimate, SE, df and p of every test of :data:`PRIMARY_TESTS`, flat.

    Keys ``est_<key>``, ``se_<key>``, ``df_<key>`` (``inf`` for a Wald z test) and
    ``p_<key>`` for every test whose model is in ``fits``; ``congruence_training``
    (1 when the Humberg et al. checklist of the within-patient surface's training
    arm says broad or strict congruence, else 0); ``converged_<model>`` and
    ``boundary_<model>`` of each fit. The per-draw record of the studies (chapters 7
    and 9): :func:`judge` turns it into verdicts.
    """
    out: dict[str, float] = {}
    for key, t in PRIMARY_TESTS.items():
        if t.model not in fits:
            continue
        res = fits[t.model]
        row = res.rows(t.table, term=t.term, **({"level": t.level} if t.level else {})).iloc[0]
        out[f"est_{key}"] = float(row["estimate"])
        out[f"se_{key}"] = float(row["se"])
        out[f"df_{key}"] = float(row["df"]) if "df" in row.index else float("inf")
        out[f"p_{key}"] = float(row["p"])
    if "rsa_within" in fits:
        v = fits["rsa_within"].tables["verdict"].set_index("level")["outcome"]
        out["congruence_training"] = int(v.get("training") in ("broad", "strict"))
    for model, res in fits.items():
        out[f"converged_{model}"] = int(bool(res.converged))
        out[f"boundary_{model}"] = int(bool(res.info.get("boundary", False)))
    return out


def holm(p) -> np.ndarray:
    """Holm's step-down adjusted p values; a missing p counts as 1 (the family keeps its size)."""
    p = np.asarray(p, dtype=float)
    p = np.where(np.isnan(p), 1.0, p)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adj
    return out


def primary_holm(rec) -> dict[int, float]:
    """Claim -> Holm-adjusted p of its primary test, over the four (a missing test counts as 1)."""
    claims = sorted(PRIMARY)
    return dict(zip(claims, holm([rec.get(f"p_{PRIMARY[c]}", np.nan) for c in claims])))


def equivalence(estimate: float, se: float, df: float, bound: float,
                alpha: float = 0.05) -> float:
    """p of the two one-sided tests (TOST) that ``|effect| < bound`` (t with ``df``; z if inf).

    Equivalence is shown at ``alpha`` when p < alpha, i.e. when the ``1 - 2 alpha``
    CI lies inside ``(-bound, bound)``.
    """
    dist = stats.norm if not np.isfinite(df) else stats.t(df)
    lower = dist.sf((estimate + bound) / se)
    upper = dist.cdf((estimate - bound) / se)
    return float(max(lower, upper))


def _sig(rec, key, alpha, p=None):
    """+1 / -1 when the test rejects at alpha in that direction, 0 when it does not."""
    p = rec[f"p_{key}"] if p is None else p
    if not np.isfinite(p) or p >= alpha:
        return 0
    return 1 if rec[f"est_{key}"] > 0 else -1


def judge(rec, alpha: float = 0.05) -> dict[int, tuple[str, str]]:
    """The verdict and its reason for every claim whose tests are in ``rec``.

    ``rec`` is a mapping as :func:`primary_tests` returns it (one draw of a study,
    or one data set). The four primary p values are Holm-adjusted (a claim without
    its tests counts as p = 1). Rules, fixed before any result (chapter 7):

    * every claim: **contradicted** when its primary test rejects in the opposite
      direction; **not replicated** when it does not reject (absence of evidence --
      not evidence of absence).
    * finding 1 (therapist-rated growth difference): **replicated** when, besides,
      the rater x condition x time interaction is > 0 (p < alpha) and the
      patient-rated difference is shown equivalent to 0 within :data:`SESOI`;
      otherwise **inconclusive**, naming the part that is missing.
    * finding 2 (temporal congruence, training - control): replicated when the
      primary test rejects upwards.
    * finding 3 (within-patient a1 in the training arm): **replicated** when the
      congruence checklist also holds (``congruence_training``); otherwise
      **inconclusive** (high alliance helps, agreement is not shown).
    * finding 4 (within-patient a1, training - control): **replicated** when the
      control arm's a1 is not significantly > 0; otherwise **inconclusive**.
      "Not significant in control" alone is never replicated.
    """
    out = {}
    for c, padj in primary_holm(rec).items():
        key = PRIMARY[c]
        if f"p_{key}" not in rec:
            continue
        t = PRIMARY_TESTS[key]
        s = _sig(rec, key, alpha, padj)
        head = f"{t.label}: estimate {rec[f'est_{key}']:.3g}, Holm-adjusted p {padj:.3g}"
        if s < 0:
            out[c] = ("contradicted", f"{head}, significantly in the opposite direction")
            continue
        if s == 0:
            out[c] = ("not replicated", f"{head} >= {alpha:g}: no evidence for the claim "
                                        "(which is not evidence against it)")
            continue
        missing = []
        if c == 1:
            if "p_g_rater" not in rec or "p_g_pat" not in rec:
                missing.append("the rater contrast could not be tested")
            else:
                if _sig(rec, "g_rater", alpha) <= 0:
                    missing.append("the rater x condition x time interaction is not > 0 at "
                                   f"alpha (p {rec['p_g_rater']:.3g})")
                p_eq = equivalence(rec["est_g_pat"], rec["se_g_pat"], rec["df_g_pat"],
                                   SESOI["g_pat"], alpha)
                if p_eq >= alpha:
                    missing.append("no effect for patients is not shown (equivalence within "
                                   f"+/-{SESOI['g_pat']:g} per session: p {p_eq:.3g})")
        elif c == 3:
            if not rec.get("congruence_training", 0):
                missing.append("the congruence pattern is not established (the checklist of "
                               "the training arm's surface is not met), so 'agreement' is not "
                               "shown, only that a higher alliance goes with better well-being")
        elif c == 4:
            if "p_a1_control" in rec and _sig(rec, "a1_control", alpha) > 0:
                missing.append("the association is significant in the control arm too "
                               f"(p {rec['p_a1_control']:.3g})")
        if missing:
            out[c] = ("inconclusive", f"{head} < {alpha:g}, but " + "; ".join(missing))
        else:
            out[c] = ("replicated", f"{head} < {alpha:g}"
                      + {1: ", the rater contrast > 0 and no effect for patients (equivalence)",
                         2: "",
                         3: ", with the congruence pattern (checklist met)",
                         4: ", and not significant in the control arm"}[c])
    return out


def evaluate(data, *, alpha: float = 0.05, conf_level: float = 0.95,
             columns=None, fits: dict | None = None) -> FindingsResult:
    """Test each of the paper's four findings on ``data`` by the pre-specified rules.

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
        See the class docstring. Verdicts: :func:`judge` (one of :data:`VERDICTS`),
        or ``not evaluated`` when ``fits`` lacks a model the claim rests on. A
        verdict on synthetic data shows whether the pipeline recovers an effect
        that was built in; it says nothing about the trial.

    Examples
    --------
    >>> import alliance
    >>> from alliance.findings import evaluate
    >>> res = evaluate(alliance.load_example())  # doctest: +SKIP
    >>> res.tables["findings"]["verdict"].tolist()  # doctest: +SKIP
    """
    alpha, conf_level = check_alpha(alpha), check_conf_level(conf_level)
    data = read_sessions(data, columns)
    if fits is None:
        fits, messages = fit_paper_models(data, conf_level)
    else:
        fits = {k: v for k, v in fits.items() if v is not None}
        messages = [w for f in fits.values() for w in getattr(f, "warnings", [])]
    missing = {c: [m for m in models if m not in fits] for c, models in CLAIM_MODELS.items()}
    rec = primary_tests(fits)
    # A claim is judged only on its own models: drop the tests of a claim with a missing model.
    for key, t in PRIMARY_TESTS.items():
        if missing[t.claim]:
            for part in ("est", "se", "df", "p"):
                rec.pop(f"{part}_{key}", None)
    rules = judge(rec, alpha)
    p_adj = primary_holm(rec)
    ev = []
    for key, t in PRIMARY_TESTS.items():
        if t.role == "context" or f"p_{key}" not in rec:
            continue
        r = fits[t.model].rows(t.table, term=t.term, **({"level": t.level} if t.level else {}))
        r = r.iloc[0]
        ev.append({"claim": t.claim, "test": key, "role": t.role, "term": t.label,
                   "level": t.level or "all", "estimate": float(r["estimate"]),
                   "se": float(r["se"]), "statistic": float(r["statistic"]),
                   "df": rec[f"df_{key}"], "p": float(r["p"]),
                   "p_holm": p_adj[t.claim] if t.role == "primary" else np.nan,
                   "ci_low": float(r["ci_low"]), "ci_high": float(r["ci_high"])})
        if key == "g_pat":
            b = SESOI["g_pat"]
            p_eq = equivalence(rec["est_g_pat"], rec["se_g_pat"], rec["df_g_pat"], b, alpha)
            dist = stats.norm if not np.isfinite(rec["df_g_pat"]) else stats.t(rec["df_g_pat"])
            half = dist.ppf(1 - alpha) * rec["se_g_pat"]
            ev.append({"claim": 1, "test": "g_pat_equivalence", "role": "secondary",
                       "term": f"patient-rated growth difference inside +/-{b:g} (TOST, "
                               f"{1 - 2 * alpha:.0%} CI)",
                       "level": "all", "estimate": rec["est_g_pat"], "se": rec["se_g_pat"],
                       "statistic": np.nan, "df": rec["df_g_pat"], "p": p_eq, "p_holm": np.nan,
                       "ci_low": rec["est_g_pat"] - half, "ci_high": rec["est_g_pat"] + half})
    evidence = pd.DataFrame(ev, columns=["claim", "test", "role", "term", "level", "estimate",
                                         "se", "statistic", "df", "p", "p_holm", "ci_low",
                                         "ci_high"])

    def verdict(c):
        if missing[c.number]:
            return {"claim": c.number, "statement": c.statement, "verdict": "not evaluated",
                    "reason": f"the {', '.join(missing[c.number])} model(s) could not be fitted"}
        v, why = rules[c.number]
        return {"claim": c.number, "statement": c.statement, "verdict": v, "reason": why}

    findings = pd.DataFrame([verdict(c) for c in CLAIMS])
    first = next(iter(fits.values()), None)
    n_groups = dict(first.n_groups) if first is not None else {}
    return FindingsResult(
        title="The paper's four findings on this data set",
        tables={"findings": findings, "evidence": evidence, "plan": analysis_plan()},
        n_obs=len(data), n_groups=dict(n_groups), converged=all(
            getattr(f, "converged", True) for f in fits.values()),
        warnings=messages, info={"alpha": alpha, "conf_level": conf_level, "sesoi": dict(SESOI)},
        fits=fits,
    )


def claim_map_markdown() -> str:
    """The README's claim map: each finding to its chapter, figure and function."""
    lines = ["| # | finding (Tasca et al. 2023) | chapter | figure | function | status |",
             "|---|---|---|---|---|---|"]
    for c in CLAIMS:
        lines.append(f"| {c.number} | {c.statement} | `{c.chapter}.md` | `{c.figure}` | "
                     f"`{c.function}` | re-derived on synthetic data; verdict in chapter 7 |")
    return "\n".join(lines)


def findings_draw(draw: int, rng, params=None, alpha: float = 0.05) -> dict:
    """One draw of a replication study: a fresh synthetic trial and its tests.

    Simulates a trial from ``params`` (:func:`alliance.simulate` with the draw's
    generator), fits :data:`PAPER_MODELS` and returns :func:`primary_tests` and the
    rows used (``n_obs``). The verdicts are not stored: :func:`summarise_draws`
    derives them with :func:`judge`, so the stored draws hold only what was
    estimated. The function of :func:`alliance.draws.run_draws`: warnings, time and
    failures are recorded by the runner.
    """
    data = simulate(params, seed=rng)
    fits, _ = fit_paper_models(data)
    return {"n_obs": len(data), **primary_tests(fits)}


def draw_verdicts(draws: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """The verdict of every claim in every draw (columns ``verdict_1`` .. ``verdict_4``).

    A failed draw (``error`` not empty) has no verdicts (missing).
    """
    failed = draws["error"].astype(str) != "" if "error" in draws else pd.Series(False,
                                                                                   draws.index)
    rows = []
    for (i, rec), bad in zip(draws.iterrows(), failed):
        rec = {k: v for k, v in rec.items() if not (isinstance(v, float) and np.isnan(v))}
        got = {} if bad else judge(rec, alpha)
        rows.append({f"verdict_{c}": got.get(c, (None, ""))[0] for c in (1, 2, 3, 4)})
    return pd.DataFrame(rows, index=draws.index)


def _claim_meaning(number: int, truth: dict, verdict: str) -> str:
    effect = truth[PRIMARY_TESTS[PRIMARY[number]].truth] != 0
    if verdict == "replicated":
        return "power of the whole rule" if effect else "false-positive rate of the whole rule"
    return "share of trials"


def summarise_draws(draws: pd.DataFrame, params=None, *, alpha: float = 0.05,
                    conf_level: float = 0.95, title: str = "Replication rates"):
    """Rates of each verdict across a replication study's draws, each with its CI.

    ``draws`` are rows of :func:`findings_draw` (from :func:`replication_rates` or a
    frozen study). Returns a :class:`~alliance.draws.rates.StudyResult` with tables
    ``rates`` (the share of trials in which each finding, and all four jointly, came
    out *replicated*), ``verdicts`` (every claim x verdict: the share of trials with
    that verdict), ``tests`` (the rejection rate of every test at ``alpha``: power
    where ``params`` builds the effect in, a false-positive rate where it does not;
    a test with an effect counts only rejections in the effect's direction) and
    ``draws`` (with ``verdict_1`` .. ``verdict_4``). A failed draw (``error`` not
    empty) counts in ``failed``, not in ``n``.
    """
    truth = (params or SimulationParams()).truth()
    failed = draws["error"].astype(str) != ""
    verdicts = draw_verdicts(draws, alpha)
    rows, vrows = [], []
    for c in CLAIMS:
        v = verdicts[f"verdict_{c.number}"]
        ok = ~failed & v.notna()
        rows.append(rate((v == "replicated").astype(float).where(ok), f"finding {c.number}",
                         _claim_meaning(c.number, truth, "replicated"), conf_level))
        for name in VERDICTS:
            vrows.append(rate((v == name).astype(float).where(ok), f"finding {c.number}",
                              _claim_meaning(c.number, truth, name), conf_level,
                              claim=c.number, verdict=name))
    joint = (verdicts == "replicated").all(axis=1)
    rows.append(rate(joint.astype(float).where(~failed & verdicts.notna().all(axis=1)),
                     "all four findings",
                     "joint rate: every finding replicated in the same trial", conf_level))
    tests = []
    for key, t in PRIMARY_TESTS.items():
        if f"p_{key}" not in draws or t.truth not in truth:
            continue
        p, est = draws[f"p_{key}"], draws[f"est_{key}"]
        effect = truth[t.truth]
        hit = (p < alpha) & ((np.sign(est) == np.sign(effect)) if effect != 0 else True)
        tests.append(rate(hit.astype(float).where(~failed & p.notna()), t.label,
                          "power" if effect != 0 else "false-positive rate", conf_level,
                          test=key, truth=effect))
    return StudyResult(title=title,
                       tables={"rates": pd.DataFrame(rows), "verdicts": pd.DataFrame(vrows),
                               "tests": pd.DataFrame(tests),
                               "draws": pd.concat([draws, verdicts], axis=1)},
                       n_obs=len(draws),
                       warnings=([f"{int(failed.sum())} draws failed"] if failed.any() else []),
                       info={"alpha": alpha, "conf_level": conf_level, "draws": len(draws),
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

    What each rate estimates is stated beside it: under a scenario with the effect a
    claim needs, the *replicated* rate is the power of the whole rule; under the
    ``null`` scenario it is the rule's false-positive rate. ``verdicts`` gives the
    share of every verdict.

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
