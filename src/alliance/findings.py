"""The paper's four findings, each tested by pre-specified rules.

The analysis plan is one committed file, ``src/alliance/analysis_plan.toml``
(:data:`PLAN`): every model, primary test, rule and equivalence margin behind a
verdict, with the sources of the margins and the plan's history. This module reads
it: :data:`PRIMARY_TESTS` (one primary test per claim, Holm-adjusted across the
four; the further parts a claim makes, tested at alpha; a part that claims *no
effect* is an equivalence test within a stated margin, never "not significant"),
:data:`MARGINS` and :data:`VERDICT_MEANINGS`. :func:`judge` turns the tests into
one of four verdicts -- *replicated*, *inconclusive*, *not replicated*,
*contradicted* -- with the reason. :data:`CLAIMS` maps every published finding
(Tasca et al. 2023, abstract) to the chapter, figure and function of this book that
re-derive it; the README's claim map and chapter 7 are generated from it.
:func:`evaluate` runs the rules on a data set (chapter 7 and ``alliance report``);
:func:`findings_draw` and :func:`summarise_draws` give their operating
characteristics over many simulated trials (frozen studies, chapter 7).

The specifications (:data:`PAPER_MODELS`, described in the plan's ``[models]``):
growth (chapter 3) with a random intercept and slope of time per patient *and per
therapist* (the unit of randomisation), REML; truth and bias (chapter 4), REML;
the lagged multilevel response surface (chapter 5) of well-being on both ratings
in the previous session, moderated by arm, session as covariate, random intercepts
per therapist and patient, ML as in Nestler et al. (2019), with each patient's
means of the five terms and their products with the arm at level 2, so that each
arm's surface is within-patient (the raw surface is recorded beside it).
"""

from __future__ import annotations

import hashlib
import tomllib
import warnings
from dataclasses import dataclass, field
from functools import partial
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from scipy import stats

from alliance.data.example import example_path
from alliance.data.lags import split_within_between
from alliance.data.validate import _read_sessions_coded, read_sessions
from alliance.draws.rates import StudyResult, rate
from alliance.draws.runner import run_draws
from alliance.errors import AllianceWarning
from alliance.growth import _fit_growth
from alliance.options import check_alpha, check_conf_level
from alliance.provenance import git_is_ancestor, git_last_change
from alliance.results import DIFFERENCE, Result, format_p
from alliance.rsa.fit import _fit_rsa, rsa_spec
from alliance.rsa.spec import RSASpec
from alliance.synthetic.params import SimulationParams
from alliance.synthetic.scenarios import scenario_params
from alliance.synthetic.simulate import simulate
from alliance.truth_bias import _fit_truth_bias

__all__ = [
    "CLAIMS",
    "CLAIM_MODELS",
    "MARGINS",
    "MODELS",
    "PAPER_MODELS",
    "PLAN",
    "PRIMARY",
    "PRIMARY_MODELS",
    "PRIMARY_TESTS",
    "VERDICTS",
    "VERDICT_MEANINGS",
    "VERDICT_MODELS",
    "Claim",
    "FindingsResult",
    "Test",
    "analysis_plan",
    "claim_map_markdown",
    "draw_verdicts",
    "equivalence",
    "equivalence_factor",
    "equivalence_power",
    "evaluate",
    "findings_draw",
    "fit_paper_models",
    "holm",
    "judge",
    "lagged_surface",
    "margin_table",
    "plan_provenance",
    "primary_holm",
    "primary_tests",
    "replication_rates",
    "summarise_draws",
]

#: The analysis plan's file inside the package.
PLAN_FILE = "analysis_plan.toml"


def _plan_path():
    return resources.files("alliance").joinpath(PLAN_FILE)


def _load_plan() -> dict:
    with _plan_path().open("rb") as fh:
        return tomllib.load(fh)


#: The analysis plan (``src/alliance/analysis_plan.toml``), parsed: ``plan``, ``verdicts``,
#: ``models``, ``test`` (a list) and ``margin`` (by name).
PLAN = _load_plan()

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


#: The book's lagged response surface (chapter 5), the one place it is written: well-being on
#: the therapist's (``x``) and the patient's (``y``) alliance rating of the previous session of
#: the same patient, moderated by arm, session as covariate, random intercepts of therapist
#: and patient, ML.
LAGGED_SURFACE = RSASpec("wellbeing", x="alliance_therapist", y="alliance_patient",
                         group=["therapist", "patient"], time="session", lag=1,
                         moderator="condition", moderator_levels=["control", "training"],
                         covariates=["session"], method="ML")


