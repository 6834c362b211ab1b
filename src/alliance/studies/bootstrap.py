r"""Cluster bootstrap over therapists, stratified by arm, for the headline contrasts.

Therapists are the unit of randomisation, so a bootstrap that respects the design
resamples *therapists* (with all their patients and sessions), separately within
each arm so that every bootstrap trial keeps the trial's arm sizes
(:func:`resample_clusters`). A therapist drawn twice enters twice, as two
distinct therapists with distinct patients (their identifiers get a copy suffix),
so the random-effect structure of every model is kept. Each bootstrap draw refits
the models and records the statistics (:func:`cluster_bootstrap`, one function
per draw mapped by :func:`alliance.draws.runner.run_draws`: the same draw gives
the same trial whatever runs it).

From the :math:`B` bootstrap estimates :math:`\hat\theta^*_b` of a statistic with
estimate :math:`\hat\theta`:

* **percentile interval**: the :math:`\alpha/2` and :math:`1-\alpha/2` quantiles of
  :math:`\hat\theta^*` (Efron & Tibshirani 1993, ch. 13);
* **p value** of :math:`\theta = 0`: twice the smaller tail share,
  :math:`p = \min\{1,\ \max[2\,\min(\#\{\hat\theta^*_b \le 0\},
  \#\{\hat\theta^*_b \ge 0\}),\ 1] / B\}`, about the smallest level at which the
  equal-tailed percentile interval excludes 0 (so the two agree), and never below
  :math:`1/B`, the resolution of :math:`B` draws;
* the bootstrap SE (SD of :math:`\hat\theta^*`) and bias
  (:math:`\overline{\hat\theta^*} - \hat\theta`).

Draws that fail (a degenerate fit) are reported, not hidden, and left out of the
summaries. With 20 therapists per arm a percentile interval is itself
approximate; it does not rest on normality of the estimate or on a
degrees-of-freedom approximation, which is why the book shows it beside the Wald
and Satterthwaite/Kenward-Roger results (:func:`headline_inference`).

References
----------
Efron, B., & Tibshirani, R. J. (1993). *An introduction to the bootstrap*. Chapman & Hall.
Field, C. A., & Welsh, A. H. (2007). Bootstrapping clustered data. *Journal of the Royal
Statistical Society B, 69*(3), 369-390.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
import pandas as pd

from alliance.data.validate import read_sessions
from alliance.draws.bootstrap import BootstrapResult, resample_clusters, summarise
from alliance.draws.runner import run_draws
from alliance.errors import AllianceWarning
from alliance.options import MAX_DRAWS, check_conf_level, check_count, check_seed
from alliance.results import Result

__all__ = ["HEADLINE", "BootstrapResult", "cluster_bootstrap", "headline_estimates",
           "headline_inference", "resample_clusters"]  # the first two from alliance.draws.bootstrap


def _draw(draw: int, rng: np.random.Generator, data: pd.DataFrame, statistic: Callable,
          cluster: str, strata: str | None) -> dict:
    sample = resample_clusters(data, rng, cluster=cluster, strata=strata)
    sample.attrs["source"] = f"bootstrap draw {draw}"
    return {k: float(v) for k, v in statistic(sample).items()}


def cluster_bootstrap(data, statistic: Callable, n_boot: int = 999, *, seed: int = 1,
                      cluster: str = "therapist", strata: str | None = "condition",
                      conf_level: float = 0.95, jobs: int = 1, store=None,
                      columns=None) -> BootstrapResult:
    r"""Cluster bootstrap of statistics of a trial, stratified by arm.

    Parameters
    ----------
    data : pandas.DataFrame or path
        Session data (validated by :func:`alliance.read_sessions`).
    statistic : callable
        A module-level function ``statistic(data) -> dict`` of named numbers (it is
        sent to worker processes), e.g. :func:`headline_estimates`.
    n_boot : int
        Bootstrap draws :math:`B`.
    seed : int
        Seed of the study; draw *b* uses :func:`alliance.draws.runner.draw_rng`.
    cluster, strata : str
        The resampled unit (default therapists) and the column whose levels are
        resampled separately (default the arm; None: no strata).
    conf_level : float
        Level of the percentile intervals.
    jobs, store
        Worker processes and an optional resumable store (see
        :func:`alliance.draws.runner.run_draws`).

    Returns
    -------
    BootstrapResult
        See the class; the module docstring defines every column.

    Examples
    --------
    >>> import alliance
    >>> from alliance.studies.bootstrap import cluster_bootstrap
    >>> def mean_wellbeing(d):
    ...     return {"mean": d["wellbeing"].mean()}
    >>> res = cluster_bootstrap(alliance.load_example(), mean_wellbeing, n_boot=50, seed=3)
    >>> row = res.tables["summary"].iloc[0]
    >>> bool(row["ci_low"] < row["estimate"] < row["ci_high"]), int(row["n_boot"])
    (True, 50)
    """
    n_boot = check_count(n_boot, "n_boot", low=2, high=MAX_DRAWS)
    seed, conf_level = check_seed(seed), check_conf_level(conf_level)
    return _cluster_bootstrap(read_sessions(data, columns), statistic, n_boot, seed=seed,
                              cluster=cluster, strata=strata, conf_level=conf_level, jobs=jobs,
                              store=store)


def _cluster_bootstrap(data, statistic: Callable, n_boot: int = 999, *, seed: int = 1,
                       cluster: str = "therapist", strata: str | None = "condition",
                       conf_level: float = 0.95, jobs: int = 1, store=None) -> BootstrapResult:
    """:func:`cluster_bootstrap` on data already validated by :func:`alliance.read_sessions`."""
    est = {k: float(v) for k, v in statistic(data).items()}
    draws = run_draws(_draw, n_boot, seed=seed, args=(data, statistic, cluster, strata),
                      jobs=jobs, store=store)
    summary = summarise(est, draws, conf_level=conf_level, p="resolution")
    ok = draws["error"] == ""
    notes = []
    if (~ok).any():
        notes.append(f"{int((~ok).sum())} of {n_boot} bootstrap draws failed and were left out "
                     f"(first error: {draws.loc[~ok, 'error'].iloc[0]})")
    return BootstrapResult(
        title=f"Cluster bootstrap over {cluster}s" + (f", stratified by {strata}" if strata else "")
              + f" ({n_boot} draws)",
        tables={"estimates": summary, "draws": draws},
        n_obs=len(data), n_groups={cluster: int(data[cluster].nunique())},
        warnings=notes,
        info={"n_boot": n_boot, "seed": seed, "cluster": cluster, "strata": strata,
              "conf_level": conf_level, "interval": "percentile",
              "p": "2 x the smaller share of draws on either side of 0 (at least 1 / B)"},
        draws=draws,
    )


# --------------------------------------------------------------------------- the book's headline

#: The headline contrasts of the paper's four findings: (label, model, term, level).
HEADLINE = (
    ("growth difference, therapist-rated", "growth_therapist", "time:training", None),
    ("growth difference, patient-rated", "growth_patient", "time:training", None),
    ("rater difference in the growth difference", "growth_both", "time:training:therapist_rater",
     None),
    ("temporal congruence, training - control", "truth_bias", "temporal congruence",
     "training - control"),
    ("a1, training (within-patient)", "rsa", "a1", "training"),
    ("a1, control (within-patient)", "rsa", "a1", "control"),
    ("a1, training - control (within-patient)", "rsa", "a1", "training - control"),
)


def _models(data, df: str, method_rsa: str = "ML") -> dict:
    """The chapters' models on validated session data (the private fits behind each door)."""
    from alliance.findings import _lagged_surface
    from alliance.growth import _fit_growth
    from alliance.truth_bias import _fit_truth_bias

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AllianceWarning)
        return {
            "growth_therapist": _fit_growth(data, "therapist", df=df),
            "growth_patient": _fit_growth(data, "patient", df=df),
            "growth_both": _fit_growth(data, "both", df=df),
            "truth_bias": _fit_truth_bias(data, df=df),
            # findings 3 and 4 rest on the within-patient surface (chapter 7)
            "rsa": _lagged_surface(data, method=method_rsa, df=df, level2_means=True),
        }


