"""Reproducible cluster randomisation, balance, ICCs and randomisation inference.

The unit of randomisation is the **therapist**. This module holds everything
chapter 2 of the book computes about that design:

* :func:`allocate` is the allocation procedure as code: therapists are
  assigned 1:1 to ``training`` or ``control``, optionally in permuted blocks
  and within strata (e.g. :func:`median_strata`), from an explicit seed. The
  simulator uses the same function, so the synthetic trial is allocated exactly
  as a real one would be.
* :func:`balance` compares the arms on therapist- and patient-level variables
  with standardised differences, each at its own level.
* :func:`icc` estimates intraclass correlations at the therapist and patient
  level from a three-level random-intercept model, with the design effect and
  effective sample size they imply (:func:`design_effect`).
* :func:`permutation_test` is randomisation inference: it re-runs
  :func:`allocate` on the therapists (never on patients) and recomputes any
  statistic on the relabelled data.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alliance.allocation import allocate, make_rng
from alliance.data.cells import fail, parse_numeric, rows_text, source_of
from alliance.data.schema import CONDITIONS, RATING_COLUMNS
from alliance.data.validate import read_sessions, require_columns
from alliance.errors import AllianceWarning
from alliance.mixed import RandomTerm, fit_lmm
from alliance.options import MAX_DRAWS, check_count
from alliance.results import Result

__all__ = [
    "BalanceResult",
    "IccResult",
    "PermutationResult",
    "allocate",
    "balance",
    "design_effect",
    "icc",
    "icc_summary",
    "median_strata",
    "permutation_test",
]

#: Default variables compared by :func:`balance`: ``{column: level}``.
#: ``"therapist"``: one value per therapist; ``"patient"``: one per patient;
#: ``"baseline"``: the patient's session-1 rating.
BALANCE_DEFAULT = {
    "therapist_experience": "therapist",
    "patient_age": "patient",
    "patient_female": "patient",
    "alliance_patient": "baseline",
    "alliance_therapist": "baseline",
    "wellbeing": "baseline",
}


# --------------------------------------------------------------------------- allocation


def median_strata(data, column: str = "therapist_experience", *, columns=None) -> dict:
    """Strata for :func:`allocate`: therapists above vs at-or-below the median of a variable.

    Parameters
    ----------
    data : pandas.DataFrame or path
        Long session data (validated by :func:`alliance.read_sessions`; ``columns``
        maps your column names).
    column : str
        A therapist-level variable (constant within therapist), e.g.
        ``therapist_experience`` (years).

    Returns
    -------
    dict
        ``{therapist: "above median" | "at or below median"}`` in order of first
        appearance.

    Examples
    --------
    >>> import alliance
    >>> from alliance.randomise import median_strata
    >>> s = median_strata(alliance.load_example())
    >>> sorted(pd.Series(s).value_counts().to_dict().items())
    [('above median', 20), ('at or below median', 20)]
    """
    data = read_sessions(data, columns)
    require_columns(data, [column], "stratification")
    per = _constant_within(data, column, "therapist").dropna()
    per = pd.Series(parse_numeric(per, column, source_of(data)), index=per.index)
    med = float(per.median())
    return {t: ("above median" if v > med else "at or below median") for t, v in per.items()}


# --------------------------------------------------------------------------- checks


def _constant_within(data: pd.DataFrame, column: str, by: str) -> pd.Series:
    """One value of ``column`` per level of ``by`` (in order of first appearance); DataError if it varies."""
    g = data.groupby(by, sort=False)[column]
    n = g.nunique(dropna=False)
    bad = n[n > 1]
    if len(bad):
        lvl = bad.index[0]
        src = source_of(data)
        raise fail(src, f"{column} constant within {by}",
                   f"column '{column}' varies within {by} {lvl!r} in "
                   f"{rows_text(np.flatnonzero((data[by] == lvl).to_numpy()), src)}")
    return g.first()


# --------------------------------------------------------------------------- balance


@dataclass(repr=False)
class BalanceResult(Result):
    """Result of :func:`balance`; the table ``balance`` has one row per variable.

    Columns: ``term`` (variable), ``level`` (therapist / patient / baseline),
    ``estimate`` (standardised difference training - control), ``se``,
    ``statistic``, ``p``, ``ci_low``, ``ci_high`` (all NaN on purpose: see
    :func:`balance`), ``n_training``, ``mean_training``, ``sd_training``,
    ``n_control``, ``mean_control``, ``sd_control``, ``binary``.
    """

    @property
    def max_abs(self) -> float:
        """Largest absolute standardised difference."""
        return float(self.estimates["estimate"].abs().max())


def _std_diff(xt: np.ndarray, xc: np.ndarray, binary: bool) -> tuple[float, float, float]:
    """Standardised difference (Austin 2009) and the two SDs used."""
    mt, mc = float(np.mean(xt)), float(np.mean(xc))
    if binary:
        st, sc = math.sqrt(mt * (1 - mt)), math.sqrt(mc * (1 - mc))
    else:
        st = float(np.std(xt, ddof=1)) if len(xt) > 1 else float("nan")
        sc = float(np.std(xc, ddof=1)) if len(xc) > 1 else float("nan")
    pooled = math.sqrt((st**2 + sc**2) / 2)
    d = (mt - mc) / pooled if pooled > 0 else float("nan")
    return d, st, sc


def balance(
    data,
    covariates: Mapping[str, str] | Sequence[str] | None = None,
    *,
    columns=None,
) -> BalanceResult:
    r"""Balance of the arms: standardised differences, each at its variable's level.

    For a variable :math:`x` the standardised difference between the arms is

    .. math::

        d = \frac{\bar x_T - \bar x_C}{\sqrt{(s_T^2 + s_C^2)/2}},

    with :math:`\bar x_T, s_T` the mean and SD in the training arm
    and :math:`\bar x_C, s_C` in the control arm, computed over
    **one row per unit of the variable's level**: per therapist for therapist
    variables (``therapist_experience``), per patient for patient variables
    (``patient_age``, ``patient_female``) and for baseline ratings (the
    patient's session-1 value of ``alliance_patient``, ``alliance_therapist``,
    ``wellbeing``). For a 0/1 variable :math:`s^2 = \hat p(1-\hat p)`.

    Parameters
    ----------
    data : pandas.DataFrame or path
        Long session data, validated by :func:`alliance.read_sessions`.
    covariates : mapping or sequence, optional
        ``{column: level}`` with level ``"therapist"``, ``"patient"`` or
        ``"baseline"``, or a list of columns (the level is then inferred:
        constant within therapist -> therapist, constant within patient ->
        patient, otherwise the session-1 value). Default: the columns of
        :data:`BALANCE_DEFAULT` present in ``data``.
    columns : mapping, optional
        ``{canonical: yours}`` for columns named differently from the canonical
        schema (as :func:`alliance.read_sessions`).

    Returns
    -------
    BalanceResult
        Table ``balance`` (see :class:`BalanceResult`); ``n_groups`` counts
        therapists and patients; ``info["rows_used"]`` per variable.

    Notes
    -----
    The standardised difference is a *description* of the allocated sample,
    not a test: with randomised allocation every baseline difference is by
    definition due to chance, so the p value of a significance test of it
    answers a question nobody asked (Altman 1985; CONSORT, Moher et al. 2010).
    ``se``, ``statistic``, ``p`` and the CI are therefore NaN. A common
    reading rule flags :math:`|d| > 0.1` (Austin 2009); with 20 therapists per
    arm, differences of 0.3 or more in a therapist-level variable happen often
    by chance and matter only if the variable predicts the outcome (then
    adjust for it). Patients with no session-1 row or a missing session-1
    rating are left out of that baseline row (counted in ``n_*``).

    Validated by ``tests/test_randomise.py`` against direct computation of the
    per-therapist and per-patient means and SDs with pandas.

    References
    ----------
    Austin, P. C. (2009). Balance diagnostics for comparing the distribution of
    baseline covariates between treatment groups in propensity-score matched
    samples. *Statistics in Medicine*, 28(25), 3083-3107.

    Altman, D. G. (1985). Comparability of randomised groups. *The
    Statistician*, 34(1), 125-136.

    Examples
    --------
    >>> import alliance
    >>> from alliance.randomise import balance
    >>> bal = balance(alliance.load_example())
    >>> bal.estimates[["term", "level", "n_training", "n_control"]].head(3)
                       term      level  n_training  n_control
    0  therapist_experience  therapist          20         20
    1           patient_age    patient          ...        ...
    2        patient_female    patient          ...        ...
    """
    data = read_sessions(data, columns)
    src = source_of(data)
    therapist, patient, condition, session = "therapist", "patient", "condition", "session"
    treated, control = "training", "control"
    if covariates is None:
        spec = {c: lvl for c, lvl in BALANCE_DEFAULT.items() if c in data.columns}
        if not spec:
            raise fail(src, "covariates present",
                       f"none of the default covariates {list(BALANCE_DEFAULT)} is in the data; "
                       "pass covariates=")
    elif isinstance(covariates, Mapping):
        spec = dict(covariates)
    else:
        spec = {c: None for c in covariates}
    require_columns(data, list(spec), "balance table")
    arm_of_ther = data.groupby(therapist, sort=False)[condition].first()
    rows, used = [], {}
    for col, level in spec.items():
        if level is None:
            if data.groupby(therapist)[col].nunique(dropna=False).max() <= 1:
                level = "therapist"
            elif data.groupby(patient)[col].nunique(dropna=False).max() <= 1:
                level = "patient"
            else:
                level = "baseline"
        if level == "therapist":
            vals = _constant_within(data, col, therapist)
            arm = arm_of_ther.reindex(vals.index)
        elif level == "patient":
            vals = _constant_within(data, col, patient)
            arm = data.groupby(patient, sort=False)[condition].first().reindex(vals.index)
        elif level == "baseline":
            first = data[data[session] == data[session].min()]
            vals = first.groupby(patient, sort=False)[col].first()
            arm = first.groupby(patient, sort=False)[condition].first().reindex(vals.index)
        else:
            raise ValueError(
                f"balance: level of {col!r} must be 'therapist', 'patient' or "
                f"'baseline', got {level!r}"
            )
        ok = vals.notna().to_numpy()
        x = parse_numeric(vals[ok], col, src)
        a = arm[ok].to_numpy()
        xt, xc = x[a == treated], x[a == control]
        if len(xt) == 0 or len(xc) == 0:
            raise fail(src, "both arms present", f"column '{col}' has no values in one arm")
        binary = bool(np.isin(x, (0.0, 1.0)).all())
        d, st, sc = _std_diff(xt, xc, binary)
        used[col] = int(ok.sum())
        rows.append(
            {
                "term": col,
                "level": level,
                "estimate": d,
                "se": np.nan,
                "statistic": np.nan,
                "p": np.nan,
                "ci_low": np.nan,
                "ci_high": np.nan,
                "n_training": len(xt),
                "mean_training": float(xt.mean()),
                "sd_training": st,
                "n_control": len(xc),
                "mean_control": float(xc.mean()),
                "sd_control": sc,
                "binary": binary,
            }
        )
    table = pd.DataFrame(rows)
    return BalanceResult(
        title="Balance of the arms (standardised differences, training - control)",
        tables={"balance": table},
        n_obs=len(data),
        n_groups={
            "therapist": int(data[therapist].nunique()),
            "patient": int(data[patient].nunique()),
        },
        info={
            "rows_used": used,
            "arms": [treated, control],
            "sd": "sample SD (ddof=1); p(1-p) for 0/1 variables",
        },
    )


# --------------------------------------------------------------------------- ICC


def design_effect(icc: float, cluster_size: float, cv: float = 0.0) -> float:
    r"""Design effect of a cluster design: :math:`1 + ((1 + CV^2)\bar m - 1)\rho`.

    Parameters
    ----------
    icc : float
        Intraclass correlation :math:`\rho` of two units in the same cluster.
    cluster_size : float
        Mean cluster size :math:`\bar m` (units per cluster).
    cv : float
        Coefficient of variation of the cluster sizes (SD / mean). ``0`` gives
        the equal-size formula :math:`1 + (\bar m - 1)\rho` (Donner & Klar 2000).

    Returns
    -------
    float
        Factor by which clustering inflates the variance of an arm mean;
        ``n / design_effect`` is the effective sample size.

    Notes
    -----
    With sizes :math:`m_j` and the SD in :math:`CV` taken with divisor
    :math:`J` (``ddof=0``), :math:`(1+CV^2)\bar m = \sum m_j^2/\sum m_j`, so the
    formula is exact for the variance of the pooled mean of all units under a
    common :math:`\rho` (Eldridge, Ashby & Kerry 2006, with weights
    proportional to cluster size).

    Examples
    --------
    >>> from alliance.randomise import design_effect
    >>> design_effect(0.05, 3)
    1.1
    >>> round(design_effect(0.05, 3, cv=0.5), 4)
    1.1375
    """
    if not (np.isfinite(icc) and np.isfinite(cluster_size) and np.isfinite(cv)):
        raise ValueError("design_effect: icc, cluster_size and cv must be finite")
    if cluster_size < 1 or cv < 0:
        raise ValueError("design_effect: cluster_size must be >= 1 and cv >= 0")
    return float(1.0 + ((1.0 + cv**2) * cluster_size - 1.0) * icc)


@dataclass(repr=False)
class IccResult(Result):
    """Result of :func:`icc`.

    Tables: ``icc`` (terms ``icc_therapist``, ``icc_patient``,
    ``share_patient``; estimate only), ``variance_components`` (the
    three-level fit's), ``design_effect`` (one row per unit of analysis:
    ``unit``, ``formula``, ``icc``, ``cluster_size``, ``cv``,
    ``sessions_per_patient``, ``design_effect``, ``n``, ``n_effective``).
    """

    @property
    def icc_therapist(self) -> float:
        return float(self.tables["icc"].set_index("term").loc["icc_therapist", "estimate"])

    @property
    def icc_patient(self) -> float:
        return float(self.tables["icc"].set_index("term").loc["icc_patient", "estimate"])

    def design_effect(self, unit: str = "patients") -> float:
        """Design effect for ``unit`` (``patients``, ``patients_cv`` or ``sessions``)."""
        return float(self.tables["design_effect"].set_index("unit").loc[unit, "design_effect"])

    def n_effective(self, unit: str = "patients") -> float:
        """Effective sample size for ``unit`` (``n / design_effect``)."""
        return float(self.tables["design_effect"].set_index("unit").loc[unit, "n_effective"])


def icc(data, measure: str, *, method: str = "REML", columns=None) -> IccResult:
    r"""Intraclass correlations at therapist and patient level, design effect, effective n.

    Three-level random-intercept ("empty") model of the rating :math:`y_{sij}`
    of patient :math:`i` of therapist :math:`j` at session :math:`s`:

    .. math::

        y_{sij} = \beta_0 + u_j + v_{ij} + e_{sij},\quad
        u_j \sim N(0, \tau^2_T),\ v_{ij} \sim N(0, \tau^2_P),\ e_{sij} \sim N(0, \sigma^2),

    with :math:`y` = ``measure``, :math:`j` = ``therapist``, :math:`i` =
    ``patient``, fitted by :func:`alliance.mixed.fit_lmm` (REML by default).
    From the variance components:

    * ``icc_therapist`` :math:`\rho_T = \tau^2_T/(\tau^2_T + \tau^2_P + \sigma^2)`:
      the correlation of two ratings of *different* patients of the same
      therapist (the share of variance between therapists);
    * ``icc_patient`` :math:`\rho_P = (\tau^2_T + \tau^2_P)/(\tau^2_T + \tau^2_P + \sigma^2)`:
      the correlation of two ratings of the *same* patient (who shares the
      therapist too);
    * ``share_patient`` :math:`\tau^2_P/(\tau^2_T + \tau^2_P + \sigma^2)`.

    Design effects (table ``design_effect``), with :math:`\bar m` the mean
    number of patients per therapist (patients with at least one rating of
    ``measure``), :math:`CV` the coefficient of variation of those caseloads
    (SD with divisor :math:`J`) and :math:`\bar n` the mean number of rated
    sessions per patient:

    * ``patients``: :math:`1 + (\bar m - 1)\rho_T`, for an analysis with one
      value per patient (e.g. a single-session rating), effective
      :math:`n = N_{patients}/DE`;
    * ``patients_cv``: :math:`1 + ((1 + CV^2)\bar m - 1)\rho_T`, the same for
      unequal caseloads (Eldridge et al. 2006);
    * ``sessions``: :math:`1 + (\bar n - 1)\rho_P + \bar n(\bar m - 1)\rho_T`,
      for an analysis of all session ratings as if independent, effective
      :math:`n = N_{rows}/DE` (three-level design effect with equal sizes,
      Heo & Leon 2008).

    Parameters
    ----------
    data : pandas.DataFrame or path
        Long session data, validated by :func:`alliance.read_sessions`.
    measure : str
        Rating column (``alliance_patient``, ``alliance_therapist``,
        ``wellbeing`` or any numeric column varying within patient).
    method : {"REML", "ML"}
        Criterion of the mixed model.
    columns : mapping, optional
        ``{canonical: yours}`` for columns named differently from the canonical
        schema (as :func:`alliance.read_sessions`).

    Returns
    -------
    IccResult
        Tables ``icc``, ``variance_components``, ``design_effect``; properties
        ``icc_therapist``, ``icc_patient``; ``warnings`` carries the fit's
        (e.g. a boundary fit when :math:`\hat\tau^2_T = 0`).

    Notes
    -----
    Rows with a missing ``measure`` are dropped (``info["rows_dropped"]``).
    The ICCs are of the unconditional model: growth over sessions is left in
    the residual, so :math:`\rho` describes the raw ratings. ICCs are ratios of
    variance components and carry no standard error here (their sampling
    distribution with 40 therapists is skewed; see the chapter's exercises).
    The variance components are validated against lme4 1.1.31
    (``lmer(y ~ 1 + (1 | therapist) + (1 | patient))``, REML and ML, on the
    shipped data; ``tests/r/randomise_reference.R``).

    References
    ----------
    Donner, A., & Klar, N. (2000). *Design and Analysis of Cluster
    Randomization Trials in Health Research*. London: Arnold.

    Eldridge, S. M., Ashby, D., & Kerry, S. (2006). Sample size for cluster
    randomized trials: effect of coefficient of variation of cluster size and
    analysis method. *International Journal of Epidemiology*, 35(5), 1292-1300.

    Heo, M., & Leon, A. C. (2008). Statistical power and sample size
    requirements for three level hierarchical cluster randomized trials.
    *Biometrics*, 64(4), 1256-1262.

    Examples
    --------
    >>> import alliance
    >>> from alliance.randomise import icc
    >>> res = icc(alliance.load_example(), "alliance_therapist")
    >>> 0 < res.icc_therapist < res.icc_patient < 1
    True
    >>> res.tables["design_effect"]["unit"].tolist()
    ['patients', 'patients_cv', 'sessions']
    """

    data = read_sessions(data, columns)
    therapist, patient = "therapist", "patient"
    require_columns(data, [measure], "intraclass correlation")
    values = parse_numeric(data[measure], measure, source_of(data))
    keep = ~np.isnan(values)
    d = data[keep]
    if d.empty:
        raise fail(source_of(data), "values to analyse", f"column '{measure}' has no value")
    y = values[keep]
    X = pd.DataFrame({"Intercept": np.ones(len(d))}, index=d.index)
    fit = fit_lmm(
        y,
        X,
        [
            RandomTerm(therapist, d[therapist].to_numpy()),
            RandomTerm(patient, d[patient].to_numpy()),
        ],
        method=method,
        source=data.attrs["source"],
    )
    vc = fit.variance_components
    var = {
        g: float(vc.loc[vc["group"] == g, "variance"].iloc[0])
        for g in (therapist, patient, "Residual")
    }
    total = sum(var.values())
    rho_t = var[therapist] / total
    rho_p = (var[therapist] + var[patient]) / total
    share_p = var[patient] / total
    nan = np.nan
    icc_table = pd.DataFrame(
        [
            (t, e, nan, nan, nan, nan, nan)
            for t, e in (
                ("icc_therapist", rho_t),
                ("icc_patient", rho_p),
                ("share_patient", share_p),
            )
        ],
        columns=["term", "estimate", "se", "statistic", "p", "ci_low", "ci_high"],
    )
    caseload = d.groupby(therapist)[patient].nunique()
    m_bar = float(caseload.mean())
    cv = float(caseload.std(ddof=0) / m_bar)
    n_bar = float(d.groupby(patient).size().mean())
    n_pat, n_rows = int(d[patient].nunique()), len(d)
    de_p = design_effect(rho_t, m_bar)
    de_cv = design_effect(rho_t, m_bar, cv)
    de_s = 1.0 + (n_bar - 1.0) * rho_p + n_bar * (m_bar - 1.0) * rho_t
    de_table = pd.DataFrame(
        [
            {
                "unit": "patients",
                "formula": "1 + (m - 1) icc_therapist",
                "icc": rho_t,
                "cluster_size": m_bar,
                "cv": 0.0,
                "sessions_per_patient": nan,
                "design_effect": de_p,
                "n": n_pat,
                "n_effective": n_pat / de_p,
            },
            {
                "unit": "patients_cv",
                "formula": "1 + ((1 + cv^2) m - 1) icc_therapist",
                "icc": rho_t,
                "cluster_size": m_bar,
                "cv": cv,
                "sessions_per_patient": nan,
                "design_effect": de_cv,
                "n": n_pat,
                "n_effective": n_pat / de_cv,
            },
            {
                "unit": "sessions",
                "formula": "1 + (n - 1) icc_patient + n (m - 1) icc_therapist",
                "icc": rho_t,
                "cluster_size": m_bar,
                "cv": 0.0,
                "sessions_per_patient": n_bar,
                "design_effect": de_s,
                "n": n_rows,
                "n_effective": n_rows / de_s,
            },
        ]
    )
    return IccResult(
        title=f"Intraclass correlations of {measure} (three-level random intercepts, {fit.method})",
        tables={
            "icc": icc_table,
            "variance_components": vc.reset_index(drop=True),
            "design_effect": de_table,
        },
        n_obs=n_rows,
        n_groups={therapist: int(d[therapist].nunique()), patient: n_pat},
        converged=bool(fit.converged),
        warnings=list(fit.warnings),
        info={
            "measure": measure,
            "method": fit.method,
            "loglik": float(fit.loglik),
            "boundary": bool(fit.boundary),
            "rows_dropped": int(len(data) - len(d)),
            "var_therapist": var[therapist],
            "var_patient": var[patient],
            "var_residual": var["Residual"],
            "intercept": float(fit.coef.iloc[0]),
        },
    )


def icc_summary(
    data: pd.DataFrame,
    measures: Sequence[str] = RATING_COLUMNS,
    **kwargs,
) -> pd.DataFrame:
    """:func:`icc` for several measures, one row each.

    Columns: ``measure``, ``var_therapist``, ``var_patient``, ``var_residual``,
    ``icc_therapist``, ``icc_patient``, ``patients_per_therapist``, ``cv``,
    ``design_effect`` (patients, equal caseloads), ``design_effect_cv``
    (unequal caseloads), ``n_patients``, ``n_effective`` (from
    ``design_effect_cv``), ``design_effect_sessions``, ``n_rows``,
    ``n_effective_sessions``. Keyword arguments go to :func:`icc`.

    Examples
    --------
    >>> import alliance
    >>> from alliance.randomise import icc_summary
    >>> icc_summary(alliance.load_example())["measure"].tolist()
    ['alliance_patient', 'alliance_therapist', 'wellbeing']
    """
    data = read_sessions(data, kwargs.pop("columns", None))
    rows = []
    for m in measures:
        r = icc(data, m, **kwargs)
        de = r.tables["design_effect"].set_index("unit")
        rows.append(
            {
                "measure": m,
                "var_therapist": r.info["var_therapist"],
                "var_patient": r.info["var_patient"],
                "var_residual": r.info["var_residual"],
                "icc_therapist": r.icc_therapist,
                "icc_patient": r.icc_patient,
                "patients_per_therapist": float(de.loc["patients", "cluster_size"]),
                "cv": float(de.loc["patients_cv", "cv"]),
                "design_effect": float(de.loc["patients", "design_effect"]),
                "design_effect_cv": float(de.loc["patients_cv", "design_effect"]),
                "n_patients": int(de.loc["patients", "n"]),
                "n_effective": float(de.loc["patients_cv", "n_effective"]),
                "design_effect_sessions": float(de.loc["sessions", "design_effect"]),
                "n_rows": int(de.loc["sessions", "n"]),
                "n_effective_sessions": float(de.loc["sessions", "n_effective"]),
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- permutation test


@dataclass(repr=False)
class PermutationResult(Result):
    """Result of :func:`permutation_test`.

    Table ``test``: one row (``term`` = the statistic's name, ``estimate`` =
    observed value, ``p`` = permutation p value, ``mc_se`` = its Monte-Carlo
    standard error, ``n_permutations``, ``n_extreme``); table
    ``distribution``: the statistic under each re-randomisation (column
    ``statistic``). Attributes ``observed``, ``distribution``, ``p_value``,
    ``mc_se``.
    """

    @property
    def observed(self) -> float:
        return float(self.tables["test"]["estimate"].iloc[0])

    @property
    def distribution(self) -> np.ndarray:
        return self.tables["distribution"]["statistic"].to_numpy()

    @property
    def p_value(self) -> float:
        return float(self.tables["test"]["p"].iloc[0])

    @property
    def mc_se(self) -> float:
        return float(self.tables["test"]["mc_se"].iloc[0])


def permutation_test(
    data: pd.DataFrame,
    statistic: Callable[[pd.DataFrame], float],
    *,
    n_permutations: int = 999,
    seed: int | None = None,
    rng: np.random.Generator | None = None,
    block_size: int | None = None,
    strata: Mapping | None = None,
    alternative: str = "two-sided",
    columns=None,
    name: str = "statistic",
) -> PermutationResult:
    r"""Randomisation inference: re-randomise therapists, recompute a statistic.

    Under the sharp null hypothesis that training changes no rating, the data
    would have been the same under any allocation the procedure could have
    produced; only the ``condition`` labels would differ. Each permutation
    re-runs :func:`allocate` on the list of therapists (with the trial's
    ``block_size`` and ``strata``), gives every patient and session of a
    therapist that therapist's new arm, and evaluates ``statistic`` on the
    relabelled data. Patients are never re-randomised individually: the
    clustering is kept exactly as in the trial (Gail et al. 1996).

    Two-sided p value, with :math:`T` the observed statistic and :math:`T_b`
    the :math:`B` permuted ones:

    .. math::

        p = \frac{1 + \#\{b : |T_b| \ge |T|\}}{B + 1},\qquad
        \mathrm{SE}_{MC}(p) = \sqrt{p(1 - p)/B}.

    The :math:`+1` counts the observed allocation as one of the possible ones,
    so :math:`p` is never 0 and the test is exact at level :math:`\alpha`
    (Phipson & Smyth 2010). One-sided: ``alternative="greater"`` counts
    :math:`T_b \ge T`, ``"less"`` counts :math:`T_b \le T`.

    Parameters
    ----------
    data : pandas.DataFrame or path
        Long session data, validated by :func:`alliance.read_sessions`.
    statistic : callable
        ``statistic(data) -> float``, e.g. the ``time:training`` estimate of a
        growth model. It receives a relabelled copy of ``data``.
    n_permutations : int
        Number :math:`B` of re-randomisations (drawn with replacement from the
        allocations the procedure can produce).
    seed, rng : int or numpy.random.Generator, optional
        Source of randomness (give one).
    block_size, strata : optional
        Passed to :func:`allocate`; use the trial's own procedure.
    alternative : {"two-sided", "greater", "less"}
    columns : mapping, optional
        ``{canonical: yours}`` for columns named differently from the canonical
        schema (as :func:`alliance.read_sessions`).
    name : str
        Label of the statistic in the result table.

    Returns
    -------
    PermutationResult
        ``observed``, ``distribution``, ``p_value``, ``mc_se``; any
        :class:`~alliance.AllianceWarning` raised by the statistic during the
        permutations is counted, recorded in ``warnings`` and emitted once.

    Notes
    -----
    Do not reuse the seed that allocated the trial: ``allocate(units, seed=s)``
    is then the first re-randomisation, which reproduces the observed
    allocation (harmless for validity, but a wasted permutation).
    The statistic is symmetric about 0 under the null only approximately; the
    two-sided p value compares absolute values, which is the usual choice for
    a difference between arms. Tests (``tests/test_randomise.py``) check that
    no permutation ever splits a therapist's patients across arms, that each
    permuted allocation is exactly 1:1, and that p is uniform under a null
    simulation.

    References
    ----------
    Gail, M. H., Mark, S. D., Carroll, R. J., Green, S. B., & Pee, D. (1996).
    On design considerations and randomization-based inference for community
    intervention trials. *Statistics in Medicine*, 15(11), 1069-1092.

    Phipson, B., & Smyth, G. K. (2010). Permutation p-values should never be
    zero: calculating exact p-values when permutations are randomly drawn.
    *Statistical Applications in Genetics and Molecular Biology*, 9(1), 39.

    Examples
    --------
    >>> import alliance
    >>> from alliance.randomise import permutation_test
    >>> data = alliance.load_example()
    >>> def arm_difference(d):
    ...     m = d.groupby("condition")["alliance_therapist"].mean()
    ...     return m["training"] - m["control"]
    >>> res = permutation_test(data, arm_difference, n_permutations=99, seed=1)
    >>> len(res.distribution), 0.01 <= res.p_value <= 1
    (99, True)
    """
    data = read_sessions(data, columns)
    therapist, condition, arms = "therapist", "condition", CONDITIONS
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError("permutation_test: alternative must be 'two-sided', 'greater' or 'less'")
    B = check_count(n_permutations, "n_permutations", low=1, high=MAX_DRAWS)
    arm_of = data.groupby(therapist, sort=False)[condition].first()
    units = list(arm_of.index)
    if strata is not None:
        strata = {u: strata[u] for u in units} if all(u in strata for u in units) else strata
    gen = make_rng(seed, rng)
    codes = pd.Index(units).get_indexer(data[therapist])

    caught: list[str] = []

    def evaluate(d: pd.DataFrame) -> float:
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always", AllianceWarning)
            value = float(statistic(d))
        caught.extend(str(x.message) for x in w if issubclass(x.category, AllianceWarning))
        for x in w:
            if not issubclass(x.category, AllianceWarning):
                warnings.warn_explicit(x.message, x.category, x.filename, x.lineno)
        return value

    observed = evaluate(data)
    n_observed_warnings = len(caught)
    dist = np.empty(B)
    for b in range(B):
        alloc = allocate(units, rng=gen, block_size=block_size, strata=strata, arms=arms)
        labels = alloc["condition"].to_numpy(dtype=object)
        permuted = data.copy()
        permuted[condition] = labels[codes]
        dist[b] = evaluate(permuted)
    if not np.isfinite(observed) or not np.all(np.isfinite(dist)):
        raise ValueError("permutation_test: the statistic returned a non-finite value")
    if alternative == "two-sided":
        tol = 1e-12 * max(1.0, abs(observed))
        extreme = int(np.sum(np.abs(dist) >= abs(observed) - tol))
    elif alternative == "greater":
        extreme = int(np.sum(dist >= observed - 1e-12 * max(1.0, abs(observed))))
    else:
        extreme = int(np.sum(dist <= observed + 1e-12 * max(1.0, abs(observed))))
    p = (1 + extreme) / (B + 1)
    mc_se = math.sqrt(p * (1 - p) / B)
    notes = []
    if caught:
        n_perm_warn = len(caught) - n_observed_warnings
        first = caught[0]
        notes.append(
            f"the statistic raised {len(caught)} AllianceWarning(s) "
            f"({n_observed_warnings} on the observed data, {n_perm_warn} over {B} permutations); "
            f"first: {first}"
        )
        warnings.warn(notes[-1], AllianceWarning, stacklevel=2)
    test = pd.DataFrame(
        [
            {
                "term": name,
                "estimate": observed,
                "se": np.nan,
                "statistic": np.nan,
                "p": p,
                "ci_low": np.nan,
                "ci_high": np.nan,
                "mc_se": mc_se,
                "n_permutations": B,
                "n_extreme": extreme,
                "alternative": alternative,
            }
        ]
    )
    return PermutationResult(
        title=f"Randomisation test of {name} (therapists re-randomised {B} times)",
        tables={"test": test, "distribution": pd.DataFrame({"statistic": dist})},
        n_obs=len(data),
        n_groups={therapist: len(units)},
        warnings=notes,
        info={
            "n_permutations": B,
            "alternative": alternative,
            "block_size": block_size,
            "stratified": strata is not None,
            "seed": seed,
            "permutation_mean": float(dist.mean()),
            "permutation_sd": float(dist.std(ddof=1)) if B > 1 else float("nan"),
        },
    )


# --------------------------------------------------------------------------- figures