def lagged_surface(data, conf_level: float = 0.95, *, columns=None, method: str = "ML",
                   df: str = "satterthwaite", **options):
    """The book's lagged response surface (chapter 5, :data:`LAGGED_SURFACE`); ``options``
    replace its fields (:func:`alliance.rsa.fit_rsa`).

    :data:`PAPER_MODELS` (``rsa``; ``rsa_within`` adds ``level2_means=True``), the cluster
    bootstrap of chapter 7 (:mod:`alliance.studies.bootstrap`), the specification studies
    of chapter 5 and the multiverse fit it. ``data`` is session data, validated by
    :func:`alliance.read_sessions` (``columns`` maps your column names).
    """
    data, codes = _read_sessions_coded(data, columns)
    return _lagged_surface(data, conf_level, method=method, df=df, codes=codes, **options)


def _lagged_surface(data, conf_level: float = 0.95, *, method: str = "ML",
                    df: str = "satterthwaite", codes: dict | None = None, **options):
    """:func:`lagged_surface` on session data already validated by :func:`alliance.read_sessions`
    (``codes``: the ids' factorisations that validation made, when the caller has them)."""
    spec = rsa_spec(LAGGED_SURFACE, method=method, conf_level=conf_level, **options)
    return _fit_rsa(data, spec, df=df, codes=codes)


def _rsa_within(data, conf_level):
    return _lagged_surface(data, conf_level, level2_means=True)


#: Therapist-level random effects of every growth model behind a verdict (the plan's
#: ``[models] growth_therapist_effects``): an intercept and a slope of time per therapist.
GROWTH_THERAPIST_EFFECTS = PLAN["models"]["growth_therapist_effects"]


def _growth(rater):
    def fit(data, cl):  # the private fit behind fit_growth's door: data validated once
        return _fit_growth(data, rater, conf_level=cl,
                           therapist_effects=GROWTH_THERAPIST_EFFECTS)
    return fit


#: The book's specification of every model behind the four findings: name ->
#: ``fn(validated_data, conf_level) -> Result``. :func:`fit_paper_models` fits them
#: all (on the data validated once: the private fits behind each public door);
#: ``alliance report`` fits them one by one, so that one that cannot be fitted
#: does not stop the others. ``rsa`` is chapter 5's raw lagged surface (within- and
#: between-patient association mixed); ``rsa_within`` adds each patient's means of
#: the five terms and their products with the arm at level 2 (Nestler et al., 2019),
#: so each arm's a1..a5 are within-patient -- the surface findings 3 and 4 are judged
#: on. The growth models have a random intercept and slope per patient and per
#: therapist (the unit of randomisation).
PAPER_MODELS = {
    "growth_therapist": _growth("therapist"),
    "growth_patient": _growth("patient"),
    "growth_both": _growth("both"),
    "truth_bias": lambda data, cl: _fit_truth_bias(data, conf_level=cl),
    "rsa": _lagged_surface,
    "rsa_within": _rsa_within,
}

#: The fits each claim's verdict and evidence rest on.
CLAIM_MODELS = {1: ("growth_therapist", "growth_patient", "growth_both"), 2: ("truth_bias",),
                3: ("rsa_within",), 4: ("rsa_within",)}


#: Names of the models behind the findings, in the order they are fitted.
MODELS = tuple(PAPER_MODELS)

#: The models every verdict needs (all but chapter 5's raw surface, which is context):
#: what ``alliance power`` fits per draw so that it can give verdicts too.
VERDICT_MODELS = tuple(m for m in MODELS if m != "rsa")

#: Kept for callers of the first edition's name: the models of a power study.
PRIMARY_MODELS = VERDICT_MODELS

#: The verdicts a claim can get, from the best to the worst for the paper.
VERDICTS = ("replicated", "inconclusive", "not replicated", "contradicted")

#: What each verdict means (the plan's ``[verdicts]``): the sentence the report and
#: chapter 7 print beside it.
VERDICT_MEANINGS = {v: PLAN["verdicts"][v] for v in VERDICTS}


def fit_paper_models(data, conf_level: float = 0.95, *, columns=None,
                     only=None) -> tuple[dict, list[str]]:
    """Fit the book's specification of every model behind the four findings.

    ``data`` is a file or a DataFrame, validated by :func:`alliance.read_sessions`
    (``columns`` maps your column names). ``only`` names a subset of :data:`MODELS`
    (the power studies fit :data:`VERDICT_MODELS`). Returns the fitted results by
    name and the warnings they raised (each also re-emitted as
    :class:`alliance.AllianceWarning`).
    """
    return _fit_paper_models(read_sessions(data, columns), conf_level, only=only)