def _value(res, model: str, term: str, level, column: str = "estimate") -> float:
    return res.value(term, level, column=column)


def headline_estimates(data) -> dict:
    """The estimates of :data:`HEADLINE` on one data set (the bootstrap's statistic).

    The chapters' models (growth per rater and stacked, truth and bias, the lagged
    response surface), fitted with Wald z tests (the bootstrap needs the estimates
    only).
    """
    fits = _models(data, "z")
    return {label: _value(fits[m], m, t, lv) for label, m, t, lv in HEADLINE}


def headline_inference(data, n_boot: int = 999, *, seed: int = 1, jobs: int = 1,
                       conf_level: float = 0.95, columns=None) -> Result:
    """Every headline contrast under four kinds of inference, side by side.

    For each contrast of :data:`HEADLINE`: the Wald z test, the Satterthwaite t test
    (the package's default), the Kenward-Roger t test (REML; the response surface,
    fitted by ML in chapter 5, is refitted by REML for this row) and the cluster
    bootstrap over therapists stratified by arm (:func:`cluster_bootstrap` with
    :func:`headline_estimates`; percentile CI and bootstrap p).

    Returns
    -------
    Result
        ``tables["inference"]``: ``term`` (the contrast), ``method``, ``estimate``,
        ``se``, ``df`` (inf for z; NaN for the bootstrap), ``p``, ``ci_low``,
        ``ci_high``, ``significant`` (p < 1 - ``conf_level``);
        ``tables["bootstrap"]``: the bootstrap summary.
    """
    n_boot = check_count(n_boot, "n_boot", low=2, high=MAX_DRAWS)
    seed, conf_level = check_seed(seed), check_conf_level(conf_level)
    data = read_sessions(data, columns)
    rows = []
    specs = {"Wald z": ("z", "ML"), "Satterthwaite t": ("satterthwaite", "ML"),
             "Kenward-Roger t": ("kenward-roger", "REML")}
    fits = {name: _models(data, df, m) for name, (df, m) in specs.items()}
    boot = _cluster_bootstrap(data, headline_estimates, n_boot, seed=seed, jobs=jobs,
                              conf_level=conf_level)
    bs = boot.estimates.set_index("term")
    alpha = 1.0 - conf_level
    for label, model, term, level in HEADLINE:
        for name in specs:
            res = fits[name][model]
            cols = {c: _value(res, model, term, level, c)
                    for c in ("estimate", "se", "df", "p", "ci_low", "ci_high")}
            method = name + (" (REML refit)" if (model == "rsa" and name == "Kenward-Roger t")
                             else "")
            rows.append({"term": label, "method": method, **cols})
        b = bs.loc[label]
        rows.append({"term": label, "method": "cluster bootstrap", "estimate": b["estimate"],
                     "se": b["se"], "df": np.nan, "p": b["p"], "ci_low": b["ci_low"],
                     "ci_high": b["ci_high"]})
    tab = pd.DataFrame(rows)
    tab["significant"] = tab["p"] < alpha
    return Result(title="Headline contrasts: Wald z, Satterthwaite, Kenward-Roger and the cluster "
                        "bootstrap",
                  tables={"inference": tab, "bootstrap": boot.estimates},
                  n_obs=len(data), n_groups={"therapist": int(data["therapist"].nunique())},
                  warnings=list(boot.warnings),
                  info={"n_boot": n_boot, "seed": seed, "conf_level": conf_level})
