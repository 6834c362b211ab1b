r"""Percentile bootstrap confidence intervals for response surface parameters.

:func:`bootstrap_rsa` refits a surface of :func:`alliance.rsa.fit_rsa` on resampled
data and reports, for every level's :math:`a_1..a_5`, stationary point, principal
axes, eigenvalues, shifts and intercept :math:`b_0` (and a binary moderator's
difference), the percentile interval of the bootstrap distribution, its standard
deviation, and RSA's bootstrap p value :math:`2\min(P^*(\theta^* < 0), P^*(\theta^* \ge 0))`.

Resampling follows the data's structure:

* single level: cases (the analysed rows) are drawn with replacement;
* multilevel: whole units of the *outermost* grouping factor (the therapists in the
  book) are drawn with replacement, with all their rows; a unit drawn twice enters
  as two units (its labels, and those of every inner group, get a copy suffix), so
  the random-effect structure of the resample is that of the design (the cluster
  bootstrap; Field & Welsh, 2007);
* with a binary moderator that is constant within the resampled units (the arm of a
  therapist), draws are stratified by its level, so each resample has the design's
  number of units per arm.

The centre of the predictors stays the one of the original fit (it is part of the
definition of the surface), and each draw fits the same model (the one in
``result.info["model"]``) with the same estimator. Draws are run by the project's one
runner, :func:`alliance.draws.runner.run_draws`: draw *i* uses its own
``SeedSequence(seed, spawn_key=(i,))`` generator, so the result does not depend on
the number of processes or on a Dask cluster, and a failed draw is recorded (and
counted in ``info``), never hidden.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from alliance.draws.bootstrap import BootstrapResult, summarise
from alliance.draws.runner import run_draws
from alliance.errors import AllianceWarning
from alliance.moderation import difference_label
from alliance.options import MAX_DRAWS, check_conf_level, check_count, check_seed
from alliance.rsa.fitters import lmm_fitter, ols_fitter, random_terms
from alliance.rsa.models import fit_model
from alliance.rsa.spec import design_matrix
from alliance.rsa.surface import QUANTITIES, intercept_weights, surface_quantities

__all__ = ["BootstrapResult", "bootstrap_rsa"]


def _resample(frame: pd.DataFrame, spec, kind, rng: np.random.Generator) -> pd.DataFrame:
    """One bootstrap sample of the analysis rows (cases, or units of the outermost group)."""
    if not spec.groups:
        if kind == "binary":
            parts = [g.iloc[rng.integers(0, len(g), len(g))] for _, g in frame.groupby("mod")]
            out = pd.concat(parts, ignore_index=True)
        else:
            out = frame.iloc[rng.integers(0, len(frame), len(frame))].reset_index(drop=True)
        return out
    outer = f"group:{spec.groups[0]}"
    units = frame[outer].unique()
    strata = [units]
    if kind == "binary":
        per_unit = frame.groupby(outer)["mod"].nunique()
        if (per_unit == 1).all():
            lv = frame.groupby(outer)["mod"].first()
            strata = [lv.index[lv == v].to_numpy() for v in sorted(lv.unique())]
    by_unit = {u: g for u, g in frame.groupby(outer, sort=False)}
    parts = []
    k = 0
    for s in strata:
        for u in s[rng.integers(0, len(s), len(s))]:
            g = by_unit[u].copy()
            for col in [f"group:{c}" for c in spec.groups]:
                g[col] = g[col].astype(str) + f"#{k}"
            parts.append(g)
            k += 1
    return pd.concat(parts, ignore_index=True)


def _estimates(frame, spec, kind, mod_levels, levels, source):
    """Quantities of every level (and a binary moderator's difference) on one data set."""
    X, mod_term = design_matrix(frame, spec, kind, mod_levels)
    z = frame["z"].to_numpy()
    if spec.groups:
        fitter = lmm_fitter(z, random_terms(frame, X, spec), spec.method, source, spec.conf_level)
    else:
        fitter = ols_fitter(z, spec.se, source)
    top = "cubic" if spec.cubic else "full"
    if spec.model == top:
        beta = fitter(X).beta
    else:
        beta = fit_model(spec.model, z, X, fitter, mod_term=mod_term, source=source).beta.to_numpy()
    out = {}
    b0w = intercept_weights(X, levels, mod_term)
    q = {}
    for lab, M in levels.items():
        q[lab] = np.array(list(surface_quantities(M @ beta).values()) + [float(b0w[lab] @ beta)])
        for name, v in zip((*QUANTITIES, "b0"), q[lab]):
            out[f"{lab}|{name}"] = float(v)
    if kind == "binary":
        l0, l1 = list(levels)
        for name, v in zip((*QUANTITIES, "b0"), q[l1] - q[l0]):
            out[f"{difference_label(l1, l0)}|{name}"] = float(v)
    return out


def _draw(draw: int, rng: np.random.Generator, frame, spec, kind, mod_levels, levels, source):
    sample = _resample(frame, spec, kind, rng)
    sample.attrs["source"] = source
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AllianceWarning)  # boundary fits of a draw are normal
        return _estimates(sample, spec, kind, mod_levels, levels, source)