def _fit_paper_models(data, conf_level: float = 0.95, *, only=None) -> tuple[dict, list[str]]:
    """:func:`fit_paper_models` on data already validated by :func:`alliance.read_sessions`."""
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
    """One pre-specified test of the plan: where its estimate comes from and what it is for.

    ``role``: ``primary`` (one per claim; Holm-adjusted across the four), ``secondary`` (a
    further part of the same claim, tested at alpha in the claimed ``direction``),
    ``equivalence`` (a further part that claims no effect: two one-sided tests within the
    ``margin`` of :data:`MARGINS`) or ``context`` (recorded by the studies, never used by a
    verdict). ``truth``: the key of :meth:`SimulationParams.truth` the estimate targets
    (its estimand).
    """

    __test__ = False  # a dataclass named Test is not a pytest test class

    claim: int
    role: str
    model: str
    table: str | None
    term: str
    level: str | None
    label: str
    truth: str | None
    direction: str | None = None
    margin: str | None = None
    rule: str = ""

    @property
    def sign(self) -> int:
        """+1 or -1: the sign of the effect the claim makes (0 for an equivalence part)."""
        return {"positive": 1, "negative": -1}.get(self.direction, 0)


def _tests_from_plan(plan) -> dict[str, Test]:
    out = {}
    for t in plan["test"]:
        out[t["key"]] = Test(int(t["claim"]), t["role"], t["model"], t.get("table"), t["term"],
                             t.get("level"), t["label"], t.get("estimand"), t.get("direction"),
                             t.get("margin"), t.get("rule", ""))
    return out


#: Every test behind the verdicts, read from the analysis plan: key -> :class:`Test`.
PRIMARY_TESTS = _tests_from_plan(PLAN)

#: The primary test of each claim (Holm-adjusted across the four).
PRIMARY = {t.claim: key for key, t in PRIMARY_TESTS.items() if t.role == "primary"}

#: The equivalence margins of the plan, by name: ``standardised`` (the smallest effect of
#: interest on a standardised scale), ``unit``, ``measure``, ``scale``, ``arithmetic``,
#: ``source`` and ``reason``. :func:`primary_tests` turns each into the estimate's units
#: with the data's own spread (``margin_<name>`` in a draw's record).
MARGINS = {k: dict(v) for k, v in PLAN["margin"].items()}


def analysis_plan() -> pd.DataFrame:
    """The pre-specified tests of every claim: the table chapter 7 shows before any result."""
    rows = []
    for key, t in PRIMARY_TESTS.items():
        if t.role == "context":
            continue
        rule = t.rule
        if t.margin:
            m = MARGINS[t.margin]
            rule = (f"{rule}; margin: standardised {m['standardised']:g} ({m['measure']}), "
                    f"in {m['unit']}: {m['arithmetic']}")
        rows.append({"claim": t.claim, "test": key, "role": t.role, "quantity": t.label,
                     "model": t.model, "rule": rule})
    return pd.DataFrame(rows)


def margin_table() -> pd.DataFrame:
    """Each equivalence margin with its standardised value, arithmetic and sources."""
    rows = []
    for name, m in MARGINS.items():
        test = next(k for k, t in PRIMARY_TESTS.items() if t.margin == name)
        rows.append({"margin": name, "test": test, "claim": PRIMARY_TESTS[test].claim,
                     "standardised": float(m["standardised"]), "measure": m["measure"],
                     "unit": m["unit"], "scale": m["scale"], "arithmetic": m["arithmetic"],
                     "source": m["source"], "reason": m["reason"]})
    return pd.DataFrame(rows)


def plan_provenance() -> dict:
    """Where the analysis plan came from, and whether it precedes the shipped data.

    Returns ``version``, ``written`` (the plan's own date), ``sha256`` of the plan file,
    and -- in a git checkout -- ``plan_commit`` and ``plan_date`` (the last commit that
    changed the plan file), ``data_commit`` and ``data_date`` (the same for the shipped
    synthetic data file) and ``plan_precedes_data``: ``True`` when the plan's last change
    is an ancestor of the data file's last change (the plan was fixed before the shipped
    draw was made), ``False`` when not (e.g. the plan changed afterwards), ``None`` when
    git cannot tell (no checkout: a source archive or an installed package).
    """
    path = Path(str(_plan_path()))
    data = Path(str(example_path()))
    out = {"version": PLAN["plan"]["version"], "written": PLAN["plan"]["written"],
           "file": "src/alliance/analysis_plan.toml",
           "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
           "plan_commit": None, "plan_date": None, "data_commit": None, "data_date": None,
           "plan_precedes_data": None}
    for key, f in (("plan", path), ("data", data)):
        got = git_last_change(f)
        if got:
            out[f"{key}_commit"], out[f"{key}_date"] = got
    if out["plan_commit"] and out["data_commit"]:
        out["plan_precedes_data"] = (False if out["plan_commit"] == out["data_commit"] else
                                     git_is_ancestor(out["plan_commit"], out["data_commit"],
                                                     path.parent))
    return out


