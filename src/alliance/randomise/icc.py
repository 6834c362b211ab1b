"""Intraclass correlations at therapist and patient level, design effects, effective n."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from alliance.data.cells import fail, source_of
from alliance.data.schema import RATING_COLUMNS
from alliance.data.validate import read_sessions
from alliance.mixed import RandomTerm, fit_lmm
from alliance.options import check_conf_level, check_method
from alliance.results import ESTIMATE_COLUMNS, Result

__all__ = ["IccResult", "design_effect", "icc", "icc_summary"]


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

    Tables: ``estimates`` (``icc`` until this release, a name still accepted: terms
    ``icc_therapist``, ``icc_patient``, ``share_patient``; estimate only, the test columns
    NaN), ``variance_components`` (the
    three-level fit's), ``design_effect`` (one row per unit of analysis:
    ``unit``, ``formula``, ``icc``, ``cluster_size``, ``cv``,
    ``sessions_per_patient``, ``design_effect``, ``n``, ``n_effective``).
    """

    TABLE_ALIASES: ClassVar[dict[str, str]] = {"icc": "estimates"}

    @property
    def icc_therapist(self) -> float:
        return float(self.estimates.set_index("term").loc["icc_therapist", "estimate"])

    @property
    def icc_patient(self) -> float:
        return float(self.estimates.set_index("term").loc["icc_patient", "estimate"])

    def design_effect(self, unit: str = "patients") -> float:
        """Design effect for ``unit`` (``patients``, ``patients_cv`` or ``sessions``)."""
        return float(self.tables["design_effect"].set_index("unit").loc[unit, "design_effect"])

    def n_effective(self, unit: str = "patients") -> float:
        """Effective sample size for ``unit`` (``n / design_effect``)."""
        return float(self.tables["design_effect"].set_index("unit").loc[unit, "n_effective"])


def icc(data, measure: str, *, method: str = "REML", columns=None,
        conf_level: float = 0.95) -> IccResult:
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
    conf_level : float
        Level of the intervals of the mixed model's fixed effect (the ICCs themselves
        carry no interval here).

    Returns
    -------
    IccResult
        Tables ``estimates`` (formerly ``icc``), ``variance_components``, ``design_effect``; properties
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

    method, conf_level = check_method(method), check_conf_level(conf_level)
    return _icc(read_sessions(data, columns, numeric=[measure], require=[measure]), measure,
                method=method,
                conf_level=conf_level)


def _icc(data: pd.DataFrame, measure: str, *, method: str = "REML",
         conf_level: float = 0.95) -> IccResult:
    """:func:`icc` on validated session data (``measure`` read as numbers)."""
    therapist, patient = "therapist", "patient"
    values = data[measure].to_numpy(dtype=float)
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
        conf_level=conf_level,
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
            (t, e, nan, nan, nan, nan, nan, nan)
            for t, e in (
                ("icc_therapist", rho_t),
                ("icc_patient", rho_p),
                ("share_patient", share_p),
            )
        ],
        columns=list(ESTIMATE_COLUMNS),
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
            "estimates": icc_table,
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
    data = read_sessions(data, kwargs.pop("columns", None), numeric=list(measures),
                         require=list(measures))
    return _icc_summary(data, measures, **kwargs)


def _icc_summary(data: pd.DataFrame, measures: Sequence[str] = RATING_COLUMNS,
                 **kwargs) -> pd.DataFrame:
    """:func:`icc_summary` on validated session data (the measures read as numbers)."""
    rows = []
    for m in measures:
        r = _icc(data, m, **kwargs)
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