def bootstrap_rsa(result, n_boot: int = 999, *, seed: int = 1, jobs: int = 1,
                  scheduler: str | None = None, store=None, conf_level: float | None = None,
                  progress: bool = False) -> BootstrapResult:
    r"""Percentile bootstrap CIs of a fitted surface's parameters (see the module docstring).

    Parameters
    ----------
    result : RSAResult
        A fit from :func:`alliance.rsa.fit_rsa` (any model, single level or multilevel,
        with or without a moderator).
    n_boot : int
        Number of bootstrap draws.
    seed : int
        Seed of the study: draw *i* uses ``SeedSequence(seed, spawn_key=(i,))``.
    jobs, scheduler, store, progress
        Passed to :func:`alliance.draws.runner.run_draws` (local processes, a Dask
        scheduler address, a folder that makes an interrupted run resumable).
    conf_level : float, optional
        Level of the percentile intervals (default: the fit's).

    Returns
    -------
    BootstrapResult
        ``tables["estimates"]`` (``bootstrap`` until this release, a name still
        accepted; :mod:`alliance.draws.bootstrap`): ``level``, ``term``, ``estimate``
        (the original fit), ``se`` (bootstrap SD), ``statistic`` and ``df`` (NaN), ``p``
        (RSA's bootstrap p), ``ci_low``, ``ci_high`` (percentile), ``n_boot``
        (successful draws of that quantity), ...; ``draws``: every draw's values (one
        row per draw, keyed by ``draw``); ``info``: resampling unit, strata, seed,
        draws failed.

    Notes
    -----
    Percentile intervals of the nonlinear quantities (stationary point, principal axes)
    are the reason to bootstrap: their delta-method intervals are symmetric by
    construction and poor when the surface is nearly flat. Draws whose quantity is
    undefined (NaN, e.g. a flat quadratic form) are left out of that quantity's
    interval and counted. Validated (``tests/test_rsa_bootstrap.py``) by
    reproducibility across process counts, coverage-type checks against the Wald
    intervals on large samples, and the resampling invariants (cluster sizes and
    strata preserved).

    Examples
    --------
    >>> import alliance
    >>> from alliance.rsa import bootstrap_rsa, fit_rsa
    >>> res = fit_rsa(alliance.load_example(), "wellbeing", "alliance_therapist",
    ...               "alliance_patient", group=["therapist", "patient"], time="session",
    ...               lag=1, moderator="condition", covariates=["session"])
    >>> boot = bootstrap_rsa(res, 5, seed=1)
    >>> sorted(boot.tables["bootstrap"]["level"].unique())
    ['control', 'training', 'training - control']
    """
    spec = result.spec
    if spec is None:
        raise ValueError("bootstrap_rsa needs a result of fit_rsa")
    n_boot = check_count(n_boot, "n_boot", low=2, high=MAX_DRAWS)
    seed = check_seed(seed)
    conf = spec.conf_level if conf_level is None else check_conf_level(conf_level)
    kind = result.info["moderator_kind"]
    mod_levels = [lv for lv in result.levels] if kind == "binary" else []
    frame = result.frame
    source = frame.attrs.get("source", "<DataFrame>")
    draws = run_draws(_draw, n_boot, seed=seed, jobs=jobs, scheduler=scheduler, store=store,
                      progress=progress,
                      args=(frame, spec, kind, mod_levels, result.levels, source))
    orig = _estimates(frame, spec, kind, mod_levels, result.levels, source)
    table = summarise(orig, draws, conf_level=conf, p="rsa", source=source, levels=True)
    if kind is None:
        table = table.drop(columns="level")
    n_failed = int((draws["error"] != "").sum())
    notes = []
    if n_failed:
        notes.append(f"{n_failed} of {n_boot} bootstrap draws failed (errors in result.draws)")
    for msg in notes:
        warnings.warn(msg, AllianceWarning, stacklevel=2)
    unit = f"units of {spec.groups[0]}" if spec.groups else "rows"
    return BootstrapResult(
        title=f"Percentile bootstrap ({n_boot} draws, {unit} resampled) of: {result.title}",
        tables={"estimates": table, "draws": draws}, n_obs=result.n_obs,
        n_groups=dict(result.n_groups),
        converged=n_failed == 0, warnings=notes,
        info={"n_boot": int(n_boot), "seed": int(seed), "resampled": unit,
              "stratified_by": result.info["moderator"] if kind == "binary" else None,
              "draws_failed": n_failed, "conf_level": conf, "model": spec.model,
              "method": "percentile"},
        draws=draws)