def _within_sd(values: np.ndarray, groups: np.ndarray) -> float:
    """Pooled within-group SD: deviations from each group's mean, df = n - groups."""
    dev = pd.Series(split_within_between(values, groups)[1])
    dof = len(dev) - len(pd.unique(np.asarray(groups)))
    return float(np.sqrt((dev**2).sum() / dof)) if dof > 0 else float("nan")


def _margins(fits: dict) -> dict[str, float]:
    """Each margin of :data:`MARGINS` in the estimate's units, from the fits' own data."""
    out = {}
    if "growth_patient" in fits:
        g = fits["growth_patient"]
        last = g.info["last_session"]
        sd = g.info["marginal_sd_last"]["patient"]
        out["margin_g_pat"] = MARGINS["g_pat"]["standardised"] * sd / (last - 1)
        out["sd_g_pat"] = sd
    if "rsa_within" in fits:
        f = fits["rsa_within"].frame
        # the arm is a binary moderator coded 1 for its second level, training
        binary = fits["rsa_within"].info.get("moderator_kind") == "binary"
        ctrl = f["mod"].to_numpy() == 0 if binary else np.ones(len(f), bool)
        c = f[ctrl]
        groups = c["group:patient"].to_numpy()
        sd_w = _within_sd(c["z"].to_numpy(), groups)
        sd_m = _within_sd(((c["x"] + c["y"]) / 2).to_numpy(), groups)
        out["margin_a1_control"] = MARGINS["a1_control"]["standardised"] * sd_w / sd_m
        out["sdw_wellbeing_control"] = sd_w
        out["sdw_alliance_control"] = sd_m
    return out


def _level(res, t: Test) -> str | None:
    """The level of the plan's test ``t`` as its fit names it: the plan's ``"difference"`` (the
    former name of a binary moderator's difference, still accepted for one release) is the
    fit's ``"<level> - <reference>"``."""
    if t.level == DIFFERENCE:
        return res.info.get("difference_level") or t.level
    return t.level


def _row(res, t: Test) -> pd.Series:
    """The row of the plan's test ``t`` in its fit's table (``t.table``, default the
    estimates): the row whose term, and level where the plan names one, are the test's."""
    tab = res.tables[t.table] if t.table else res.estimates
    return tab.iloc[_row_position(res, t, tab)]


def _row_position(res, t: Test, tab: pd.DataFrame) -> int:
    """Position of the plan's test ``t`` in ``tab`` (its term, and level where the plan names
    one; IndexError when absent)."""
    sel = tab["term"].to_numpy() == t.term
    if t.level:
        # the plan's "difference" (the former name of a binary moderator's difference, still
        # accepted for one release) is the fit's "<level> - <reference>"
        sel &= tab["level"].to_numpy() == _level(res, t)
    return int(np.flatnonzero(sel)[0])


def primary_tests(fits: dict) -> dict[str, float]:
    """Estimate, SE, df and p of every test of :data:`PRIMARY_TESTS`, flat.

    Keys ``est_<key>``, ``se_<key>``, ``df_<key>`` (``inf`` for a Wald z test) and
    ``p_<key>`` for every test whose model is in ``fits``; ``margin_<name>`` for each
    equivalence margin in the estimate's units (see :data:`MARGINS`; ``sd_g_pat`` is the
    SD behind finding 1's, ``sdw_wellbeing_control`` and ``sdw_alliance_control`` the
    within-patient SDs behind finding 4's); ``congruence_training`` (1 when the Humberg et al. checklist
    of the within-patient surface's training arm says broad or strict congruence, else
    0) and ``ridge_consistent_training`` (1 when the CIs of p10, p11 and a3 include 0, 1
    and 0: the ridge's position is consistent with the line of congruence -- not
    evidence that it lies there); ``converged_<model>`` and ``boundary_<model>`` of each
    fit. The per-draw record of the studies (chapters 7 and 9): :func:`judge` turns it
    into verdicts.
    """
    out: dict[str, float] = {}
    margins = _margins(fits)
    for key, t in PRIMARY_TESTS.items():
        if t.model not in fits:
            continue
        res = fits[t.model]
        tab = res.tables[t.table] if t.table else res.estimates
        i = _row_position(res, t, tab)  # the row of _row, read column by column
        out[f"est_{key}"] = float(tab["estimate"].to_numpy()[i])
        out[f"se_{key}"] = float(tab["se"].to_numpy()[i])
        out[f"df_{key}"] = float(tab["df"].to_numpy()[i]) if "df" in tab.columns else float("inf")
        out[f"p_{key}"] = float(tab["p"].to_numpy()[i])
    out.update(margins)
    if "rsa_within" in fits:
        tabs = fits["rsa_within"].tables
        v = tabs["verdict"].set_index("level")["outcome"]
        out["congruence_training"] = int(v.get("training") in ("broad", "strict"))
        ck = tabs["checklist"]
        ridge = ck[(ck["level"] == "training") & ck["condition"].isin([2, 3, 4])]
        out["ridge_consistent_training"] = int(len(ridge) == 3 and bool(ridge["met"].all()))
    for model, res in fits.items():
        out[f"converged_{model}"] = int(bool(res.converged))
        out[f"boundary_{model}"] = int(bool(res.info.get("boundary", False)))
    return out


