r"""Which specification of the lagged surface recovers the within-patient surface?

The paper's finding 3 is a within-patient claim: well-being is higher in a
session *after which this patient's* alliance was better than usual. The book's
headline surface (chapter 5) regresses well-being :math:`W_{is}` on the raw
ratings of session :math:`s-1` with random intercepts only, so its coefficients
mix two associations: session-to-session (within patients) and between patients
(patients whose alliance is high throughout are better off throughout). The
specifications compared here (each the lagged surface of chapter 5 and of
:data:`alliance.findings.PAPER_MODELS` -- well-being on both ratings of the previous
session, moderated by arm, session as covariate, random intercepts of therapist and
patient, ML -- with one option of :func:`alliance.rsa.fit_rsa`):

``within``
    Patient means of the five polynomial terms as level-2 predictors
    (``level2_means=True``, Nestler, Humberg & Schönbrodt 2019): the surface
    coefficients are within-patient ones. The book's finding 3 and 4 verdicts
    use this specification (chapter 7).
``raw``
    The raw lagged surface with random intercepts of therapist and patient
    (chapter 5's headline model): a blend of the within- and the
    between-patient surface.
``prior``
    The raw surface plus well-being in session :math:`s-1`
    (``prior_outcome=True``): the change in well-being given last session's
    level, another question.

In a draw's row the tests of each specification carry the prefix of
:data:`SPECIFICATIONS` (none for ``within``, ``raw_`` for ``raw``, ``prior_`` for
``prior``) before the term keys of :data:`TERMS`, as ``est_``, ``se_``, ``df_``
and ``p_`` columns -- the names the frozen findings studies use
(:func:`alliance.findings.primary_tests`). :func:`specification_draw` makes
such rows from a fresh synthetic trial; :func:`specification_recovery`
summarises draws of either kind against the generative model's truth.

Summary per specification and term over the :math:`n` draws whose test could be
computed (Morris, White & Crowther 2019), with :math:`\theta` the generative
model's value (:meth:`alliance.SimulationParams.truth`), which is the
within-patient surface because the model applies the surface to the previous
session's ratings of the same patient:

.. math::

   \text{bias} = \bar{\hat\theta} - \theta,\qquad
   \text{empirical SD} = \operatorname{sd}(\hat\theta_i),\qquad
   \text{coverage} = \frac1n \sum_i \mathbb{1}\{|\hat\theta_i - \theta|
       \le t_{0.975,\,\nu_i}\,\widehat{\mathrm{se}}_i\}

with :math:`\nu_i` the stored degrees of freedom of draw :math:`i` (``inf``: a
z interval); coverage and the rejection rate at :math:`\alpha` carry
Clopper-Pearson intervals (:func:`alliance.draws.rate`).

Validated by ``tests/test_specifications.py``: the within-patient surface on the
shipped synthetic data against lme4 and lmerTest (``tests/r/rsa_within_reference.R``:
log-likelihood, coefficients, :math:`a_1..a_5` per arm and their difference with
SE, Satterthwaite df and p; the raw surface is chapter 5's model, checked against
lme4 in ``tests/test_rsa.py``); bias, empirical SD, mean SE, coverage and their
counts on a store with known values; the per-draw rows of the frozen findings
studies (:func:`alliance.findings.findings_draw`) equal those of
:func:`specification_draw`; the within-patient specification recovers a
control-arm :math:`a_1` near 0 in the scenario ``confounded_level`` where the raw
one does not.

References
----------
Nestler, S., Humberg, S., & Schönbrodt, F. D. (2019). Response surface analysis with
multilevel data. *Psychological Methods, 24*(3), 291-308.
Morris, T. P., White, I. R., & Crowther, M. J. (2019). Using simulation studies to
evaluate statistical methods. *Statistics in Medicine, 38*(11), 2074-2102.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from alliance.data.validate import read_sessions
from alliance.draws.rates import StudyResult, rate
from alliance.errors import DataError
from alliance.findings import _lagged_surface
from alliance.synthetic.params import SimulationParams
from alliance.synthetic.simulate import simulate

__all__ = ["SPECIFICATIONS", "TERMS", "fit_specification", "specification_draw",
           "specification_recovery"]

#: name -> (column prefix in a draw's row, extra arguments of fit_rsa, label).
SPECIFICATIONS: dict[str, tuple[str, dict, str]] = {
    "within": ("", {"level2_means": True}, "within-patient (patient means x arm at level 2)"),
    "raw": ("raw_", {}, "raw lagged (random intercepts only)"),
    "prior": ("prior_", {"prior_outcome": True}, "raw lagged + prior well-being"),
}

#: term key -> (surface parameter, level of the surface table, key of SimulationParams.truth()).
TERMS: dict[str, tuple[str, str, str]] = {
    "a1_training": ("a1", "training", "a1"),
    "a1_control": ("a1", "control", "a1_control"),
    "a1_difference": ("a1", "training - control", "a1_difference"),
    "a4_training": ("a4", "training", "a4"),
}


def _spec(name: str) -> tuple[str, dict, str]:
    if name not in SPECIFICATIONS:
        raise ValueError(f"unknown specification {name!r}; known: {', '.join(SPECIFICATIONS)}")
    return SPECIFICATIONS[name]


def fit_specification(data, name: str = "within", *, conf_level: float = 0.95, columns=None):
    r"""Fit the lagged response surface of chapter 5 in specification ``name``.

    Model (session :math:`s` of patient :math:`i` of therapist :math:`j`, arm
    :math:`a_j`; :math:`T_1..T_5 = X, Y, X^2, XY, Y^2` the therapist- and patient-rated
    alliance of session :math:`s-1`, centred on their pooled mean):

    .. math::

        W_{is} = b_0 + \sum_k b_k T_{k,is} + a_j\,(d_0 + \sum_k d_k T_{k,is})
                 + \gamma s + [\textstyle\sum_k c_k \bar T_{k,i}]
                 + [\delta W_{i,s-1}] + u_j + v_i + \varepsilon_{is}

    with the patient means :math:`\bar T_{k,i}` for ``"within"``, the prior outcome
    :math:`W_{i,s-1}` for ``"prior"`` and neither for ``"raw"``; ML. Validated against
    lme4 (``"within"``: ``tests/r/rsa_within_reference.R``; ``"raw"``:
    ``tests/r/rsa_reference.R``).

    Parameters
    ----------
    data : pandas.DataFrame or path
        Session data (a file or a DataFrame), validated by :func:`alliance.read_sessions`
        (``columns`` maps your column names).
    name : {"within", "raw", "prior"}
        See :data:`SPECIFICATIONS` and the module docstring.
    conf_level : float
        Level of the confidence intervals.

    Returns
    -------
    alliance.rsa.RSAResult

    Examples
    --------
    >>> import alliance
    >>> from alliance.studies.specifications import fit_specification
    >>> res = fit_specification(alliance.load_example(), "within")
    >>> sorted(t for t in res.beta.index if t.startswith("mean_") and ":" not in t)
    ['mean_x', 'mean_x2', 'mean_xy', 'mean_y', 'mean_y2']
    >>> raw = fit_specification(alliance.load_example(), "raw")
    >>> bool(raw.value("a1", "training") != res.value("a1", "training"))
    True
    """
    _prefix, extra, _label = _spec(name)
    return _lagged_surface(read_sessions(data, columns), conf_level, **extra)


def _fit_specification(data, name: str = "within", conf_level: float = 0.95):
    """:func:`fit_specification` on session data already validated by :func:`alliance.read_sessions`."""
    _prefix, extra, _label = _spec(name)
    return _lagged_surface(data, conf_level, **extra)


def _tests(res, prefix: str) -> dict[str, float]:
    surface = res.estimates
    out: dict[str, float] = {}
    for key, (term, level, _truth) in TERMS.items():
        row = surface[(surface["term"] == term) & (surface["level"] == level)].iloc[0]
        out[f"est_{prefix}{key}"] = float(row["estimate"])
        out[f"se_{prefix}{key}"] = float(row["se"])
        out[f"df_{prefix}{key}"] = float(row["df"]) if "df" in row.index else float("inf")
        out[f"p_{prefix}{key}"] = float(row["p"])
    return out


def specification_draw(draw: int, rng, params: SimulationParams | None = None,
                       specs=("within", "raw")) -> dict:
    """One draw: a fresh synthetic trial and the surface tests of each specification.

    The function of :func:`alliance.draws.run_draws`: simulates a trial from
    ``params`` with the draw's generator and fits every specification in
    ``specs``; returns ``est_``, ``se_``, ``df_`` and ``p_`` of each term of
    :data:`TERMS` under the specification's prefix, ``n_obs``, and
    ``boundary_<spec>`` (1 if a variance was estimated as zero).
    """
    data = read_sessions(simulate(params, seed=rng))  # the draw's trial, validated once
    out: dict[str, float] = {"n_obs": len(data)}
    for name in specs:
        prefix = _spec(name)[0]
        res = _fit_specification(data, name)
        out.update(_tests(res, prefix))
        out[f"boundary_{name}"] = int(bool(res.info.get("boundary", False)))
    return out


def specification_recovery(draws: pd.DataFrame, params: SimulationParams | None = None, *,
                           specs=None, alpha: float = 0.05, conf_level: float = 0.95,
                           title: str = "Recovery of the within-patient surface") -> StudyResult:
    """Truth, mean estimate, bias, empirical SD, mean SE and CI coverage per specification.

    Parameters
    ----------
    draws : pandas.DataFrame
        Rows of :func:`alliance.draws.run_draws` carrying ``est_``, ``se_``, ``df_``
        and ``p_`` columns of the terms of :data:`TERMS` under a specification's
        prefix (a frozen findings study, :func:`alliance.studies.frozen.load_study`,
        or draws of :func:`specification_draw`). A draw whose ``error`` is not empty,
        or whose estimate, SE or df is missing, counts in ``failed``.
    params : SimulationParams, optional
        The generative model the draws came from (its :meth:`~SimulationParams.truth`
        is the truth); default the book's model.
    specs : list of str, optional
        Specifications to summarise (default: every one of :data:`SPECIFICATIONS`
        whose columns are present).
    alpha : float
        Level of the tests whose rejection rate is reported.
    conf_level : float
        Level of the per-draw confidence intervals whose coverage is counted, and of
        the binomial intervals of the rates.

    Returns
    -------
    StudyResult
        Table ``recovery``, one row per specification and term: ``specification``,
        ``label``, ``term`` (key of :data:`TERMS`), ``truth``, ``estimate`` (mean
        estimate), ``se`` (its Monte Carlo SE), ``ci_low``, ``ci_high`` (normal
        Monte Carlo interval of the mean), ``bias``, ``emp_sd``, ``mean_se``,
        ``coverage`` with ``coverage_low``, ``coverage_high`` (Clopper-Pearson),
        ``rejection`` (share with :math:`p < \\alpha`, any direction) with
        ``rejection_low``, ``rejection_high``, ``n`` and ``failed``. Table
        ``differences`` (when ``within`` is among the specifications): per other
        specification and term, the mean paired difference of the estimates from the
        within-patient ones over the same draws (``specification`` ``"raw - within"``),
        its Monte Carlo SE, a paired t test (``statistic``, ``df``, ``p``: is the
        difference more than Monte Carlo noise?), normal interval and ``n``. The same
        trials analysed two ways make the difference far more precise than either
        mean. Table ``draws``: the input.

    Raises
    ------
    DataError
        When ``draws`` carries the columns of no specification (or of none of ``specs``).

    Examples
    --------
    >>> from alliance.draws import run_draws
    >>> from alliance.studies.specifications import specification_draw, specification_recovery
    >>> draws = run_draws(specification_draw, 2, seed=1)
    >>> rec = specification_recovery(draws)
    >>> rec.value("a1_control", specification="within", column="truth")
    0.0
    >>> int(rec.value("a1_training", specification="raw", column="n"))
    2
    """
    truth = (params or SimulationParams()).truth()
    source = draws.attrs.get("source", "draws")
    names = list(specs) if specs is not None else [
        n for n, (prefix, _e, _l) in SPECIFICATIONS.items()
        if any(f"est_{prefix}{k}" in draws.columns for k in TERMS)]
    for n in names:
        prefix = _spec(n)[0]
        missing = [f"{c}_{prefix}{k}" for k in TERMS for c in ("est", "se", "df", "p")
                   if f"{c}_{prefix}{k}" not in draws.columns]
        if missing:
            raise DataError(f"{source}: no column {', '.join(missing[:4])} for specification "
                            f"{n!r} [rule: specification-columns]")
    if not names:
        raise DataError(f"{source}: no est_<term> column of any specification "
                        f"({', '.join(SPECIFICATIONS)}) [rule: specification-columns]")
    ok_draw = ((draws["error"].fillna("").astype(str) == "").to_numpy()
               if "error" in draws.columns else np.ones(len(draws), bool))
    z = stats.norm.ppf(0.5 + conf_level / 2)
    rows = []
    for n in names:
        prefix, _extra, label = SPECIFICATIONS[n]
        for key, (_term, _level, tkey) in TERMS.items():
            est = pd.to_numeric(draws[f"est_{prefix}{key}"], errors="coerce").to_numpy(float)
            se = pd.to_numeric(draws[f"se_{prefix}{key}"], errors="coerce").to_numpy(float)
            df = pd.to_numeric(draws[f"df_{prefix}{key}"], errors="coerce").to_numpy(float)
            p = pd.to_numeric(draws[f"p_{prefix}{key}"], errors="coerce").to_numpy(float)
            ok = ok_draw & np.isfinite(est) & np.isfinite(se) & ~np.isnan(df)
            theta = float(truth[tkey])
            crit = np.where(np.isinf(df), z, stats.t.ppf(0.5 + conf_level / 2, np.where(
                np.isinf(df) | ~ok, 1.0, df)))
            covered = np.where(ok, (np.abs(est - theta) <= crit * se).astype(float), np.nan)
            rejected = np.where(ok & ~np.isnan(p), (p < alpha).astype(float), np.nan)
            cov = rate(covered, key, "coverage", conf_level)
            rej = rate(rejected, key, "rejection rate", conf_level)
            e = est[ok]
            m = int(ok.sum())
            mean = float(e.mean()) if m else np.nan
            sd = float(e.std(ddof=1)) if m > 1 else np.nan
            mc_se = sd / np.sqrt(m) if m > 1 else np.nan
            rows.append({
                "specification": n, "label": label, "term": key, "truth": theta,
                "estimate": mean, "se": mc_se, "statistic": np.nan, "p": np.nan,
                "ci_low": mean - z * mc_se, "ci_high": mean + z * mc_se,
                "bias": mean - theta, "emp_sd": sd,
                "mean_se": float(se[ok].mean()) if m else np.nan,
                "coverage": cov["estimate"], "coverage_low": cov["ci_low"],
                "coverage_high": cov["ci_high"],
                "rejection": rej["estimate"], "rejection_low": rej["ci_low"],
                "rejection_high": rej["ci_high"],
                "n": m, "failed": int(len(draws) - m),
            })
    diffs = []
    if "within" in names:
        for n in (m for m in names if m != "within"):
            for key in TERMS:
                d = (pd.to_numeric(draws[f"est_{SPECIFICATIONS[n][0]}{key}"], errors="coerce")
                     - pd.to_numeric(draws[f"est_{key}"], errors="coerce")).to_numpy(float)
                d = d[ok_draw & np.isfinite(d)]
                m = len(d)
                mean = float(d.mean()) if m else np.nan
                mc_se = float(d.std(ddof=1) / np.sqrt(m)) if m > 1 else np.nan
                tstat = mean / mc_se if m > 1 and mc_se > 0 else np.nan
                diffs.append({
                    "specification": f"{n} - within", "term": key, "estimate": mean, "se": mc_se,
                    "statistic": tstat, "df": m - 1,
                    "p": float(2 * stats.t.sf(abs(tstat), m - 1)) if np.isfinite(tstat) else np.nan,
                    "ci_low": mean - z * mc_se, "ci_high": mean + z * mc_se, "n": m})
    return StudyResult(title=title, tables={"recovery": pd.DataFrame(rows),
                                            "differences": pd.DataFrame(diffs), "draws": draws},
                       n_obs=len(draws),
                       info={"alpha": alpha, "conf_level": conf_level, "truth": truth,
                             "specifications": names})
