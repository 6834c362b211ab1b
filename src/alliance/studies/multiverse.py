r"""A multiverse of specifications: how each finding's key estimate moves with defensible choices.

Every analysis in this book makes choices that the paper's abstract does not fix
and that a careful analyst could make differently: where the predictors are
centred, which random effects the therapists get, REML or ML, how the fixed
effects are tested, whether the surface separates within- from between-patient
association, whether prior well-being is controlled, what counts as "the
previous session", how the residuals are structured. :func:`multiverse` fits
each finding's key estimate (the keys of :data:`alliance.findings.PRIMARY_TESTS`)
under every combination of these choices that applies to it and records one row
per specification: a *specification curve* (Simonsohn, Simmons & Nelson 2020)
or *multiverse analysis* (Steegen et al. 2016).

Findings, their key estimates and the choices that apply (the book's
specification, :data:`alliance.findings.PAPER_MODELS`, first):

=========  =================  ==========================================================
finding    key estimate       choices
=========  =================  ==========================================================
1          ``g_ther``         therapist level (intercept + slope, intercept, none);
                              method (REML, ML); df method; residual structure (the
                              therapist-rated model alone, or both raters stacked with
                              one shared residual variance or one per rater)
2          ``tc_diff``        therapist level (intercept, none, intercept + slope);
                              method (REML, ML); df method; prior control (none, or
                              the therapist's own previous rating: anchoring);
                              session control (yes, no)
3, 4       ``a1_training``,   centring (pooled mean, none, scale midpoint); therapist
           ``a1_difference``  level (intercept, none, intercept + slopes); method (ML,
                              REML); df method; within/between split (patient means
                              at level 2, as the primary tests, or raw as chapter 5's
                              first surface); prior control (none, prior well-being);
                              lag rule (strict, gaps allowed)
=========  =================  ==========================================================

Choices that do not apply are left empty (``None``): the growth and truth-and-bias
models have no predictor pair to centre (and temporal congruence is a
within-patient slope by construction), the growth model has no lag, only the
stacked growth model has a residual structure to choose. The df method
(Satterthwaite, Kenward-Roger, z) changes only the test, so each fitted model is
tested under every method it allows (Kenward-Roger needs REML) without refitting.

The equivalence margins of the analysis plan are a choice too, of the verdicts
rather than of an estimate: :func:`margin_sensitivity` gives every finding's
verdict at half, the plan's and double each margin (chapter 8).
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alliance.data.schema import INSTRUMENTS
from alliance.data.validate import read_sessions
from alliance.draws.runner import progress_bar
from alliance.errors import AllianceWarning, DataError, FitError
from alliance.findings import (
    CLAIMS,
    MARGINS,
    PRIMARY,
    PRIMARY_TESTS,
    _lagged_surface,
    judge,
    summarise_draws,
)
from alliance.growth import _fit_growth as fit_growth
from alliance.moderation import moderated_contrasts
from alliance.options import check_alpha, check_conf_level
from alliance.results import Result
from alliance.rsa.surface import SURFACE_L
from alliance.truth_bias import FORCES
from alliance.truth_bias import _fit_truth_bias as fit_truth_bias

__all__ = ["CHOICES", "FINDINGS", "MARGIN_SCALES", "WITHIN", "MultiverseResult", "by_choice",
           "choices_table", "margin_sensitivity", "multiverse", "specifications"]

#: Finding -> key estimate: its primary test (:data:`alliance.findings.PRIMARY`), ``g_ther``,
#: ``tc_diff``, ``a1_training``, ``a1_difference``.
FINDINGS = {claim: PRIMARY[claim] for claim in sorted(PRIMARY)}
#: The direction each finding claims for its key estimate (+1: positive).
DIRECTION = {1: 1, 2: 1, 3: 1, 4: 1}
#: Every choice column of the specifications table, in display order.
CHOICE_COLUMNS = ("centring", "therapist_level", "method", "within_between", "prior_control",
                  "lag_rule", "residual", "session_control", "df_method")
DF_METHODS = ("satterthwaite", "kenward-roger", "z")
_MIDPOINT = (INSTRUMENTS["alliance_therapist"].low + INSTRUMENTS["alliance_therapist"].high) / 2
_TE = {"intercept": "intercept", "none": "none", "intercept + slope": "intercept+slope",
       "intercept + slopes": "diagonal"}
#: The book's within-patient specification of the lagged surface (findings 3 and 4).
WITHIN = "patient means x arm at level 2"
_KNOWN = ("boundary (singular) fit", "fallback optimizer", "stationary point",
          "no alliance", "centred variable-wise")


@dataclass(frozen=True)
class _Family:
    """One model behind one or more findings: its choices (book's value first) and how it is fitted."""

    name: str
    findings: tuple[int, ...]
    choices: dict  # choice -> tuple of values, the book's first
    crossed: tuple[str, ...]  # choices crossed in the full grid (the others vary one at a time)
    fit: Callable  # (data, spec, conf_level) -> result
    weights: Callable  # (result, finding) -> {term: weight} of the key estimate
    valid: Callable = lambda spec: True  # combinations the model cannot take are no specification


def _fit_growth(data, s, cl):
    stacked = s["residual"] != "therapist-rated model"
    return fit_growth(data, "both" if stacked else "therapist", method=s["method"],
                      therapist_effects=_TE[s["therapist_level"]], conf_level=cl,
                      residual="rater" if s["residual"].endswith("per rater") else "shared")


def _growth_weights(res, finding):
    if res.rater == "both":  # the therapist rater's growth difference in the stacked model
        return {"time:training": 1.0, "time:training:therapist_rater": 1.0}
    return {"time:training": 1.0}


def _fit_truth_bias(data, s, cl):
    return fit_truth_bias(data, therapist_effects=_TE[s["therapist_level"]], method=s["method"],
                          bias=None if s["prior_control"] == "none" else "anchoring",
                          control_session=s["session_control"] == "yes", conf_level=cl)


def _truth_bias_weights(res, finding):
    L, meta = moderated_contrasts({"temporal congruence": FORCES["temporal congruence"]},
                                  "condition", res.info["levels"], res.fit.coef.index)
    label = next(k for k, m in zip(L, meta) if m[1] == "training - control")
    return L[label]


def _fit_rsa(data, s, cl):
    level = s["therapist_level"]
    centre = {"pooled mean": "pooled", "none": "none", f"scale midpoint ({_MIDPOINT:g})": _MIDPOINT}
    return _lagged_surface(
        data, cl, method=s["method"],
        group=["patient"] if level == "none" else ["therapist", "patient"],
        center=centre[s["centring"]], level2_means=s["within_between"] == WITHIN,
        prior_outcome=s["prior_control"] != "none", lag_gaps=s["lag_rule"] != "strict",
        outer_random="intercept" if level == "none" else _TE[level])


def _rsa_weights(res, finding):
    a1 = SURFACE_L.loc["a1"].to_numpy()
    M = res.levels["training"] if finding == 3 else res.levels["training"] - res.levels["control"]
    return dict(zip(res.beta.index, a1 @ M))


#: The models, their choices (the book's specification first) and which are crossed in full.
CHOICES: dict[str, _Family] = {
    "growth": _Family(
        "growth", (1,),
        {"therapist_level": ("intercept + slope", "intercept", "none"),
         "method": ("REML", "ML"),
         "residual": ("therapist-rated model", "both raters, shared residual",
                      "both raters, residual per rater")},
        ("therapist_level", "method", "residual"), _fit_growth, _growth_weights),
    "truth_bias": _Family(
        "truth_bias", (2,),
        {"therapist_level": ("intercept", "none", "intercept + slope"),
         "method": ("REML", "ML"),
         "prior_control": ("none", "anchoring (own previous rating)"),
         "session_control": ("yes", "no")},
        ("therapist_level", "method", "prior_control", "session_control"), _fit_truth_bias,
        _truth_bias_weights,
        # the anchoring rating is lagged by session, which the model then controls
        lambda s: not (s["prior_control"] != "none" and s["session_control"] == "no")),
    "rsa": _Family(
        "rsa", (3, 4),
        {"centring": ("pooled mean", "none", f"scale midpoint ({_MIDPOINT:g})"),
         "therapist_level": ("intercept", "none", "intercept + slopes"),
         "method": ("ML", "REML"),
         "within_between": (WITHIN, "raw"),
         "prior_control": ("none", "prior well-being"),
         "lag_rule": ("strict", "gaps allowed")},
        ("centring", "therapist_level", "method", "within_between", "prior_control", "lag_rule"),
        _fit_rsa, _rsa_weights),
}


def specifications(grid: str = "full") -> dict[str, list[dict]]:
    """The model specifications of each family (before the df methods are crossed in).

    ``"small"``: the book's specification and each choice varied alone from it.
    ``"full"``: every combination of the family's crossed choices (the others at
    the book's value), plus each remaining choice varied alone from the book's
    specification. The book's specification is always first.
    """
    if grid not in ("small", "full"):
        raise ValueError(f"grid must be 'small' or 'full'; got {grid!r}")
    out = {}
    for name, fam in CHOICES.items():
        book = {c: v[0] for c, v in fam.choices.items()}
        specs = [book]
        if grid == "full":
            crossed = [fam.choices[c] for c in fam.crossed]
            for combo in itertools.product(*crossed):
                specs.append({**book, **dict(zip(fam.crossed, combo))})
        for c, values in fam.choices.items():
            if grid == "small" or c not in fam.crossed:
                specs += [{**book, c: v} for v in values[1:]]
        unique = []
        for s in specs:
            if s not in unique and fam.valid(s):
                unique.append(s)
        out[name] = unique
    return out


def choices_table(grid: str = "full") -> pd.DataFrame:
    """Which choice applies to which finding, its values (the book's first) and how it is varied."""
    rows = []
    for fam in CHOICES.values():
        for f in fam.findings:
            for c, values in fam.choices.items():
                rows.append({"finding": f, "choice": c, "book": values[0],
                             "alternatives": ", ".join(values[1:]),
                             "varied": "crossed" if grid == "full" and c in fam.crossed
                             else "one at a time"})
            rows.append({"finding": f, "choice": "df_method", "book": "satterthwaite",
                         "alternatives": "kenward-roger (REML fits), z",
                         "varied": "every fit (no refit)"})
    return pd.DataFrame(rows)


@dataclass
class MultiverseResult(Result):
    """Result of :func:`multiverse`.

    Tables: ``specifications`` (one row per finding x specification: ``finding``,
    ``term`` (the key estimate), ``spec`` (number within the finding, the book's
    specification is 1), ``book`` (True for the book's specification), one column
    per choice (empty where it does not apply), ``estimate``, ``se``,
    ``statistic``, ``df``, ``p``, ``ci_low``, ``ci_high``, ``agrees``, ``n_obs``,
    ``warnings``, ``error``); ``summary`` (per finding: ``specifications``,
    ``fitted``, ``agreeing``, ``warned`` (fitted specifications whose model fit warned, e.g.
    a boundary fit), ``in_direction`` (fitted specifications whose estimate has the claimed
    sign), ``significant`` (fitted ones with p < alpha, either sign), ``share_agreeing``,
    ``median_estimate``, ``min_estimate``, ``max_estimate``, ``book_estimate``, ``book_agrees``);
    ``choices`` (:func:`choices_table`).
    """

    alpha: float = 0.05
    grid: str = "full"


def _kind(message: str) -> str:
    return next((k for k in _KNOWN if k in message), " ".join(message.split())[:120])


def multiverse(data, *, findings=(1, 2, 3, 4), columns=None, alpha: float = 0.05,
               conf_level: float = 0.95, grid: str = "full") -> MultiverseResult:
    r"""Each finding's key estimate under every defensible specification (a specification curve).

    For finding :math:`k` with key estimate :math:`\theta_k` (``g_ther``: the arm
    difference in therapist-rated growth per session; ``tc_diff``: the arm difference in
    temporal congruence; ``a1_training``: :math:`a_1 = b_1 + b_2` of the lagged surface in
    the training arm; ``a1_difference``: its arm difference), specification :math:`s`
    gives :math:`\hat\theta_{ks}` with SE, df, :math:`p` and CI, and

    .. math::

        \text{agrees}_{ks} = \mathbb{1}\{\operatorname{sign}\hat\theta_{ks} = d_k,\;
        p_{ks} < \alpha\},

    with :math:`d_k` the direction the paper claims (positive for all four key
    estimates). The share agreeing is the plain proportion of fitted
    specifications that agree: the specifications are not a sample (they share the
    data and most of their model), so no binomial interval is attached.

    Parameters
    ----------
    data : pandas.DataFrame or path
        Session data, validated by :func:`alliance.read_sessions` (``columns`` maps
        your column names).
    findings : iterable of int
        Which of the four findings to run (default all).
    alpha : float
        Significance level of ``agrees``.
    conf_level : float
        Level of the confidence intervals.
    grid : {"full", "small"}
        ``"full"`` (chapter 8, ``alliance multiverse``): every combination of each
        model's choices (18 growth, 18 truth-and-bias and 144 response-surface fits;
        about 10 s on the shipped data on a quiet machine, 25-30 s on a busy one:
        ``benchmarks/bench_multiverse.py``). ``"small"``: the book's specification and
        each choice varied alone from it (21 fits, about 1 s; tests). Both test every fit under every df method it allows.
        :func:`choices_table` lists the choices.

    Returns
    -------
    MultiverseResult
        See the class. ``info`` holds ``grid``, ``alpha``, ``fits`` (model fits run),
        ``failed`` (specifications that could not be fitted). ``warnings``: per finding,
        how many fits warned and why (each fit's warnings are in the ``warnings``
        column; one summary per finding is also emitted as
        :class:`~alliance.AllianceWarning`).

    Raises
    ------
    DataError
        The data break a rule of the data model (nothing is fitted). A specification
        that cannot be fitted (:class:`~alliance.FitError`, or a
        :class:`~alliance.DataError` of that model on these data) is recorded with its
        message in ``error``, never dropped.

    Notes
    -----
    The book's specification of each finding is the model of
    :data:`alliance.findings.PAPER_MODELS` with Satterthwaite tests; its row equals that
    fit's estimate, SE and :math:`p` (``tests/test_multiverse.py``). The lag rule
    "gaps allowed" takes last session's ratings from the patient's most recent earlier
    session with both ratings (``fit_rsa(lag_gaps=True)``); "strict" needs exactly the
    previous session. Centring "none" puts :math:`a_1` at the scale's origin
    (:math:`X = Y = 0`, below the scale's lowest value 1): it is in the multiverse
    because analysts do it, and the curve shows what it does. Every estimate is a
    linear combination :math:`L\hat\beta` of one fit, tested by
    :meth:`alliance.mixed.MixedFit.contrast` (validated against lmerTest and pbkrtest
    in ``tests/test_mixed_ddf.py``).

    References
    ----------
    Simonsohn, U., Simmons, J. P., & Nelson, L. D. (2020). Specification curve analysis.
    *Nature Human Behaviour, 4*, 1208-1214.
    Steegen, S., Tuerlinckx, F., Gelman, A., & Vanpaemel, W. (2016). Increasing
    transparency through a multiverse analysis. *Perspectives on Psychological Science,
    11*(5), 702-712.

    Examples
    --------
    >>> import warnings, alliance
    >>> from alliance.studies.multiverse import multiverse
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", alliance.AllianceWarning)
    ...     res = multiverse(alliance.load_example(), findings=[2], grid="small")
    >>> book = res.rows(book=True)
    >>> book["term"].tolist(), bool(book["agrees"].iloc[0])
    (['tc_diff'], True)
    """
    _check(findings, grid)
    alpha, conf_level = check_alpha(alpha), check_conf_level(conf_level)
    return _multiverse(read_sessions(data, columns), findings=findings, alpha=alpha,
                       conf_level=conf_level, grid=grid)


def _check(findings, grid: str) -> list[int]:
    if grid not in ("small", "full"):
        raise ValueError(f"grid must be 'small' or 'full'; got {grid!r}")
    wanted = sorted({int(f) for f in findings})
    if not wanted or set(wanted) - set(FINDINGS):
        raise ValueError(f"findings must be among {sorted(FINDINGS)}; got {list(findings)}")
    return wanted


def _multiverse(data, *, findings=(1, 2, 3, 4), alpha: float = 0.05, conf_level: float = 0.95,
                grid: str = "full", progress: bool = False) -> MultiverseResult:
    """:func:`multiverse` on session data already validated by :func:`alliance.read_sessions`;
    ``progress``: a progress bar on standard error (:func:`alliance.draws.progress_bar`)."""
    wanted = _check(findings, grid)
    alpha, conf_level = check_alpha(alpha), check_conf_level(conf_level)
    grids = specifications(grid)
    rows: list[dict] = []
    n_fits = 0
    plan = [(name, fam, [f for f in fam.findings if f in wanted], s)
            for name, fam in CHOICES.items() for s in grids[name]]
    plan = [p for p in plan if p[2]]
    for name, fam, these, s in progress_bar(plan, progress, unit="fit", desc="multiverse"):
        n_fits += 1
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", AllianceWarning)
            try:
                res, error = fam.fit(data, s, conf_level), ""
            except (FitError, DataError) as exc:
                res, error = None, f"{type(exc).__name__}: {exc}"
        notes = list(dict.fromkeys(str(w.message) for w in caught
                                   if issubclass(w.category, AllianceWarning)))
        methods = [m for m in DF_METHODS if m != "kenward-roger" or s["method"] == "REML"]
        for m in methods:
            for f in these:
                row = {"finding": f, "term": FINDINGS[f], "model": name, **s, "df_method": m,
                       "warnings": " | ".join(notes), "error": error,
                       "n_obs": np.nan if res is None else int(res.n_obs)}
                if res is not None:
                    try:
                        t = res.fit.contrast({FINDINGS[f]: fam.weights(res, f)}, ddf=m).iloc[0]
                    except FitError as exc:  # e.g. no curvature for the degrees of freedom
                        row["error"] = f"FitError: {exc}"
                    else:
                        row.update({k: float(t[k]) for k in
                                    ("estimate", "se", "statistic", "df", "p", "ci_low",
                                     "ci_high")})
                rows.append(row)
    spec_table = _tidy(pd.DataFrame(rows), alpha)
    summary = _summary(spec_table, alpha)
    messages = []
    for f, sub in spec_table.groupby("finding"):
        fitted_warned = sub[(sub["df_method"] == "satterthwaite") & (sub["warnings"] != "")]
        if len(fitted_warned):
            kinds = sorted({_kind(w) for ws in fitted_warned["warnings"] for w in ws.split(" | ")})
            n_models = int((sub["df_method"] == "satterthwaite").sum())
            messages.append(f"multiverse, finding {f}: {len(fitted_warned)} of {n_models} model "
                            f"fits warned ({'; '.join(kinds)}); see the 'warnings' column")
    for msg in messages:
        warnings.warn(msg, AllianceWarning, stacklevel=2)
    failed = int((spec_table["error"] != "").sum())
    return MultiverseResult(
        title=f"Multiverse of specifications ({grid} grid; synthetic data unless your own)",
        tables={"specifications": spec_table, "summary": summary,
                "choices": choices_table(grid)},
        n_obs=len(data),
        n_groups={"therapist": int(data["therapist"].nunique()),
                  "patient": int(data["patient"].nunique())},
        converged=failed == 0, warnings=messages,
        info={"grid": grid, "alpha": alpha, "conf_level": conf_level, "fits": n_fits,
              "failed": failed, "findings": wanted},
        alpha=alpha, grid=grid,
    )


def _tidy(t: pd.DataFrame, alpha: float) -> pd.DataFrame:
    for c in ("estimate", "se", "statistic", "df", "p", "ci_low", "ci_high"):
        if c not in t:
            t[c] = np.nan
    for c in CHOICE_COLUMNS:
        if c not in t:
            t[c] = None
        t[c] = t[c].astype(object).where(t[c].notna(), None)
    direction = t["finding"].map(DIRECTION)
    t["agrees"] = ((np.sign(t["estimate"]) == direction) & (t["p"] < alpha)).astype(bool)
    t = t.sort_values(["finding"], kind="stable").reset_index(drop=True)
    t["spec"] = t.groupby("finding").cumcount() + 1
    t["book"] = t["spec"] == 1
    cols = ["finding", "term", "spec", "book", *CHOICE_COLUMNS, "estimate", "se", "statistic",
            "df", "p", "ci_low", "ci_high", "agrees", "n_obs", "model", "warnings", "error"]
    return t[cols]


def _summary(t: pd.DataFrame, alpha: float) -> pd.DataFrame:
    out = []
    for f, sub in t.groupby("finding"):
        ok = sub[sub["error"] == ""]
        book = sub[sub["book"]].iloc[0]
        out.append({
            "finding": int(f), "term": FINDINGS[int(f)],
            "label": PRIMARY_TESTS[FINDINGS[int(f)]].label,
            "specifications": len(sub), "fitted": len(ok), "agreeing": int(ok["agrees"].sum()),
            "warned": int((ok["warnings"] != "").sum()),
            "in_direction": int((np.sign(ok["estimate"]) == DIRECTION[int(f)]).sum()),
            "significant": int((ok["p"] < alpha).sum()),
            "share_agreeing": float(ok["agrees"].mean()) if len(ok) else np.nan,
            "median_estimate": float(ok["estimate"].median()) if len(ok) else np.nan,
            "min_estimate": float(ok["estimate"].min()) if len(ok) else np.nan,
            "max_estimate": float(ok["estimate"].max()) if len(ok) else np.nan,
            "book_estimate": float(book["estimate"]), "book_p": float(book["p"]),
            "book_agrees": bool(book["agrees"]),
        })
    return pd.DataFrame(out)


def by_choice(result: MultiverseResult, finding: int) -> pd.DataFrame:
    """Which choices move a finding: per value of each choice, its fitted specifications.

    One row per (``choice``, ``value``) that varies for ``finding``: ``specifications``
    (fitted ones using that value), ``share_agreeing``, ``median_estimate``,
    ``min_estimate``, ``max_estimate``. A choice whose values give very different shares
    is one the finding depends on; within a full grid each value is crossed with every
    combination of the other choices, so the rows of one choice are comparable.
    """
    t = result.tables["specifications"]
    t = t[(t["finding"] == finding) & (t["error"] == "")].sort_values("spec")
    rows = []
    for c in CHOICE_COLUMNS:
        values = t[c].dropna().unique()
        if len(values) < 2:
            continue
        for v in values:
            sub = t[t[c] == v]
            rows.append({"choice": c, "value": v, "specifications": len(sub),
                         "share_agreeing": float(sub["agrees"].mean()),
                         "median_estimate": float(sub["estimate"].median()),
                         "min_estimate": float(sub["estimate"].min()),
                         "max_estimate": float(sub["estimate"].max())})
    return pd.DataFrame(rows)


#: Multipliers of every equivalence margin in :func:`margin_sensitivity`: half, the plan's, double.
MARGIN_SCALES = (0.5, 1.0, 2.0)


def margin_sensitivity(result, *, scales=MARGIN_SCALES, alpha: float | None = None,
                       draws: pd.DataFrame | None = None, params=None) -> pd.DataFrame:
    """Every finding's verdict with the equivalence margins scaled by each of ``scales``.

    ``result`` is a :class:`alliance.findings.FindingsResult` (:func:`alliance.findings.evaluate`),
    whose ``info["record"]`` holds the tests and margins of the data set; the verdicts are
    re-judged (:func:`alliance.findings.judge`) with every margin of the analysis plan
    times the scale (the standardised values 0.2 and 0.10 become 0.1 and 0.05, or 0.4
    and 0.2). With ``draws`` (the rows of a frozen findings study, and its ``params``)
    each row also gets the share of those trials in which the finding came out
    *replicated* at that scale, with its Clopper-Pearson interval.

    Returns
    -------
    pandas.DataFrame
        ``scale``, ``claim``, ``verdict``, ``reason``, the margins in the estimates'
        units (``margin_g_pat``, ``margin_a1_control``) and, with ``draws``,
        ``replicated_share``, ``ci_low``, ``ci_high``, ``n``.
    """
    rec = result.info["record"]
    alpha = result.info["alpha"] if alpha is None else alpha
    rows = []
    for k in scales:
        verdicts = judge(rec, alpha, margin_scale=k)
        rates = None
        if draws is not None:
            rates = summarise_draws(draws, params, alpha=alpha, margin_scale=k).tables["rates"]
        for c in CLAIMS:
            if c.number not in verdicts:
                continue
            v, why = verdicts[c.number]
            row = {"scale": k, "claim": c.number, "verdict": v, "reason": why,
                   **{f"margin_{m}": rec.get(f"margin_{m}", np.nan) * k for m in MARGINS}}
            if rates is not None:
                r = rates[rates["term"] == f"finding {c.number}"].iloc[0]
                row.update({"replicated_share": r["estimate"], "ci_low": r["ci_low"],
                            "ci_high": r["ci_high"], "n": r["n"]})
            rows.append(row)
    return pd.DataFrame(rows)