def holm(p) -> np.ndarray:
    """Holm's step-down adjusted p values; a missing p counts as 1 (the family keeps its size).

    The same numbers as statsmodels' ``multipletests(p, method="holm")[1]`` (tested), computed
    here because statsmodels' Holm branch runs a full garbage collection on every call (about
    0.08 s in a session with the book's objects loaded): judged on every draw of the frozen
    studies it made chapter 7's summaries 50 times slower (89 s instead of 1.7 s per study).
    """
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


def _dist(df):
    """The t distribution with ``df`` degrees of freedom (the normal when ``df`` is infinite):
    ``cdf``, ``sf`` and ``ppf``, the same functions a frozen ``stats.t(df)`` calls. Not
    ``stats.t(df)`` itself: freezing a SciPy distribution formats its docstring, about 1 ms
    a call, which was 60% of the time to judge a frozen study (chapters 7 and 9)."""
    if not np.isfinite(df):
        return stats.norm
    return SimpleNamespace(cdf=partial(stats.t.cdf, df=df), sf=partial(stats.t.sf, df=df),
                           ppf=partial(stats.t.ppf, df=df))


def equivalence(estimate: float, se: float, df: float, bound: float,
                alpha: float = 0.05) -> float:
    """p of the two one-sided tests (TOST) that ``|effect| < bound`` (t with ``df``; z if inf).

    Equivalence is shown at ``alpha`` when p < alpha, i.e. when the ``1 - 2 alpha``
    CI lies inside ``(-bound, bound)``.
    """
    dist = _dist(df)
    lower = dist.sf((estimate + bound) / se)
    upper = dist.cdf((estimate - bound) / se)
    return float(max(lower, upper))


def equivalence_interval(estimate: float, se: float, df: float,
                         alpha: float = 0.05) -> tuple[float, float]:
    """The ``1 - 2 alpha`` CI that :func:`equivalence` compares with the bounds."""
    half = _dist(df).ppf(1 - alpha) * se
    return estimate - half, estimate + half


def equivalence_power(se: float, df: float, bound: float, alpha: float = 0.05) -> float:
    """Probability that the TOST shows equivalence when the true effect is 0, at this SE.

    The estimate is :math:`N(0, se^2)`; equivalence is shown when
    :math:`|\\hat\\theta| < b - t_{1-\\alpha} se`, so the power is
    :math:`2\\Phi(b/se - t_{1-\\alpha}) - 1` (0 when the bound is within one critical
    value of the SE: then no estimate can show it).
    """
    q = bound / se - _dist(df).ppf(1 - alpha)
    return float(max(0.0, 2 * stats.norm.cdf(q) - 1))


def equivalence_factor(se: float, df: float, bound: float, alpha: float = 0.05,
                       power: float = 0.8) -> float:
    """How many times this trial's size would give the TOST ``power`` at a true effect of 0.

    SE shrinks as one over the square root of the sample size (same design, more of
    it), so the factor is :math:`(se / se^*)^2` with
    :math:`se^* = b / (t_{1-\\alpha} + z_{(1+power)/2})`.
    """
    need = bound / (_dist(df).ppf(1 - alpha) + stats.norm.ppf((1 + power) / 2))
    return float((se / need) ** 2)


def _sig(rec, key, alpha, p=None):
    """+1 / -1 when the test rejects at alpha in that direction, 0 when it does not."""
    p = rec[f"p_{key}"] if p is None else p
    if not np.isfinite(p) or p >= alpha:
        return 0
    return 1 if rec[f"est_{key}"] > 0 else -1


def _part(rec, key: str, alpha: float, margin_scale: float) -> str | None:
    """``None`` when a further part of a claim holds, else the reason it does not."""
    t = PRIMARY_TESTS[key]
    if f"p_{key}" not in rec:
        return f"{t.label} could not be tested"
    if t.role == "secondary":
        if _sig(rec, key, alpha) * t.sign > 0:
            return None
        return (f"{t.label} is not {'>' if t.sign > 0 else '<'} 0 at alpha (estimate "
                f"{rec[f'est_{key}']:.3g}, {format_p(rec[f'p_{key}'], equals=True)})")
    m = MARGINS[t.margin]
    bound = rec.get(f"margin_{t.margin}", np.nan) * margin_scale
    est, se, df = rec[f"est_{key}"], rec[f"se_{key}"], rec[f"df_{key}"]
    if not np.isfinite(bound):
        return f"the margin of {t.label} could not be computed"
    p_eq = equivalence(est, se, df, bound, alpha)
    if p_eq < alpha:
        return None
    if _sig(rec, key, alpha) != 0:
        return (f"{t.label} differs from 0 (estimate {est:.3g}, {format_p(rec[f'p_{key}'], equals=True)}), "
                "where the finding says it does not")
    pw = equivalence_power(se, df, bound, alpha)
    k = equivalence_factor(se, df, bound, alpha)
    return (f"'no effect' ({t.label}) is not shown: equivalence within +/-{bound:.3g} "
            f"{m['unit']} (standardised {m['standardised'] * margin_scale:g}) has {format_p(p_eq, equals=True)}; "
            f"at a true effect of 0 this trial would show it with probability {pw:.0%}, and "
            f"about {k:.1f} times its size would be needed for 80%")


def judge(rec, alpha: float = 0.05, *, margin_scale: float = 1.0) -> dict[int, tuple[str, str]]:
    """The verdict and its reason for every claim whose tests are in ``rec``.

    ``rec`` is a mapping as :func:`primary_tests` returns it (one draw of a study,
    or one data set). Rules (the analysis plan, :data:`PLAN`; chapter 7):

    * The four primary p values are Holm-adjusted (a claim without its primary test
      counts as p = 1). A claim is **contradicted** when its primary test rejects in
      the opposite direction, **not replicated** when it does not reject (absence of
      evidence -- not evidence of absence).
    * Otherwise every further part of the claim must hold: a ``secondary`` part
      rejects at alpha in the claimed direction; an ``equivalence`` part (a claim of
      *no effect*) is shown by two one-sided tests within its margin
      (:data:`MARGINS`, in the estimate's units in ``rec['margin_<name>']``, times
      ``margin_scale`` for the sensitivity analysis). Then the claim is
      **replicated**; if not, **inconclusive**, with the part that is missing and --
      for an equivalence part -- the probability that this trial could show it and
      how much larger it would have to be.
    * Finding 1: growth difference (therapist-rated) > 0; the rater x condition x time
      interaction > 0; the patient-rated difference equivalent to 0.
      Finding 2: temporal congruence, training - control > 0.
      Finding 3: within-patient a1 of the training arm > 0 and a4 < 0; the ridge's
      position on the line of congruence is reported as "consistent with" (CIs that
      include the values), never used as evidence.
      Finding 4: within-patient a1, training - control > 0, and the control arm's a1
      equivalent to 0. "Not significant in control" alone is never replicated.
    """
    out = {}
    for c, padj in primary_holm(rec).items():
        key = PRIMARY[c]
        if f"p_{key}" not in rec:
            continue
        t = PRIMARY_TESTS[key]
        s = _sig(rec, key, alpha, padj) * t.sign
        head = f"{t.label}: estimate {rec[f'est_{key}']:.3g}, Holm-adjusted {format_p(padj, equals=True)}"
        if s < 0:
            out[c] = ("contradicted", f"{head}, significantly in the opposite direction")
            continue
        if s == 0:
            out[c] = ("not replicated", f"{head}, not below alpha = {alpha:g}: no evidence for the claim "
                                        "(which is not evidence against it)")
            continue
        parts = [k for k, p in PRIMARY_TESTS.items()
                 if p.claim == c and p.role in ("secondary", "equivalence")]
        missing = [why for k in parts if (why := _part(rec, k, alpha, margin_scale))]
        shown = [PRIMARY_TESTS[k].label for k in parts
                 if _part(rec, k, alpha, margin_scale) is None]
        note = ""
        if c == 3 and "ridge_consistent_training" in rec:
            note = ("; the ridge's position is consistent with the line of congruence (CIs "
                    "include p10 = 0, p11 = 1, a3 = 0; not evidence that it lies there)"
                    if rec["ridge_consistent_training"] else
                    "; the ridge lies off the line of congruence (a CI of p10, p11 or a3 "
                    "excludes its value): best well-being where the ratings differ a little")
        if missing:
            out[c] = ("inconclusive", f"{head}, below alpha = {alpha:g}, but " + "; ".join(missing) + note)
        else:
            extra = "".join(f"; {lab} shown" for lab in shown)
            out[c] = ("replicated", f"{head}, below alpha = {alpha:g}{extra}{note}")
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
    return _evaluate(data, alpha=alpha, conf_level=conf_level, fits=fits)


def _evaluate(data, *, alpha: float = 0.05, conf_level: float = 0.95,
              fits: dict | None = None) -> FindingsResult:
    """:func:`evaluate` on data already validated by :func:`alliance.read_sessions`."""
    if fits is None:
        fits, messages = _fit_paper_models(data, conf_level)
    else:
        fits = {k: v for k, v in fits.items() if v is not None}
        messages = [w for f in fits.values() for w in getattr(f, "warnings", [])]
    missing = {c: [m for m in models if m not in fits] for c, models in CLAIM_MODELS.items()}
    rec = primary_tests(fits)
    # A claim is judged only on its own models: drop the tests of a claim with a missing model.
    dropped = {f"{part}_{key}" for key, t in PRIMARY_TESTS.items() if missing[t.claim]
               for part in ("est", "se", "df", "p")}
    rec = {k: v for k, v in rec.items() if k not in dropped}
    rules = judge(rec, alpha)
    p_adj = primary_holm(rec)
    ev = []
    for key, t in PRIMARY_TESTS.items():
        if t.role == "context" or f"p_{key}" not in rec:
            continue
        r = _row(fits[t.model], t)
        row = {"claim": t.claim, "test": key, "role": t.role, "term": t.label,
               "level": _level(fits[t.model], t) or "all", "estimate": float(r["estimate"]),
               "se": float(r["se"]), "statistic": float(r["statistic"]),
               "df": rec[f"df_{key}"], "p": float(r["p"]),
               "p_holm": p_adj[t.claim] if t.role == "primary" else np.nan,
               "ci_low": float(r["ci_low"]), "ci_high": float(r["ci_high"]),
               "margin": np.nan, "p_equivalence": np.nan,
               "boundary": bool(fits[t.model].info.get("boundary", False))}
        if t.margin:
            b = rec.get(f"margin_{t.margin}", np.nan)
            row["margin"] = b
            row["p_equivalence"] = equivalence(rec[f"est_{key}"], rec[f"se_{key}"],
                                               rec[f"df_{key}"], b, alpha)
        ev.append(row)
    evidence = pd.DataFrame(ev, columns=["claim", "test", "role", "term", "level", "estimate",
                                         "se", "statistic", "df", "p", "p_holm", "ci_low",
                                         "ci_high", "margin", "p_equivalence", "boundary"])

    def verdict(c):
        if missing[c.number]:
            return {"claim": c.number, "statement": c.statement, "verdict": "not evaluated",
                    "reason": f"the {', '.join(missing[c.number])} model(s) could not be fitted"}
        v, why = rules[c.number]
        return {"claim": c.number, "statement": c.statement, "verdict": v, "reason": why}

    findings = pd.DataFrame([verdict(c) for c in CLAIMS])
    first = next(iter(fits.values()), None)
    n_groups = dict(first.n_groups) if first is not None else {}
    margins = {k: float(rec[k]) for k in rec if k.startswith("margin_")}
    return FindingsResult(
        title="The paper's four findings on this data set",
        tables={"findings": findings, "evidence": evidence, "plan": analysis_plan()},
        n_obs=len(data), n_groups=dict(n_groups), converged=all(
            getattr(f, "converged", True) for f in fits.values()),
        warnings=messages, info={"alpha": alpha, "conf_level": conf_level,
                                 "margins": margins, "plan_version": PLAN["plan"]["version"],
                                 "record": rec},
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


def draw_verdicts(draws: pd.DataFrame, alpha: float = 0.05, *,
                  margin_scale: float = 1.0) -> pd.DataFrame:
    """The verdict of every claim in every draw (columns ``verdict_1`` .. ``verdict_4``).

    A failed draw (``error`` not empty) has no verdicts (missing).
    """
    failed = (draws["error"].map(lambda v: "" if pd.isna(v) else str(v)) != "" if "error" in draws
              else pd.Series(False, draws.index))
    rows = []
    for (i, rec), bad in zip(draws.iterrows(), failed):
        rec = {k: v for k, v in rec.items() if not (isinstance(v, float) and np.isnan(v))}
        got = {} if bad else judge(rec, alpha, margin_scale=margin_scale)
        rows.append({f"verdict_{c}": got.get(c, (None, ""))[0] for c in (1, 2, 3, 4)})
    return pd.DataFrame(rows, index=draws.index)


def _claim_meaning(number: int, truth: dict, verdict: str) -> str:
    effect = truth[PRIMARY_TESTS[PRIMARY[number]].truth] != 0
    if verdict == "replicated":
        return "power of the whole rule" if effect else "false-positive rate of the whole rule"
    return "share of trials"


def summarise_draws(draws: pd.DataFrame, params=None, *, alpha: float = 0.05,
                    conf_level: float = 0.95, title: str = "Replication rates",
                    margin_scale: float = 1.0):
    """Rates of each verdict across a replication study's draws, each with its CI.

    ``draws`` are rows of :func:`findings_draw` (from :func:`replication_rates` or a
    frozen study). Returns a :class:`~alliance.draws.rates.StudyResult` with tables
    ``rates`` (the share of trials in which each finding, and all four jointly, came
    out *replicated*), ``verdicts`` (every claim x verdict: the share of trials with
    that verdict), ``tests`` (the rejection rate of every test at ``alpha``: power
    where ``params`` builds the effect in, a false-positive rate where it does not;
    a test with an effect counts only rejections in the effect's direction; for each
    equivalence part also the share of trials in which equivalence was shown),
    ``coverage`` (the share of trials whose ``conf_level`` CI of each test contains
    the test's estimand, :meth:`SimulationParams.truth`) and ``draws`` (with
    ``verdict_1`` .. ``verdict_4``). A failed draw (``error`` not empty) counts in
    ``failed``, not in ``n``.
    """
    truth = (params or SimulationParams()).truth()
    failed = draws["error"].fillna("").astype(str) != ""
    verdicts = draw_verdicts(draws, alpha, margin_scale=margin_scale)
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
    tests, cover = [], []
    for key, t in PRIMARY_TESTS.items():
        if f"p_{key}" not in draws or t.truth not in truth:
            continue
        p, est = draws[f"p_{key}"], draws[f"est_{key}"]
        se, df = draws[f"se_{key}"], draws[f"df_{key}"]
        valid = ~failed & p.notna()
        effect = truth[t.truth]
        hit = (p < alpha) & ((np.sign(est) == np.sign(effect)) if effect != 0 else True)
        tests.append(rate(hit.astype(float).where(valid), t.label,
                          "power" if effect != 0 else "false-positive rate", conf_level,
                          test=key, truth=effect))
        if t.margin and f"margin_{t.margin}" in draws:
            bound = draws[f"margin_{t.margin}"] * margin_scale
            shown = pd.Series([equivalence(e, s_, d, b, alpha) < alpha if np.isfinite(b) else False
                               for e, s_, d, b in zip(est, se, df, bound)], index=draws.index)
            tests.append(rate(shown.astype(float).where(valid), f"{t.label}: equivalence shown",
                              "share of trials showing equivalence within the margin "
                              + ("(power)" if abs(effect) == 0 else "(truth not 0)"),
                              conf_level, test=f"{key}_equivalence", truth=effect))
        q = np.where(np.isfinite(df), stats.t.ppf(0.5 + conf_level / 2, np.where(
            np.isfinite(df), df, 1.0)), stats.norm.ppf(0.5 + conf_level / 2))
        inside = (est - q * se <= effect) & (effect <= est + q * se)
        cover.append(rate(inside.astype(float).where(valid), t.label,
                          f"coverage of the {conf_level:.0%} CI of the estimand", conf_level,
                          test=key, truth=effect))
    return StudyResult(title=title,
                       tables={"rates": pd.DataFrame(rows), "verdicts": pd.DataFrame(vrows),
                               "tests": pd.DataFrame(tests), "coverage": pd.DataFrame(cover),
                               "draws": pd.concat([draws, verdicts], axis=1)},
                       n_obs=len(draws),
                       warnings=([f"{int(failed.sum())} draws failed"] if failed.any() else []),
                       info={"alpha": alpha, "conf_level": conf_level, "draws": len(draws),
                             "failed": int(failed.sum()), "margin_scale": margin_scale})


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
