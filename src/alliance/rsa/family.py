"""The model family compared: AICc weights, likelihood-ratio tests, every model's estimates.

:func:`fit_family` fits the models of :mod:`alliance.rsa.models` on one design with
one fitter (OLS for single-level data, ML mixed models for multilevel data), and
returns the family table (log-likelihood, k, AIC, AICc, Akaike weights, R², the
constrained coefficients, the LR test against the unconstrained model), the LR
tests along nested pairs, and a tidy table of every model's estimates with
standard errors and Wald CIs. AICc follows RSA's ``aictab``: ``k`` counts the
free coefficients (intercept and covariates included) plus the residual variance,
:math:`\\mathrm{AICc} = -2\\ell + 2k + 2k(k+1)/(n-k-1)`, and the weights are taken
over the models fitted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from alliance.results import wald_table
from alliance.rsa.models import CUBIC_NAMES, MODELS, PIECE_LABELS, POLY_NAMES, ModelFit, fit_model
from alliance.rsa.surface import SURFACE_L

__all__ = ["NESTED_PAIRS", "family_tables", "fit_family", "model_wald", "robust_trace",
           "scaled_difference"]

#: Nested pairs tested by likelihood ratio (smaller, larger), when both were fitted.
NESTED_PAIRS = (
    ("null", "onlyx"), ("null", "onlyy"), ("onlyx", "onlyx2"), ("onlyy", "onlyy2"),
    ("onlyx", "additive"), ("onlyy", "additive"), ("onlyx2", "full"), ("onlyy2", "full"),
    ("null", "diff"), ("null", "mean"), ("diff", "additive"), ("mean", "additive"),
    ("null", "additive"), ("additive", "IA"), ("IA", "full"), ("additive", "SRR"),
    ("null", "SQD"), ("SQD", "SSQD"), ("SQD", "RR"), ("SSQD", "SRR"), ("RR", "SRR"),
    ("SSQD", "SRSQD"), ("SRSQD", "SRRR"), ("SRR", "SRRR"), ("SRRR", "full"), ("SRR", "full"),
    ("full", "cubic"), ("SQD", "CA"), ("SQD", "CL"), ("RR", "RRCA"), ("RR", "RRCL"),
    ("CA", "RRCA"), ("CL", "RRCL"), ("CA", "cubic"), ("CL", "cubic"), ("RRCA", "cubic"),
    ("RRCL", "cubic"), ("absdiff", "absunc"),
)

#: Cubic surface parameters (Humberg et al. 2022): LOC (u) and LOIC (v) polynomials.
CUBIC_L = pd.DataFrame(
    [[1, 1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 1, 1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1, 1, 1, 1],
     [1, -1, 0, 0, 0, 0, 0, 0, 0], [0, 0, 1, -1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1, -1, 1, -1]],
    index=["u1", "u2", "u3", "v1", "v2", "v3"], columns=list(POLY_NAMES), dtype=float)


def model_wald(est, cov, names, conf_level: float = 0.95) -> pd.DataFrame:
    """:func:`~alliance.results.wald_table`, with no test where a constraint fixes the value (SE 0)."""
    return wald_table(est, cov, names, conf_level, constrained=True)


def robust_trace(fit: ModelFit, z: np.ndarray, X: pd.DataFrame) -> float:
    r"""The trace :math:`\mathrm{tr}(A_0^{-1} B_0)` of one single-level model (robust scaling).

    :math:`A_0` is the expected information of the regression (coefficients and
    residual variance :math:`\hat\sigma^2 = \mathrm{RSS}/n`) restricted to the
    model (the columns :math:`D = X T` of its tangent space), :math:`B_0` the mean
    outer product of its case-wise scores at the model's estimates. For the
    coefficients the trace is :math:`\sum_i \hat e_i^2 h_{ii} / \hat\sigma^2`
    (:math:`h_{ii}` the leverages of :math:`D`), for the variance
    :math:`\overline{(\hat e^2 - \hat\sigma^2)^2} / (2\hat\sigma^4)`; the two
    blocks of :math:`A_0` are orthogonal. This is lavaan's ``trace.h0`` of the
    Yuan-Bentler (Mplus) scaling behind ``estimator = "MLR"``; a model's scaling
    factor against the unrestricted one is ``(trace(unrestricted) - trace(model)) / df``.
    """
    Xm = fit.extra["design"] if "design" in fit.extra else X.to_numpy(dtype=float)  # piecewise
    e = np.asarray(z, float) - Xm @ fit.beta.to_numpy()
    s2 = float(e @ e) / len(e)
    D = Xm @ fit.extra["tangent"]
    q, r = np.linalg.qr(D)
    keep = np.abs(np.diag(r)) > 1e-10 * np.abs(np.diag(r)).max()  # a flat ridge: phi unidentified
    h = (q[:, keep] ** 2).sum(axis=1)
    return float((e * e) @ h / s2 + np.mean((e * e - s2) ** 2) / (2 * s2 * s2))


def scaled_difference(ll0, k0, tr0, ll1, k1, tr1) -> tuple[float, float, float]:
    r"""Satorra-Bentler (2001) scaled difference test of a model (0) nested in a larger one (1).

    :math:`T = 2(\ell_1 - \ell_0)`, :math:`m = k_1 - k_0` and the scaling
    :math:`c_d = (d_0 c_0 - d_1 c_1)/m = (\mathrm{tr}_1 - \mathrm{tr}_0)/m` (the
    unrestricted model's trace cancels); returns :math:`(T/c_d, c_d, p)`, the p value
    from :math:`\chi^2_m`, NaN when :math:`c_d \le 0` (as lavaan).
    """
    m = k1 - k0
    t = max(0.0, 2 * (ll1 - ll0))
    cd = (tr1 - tr0) / m if m > 0 else np.nan
    if not np.isfinite(cd) or cd <= 0:
        return np.nan, np.nan, np.nan
    return t / cd, cd, float(stats.chi2.sf(t / cd, m))


def _aicc(ll, k, n):
    return -2 * ll + 2 * k + (2 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else np.inf)


def _label(name: str, moderated: bool) -> str:
    if name in POLY_NAMES and not moderated:
        return f"b{POLY_NAMES.index(name) + 1}"
    return name


def _estimates(fit: ModelFit, levels: dict, moderated: bool, conf_level: float,
               b0_weights: dict, full_names: list, cubic_levels: dict) -> pd.DataFrame:
    names = list(fit.beta.index)
    b, V = fit.beta.to_numpy(), fit.cov.to_numpy()
    if MODELS[fit.name].piecewise:  # its own coefficients b1, b2, w2, w3: no polynomial surface
        parts = [model_wald(b, V, [PIECE_LABELS.get(n, n) for n in names], conf_level)]
        for w in list(b0_weights.values())[:1]:  # b0 at the covariates' means (the shared columns)
            wp = np.array([w[full_names.index(n)] if n in full_names else 0.0 for n in names])
            parts.append(model_wald([wp @ b], [[wp @ V @ wp]], ["b0"], conf_level))
        out = pd.concat(parts, ignore_index=True)
        out.insert(0, "level", "all")
        out.insert(0, "model", fit.name)
        return out
    parts = [model_wald(b, V, [_label(n, moderated) for n in names], conf_level)]
    parts[0].insert(0, "level", "all")
    for lab, w in b0_weights.items():  # the surface intercept of each level, covariates at their means
        t = model_wald([w @ b], [[w @ V @ w]], ["b0"], conf_level)
        t.insert(0, "level", lab)
        parts.append(t)
    cubic = all(t in names for t in CUBIC_NAMES)
    for lab, M in levels.items():
        L = SURFACE_L.to_numpy() @ M
        t = model_wald(L @ b, L @ V @ L.T, list(SURFACE_L.index), conf_level)
        if cubic and MODELS[fit.name].order == 3:  # u1..v3 of the level
            Lc = CUBIC_L.to_numpy() @ np.vstack([M, cubic_levels[lab]])
            t = pd.concat([t, model_wald(Lc @ b, Lc @ V @ Lc.T, list(CUBIC_L.index), conf_level)],
                          ignore_index=True)
        t.insert(0, "level", lab)
        parts.append(t)
    out = pd.concat(parts, ignore_index=True)
    out.insert(0, "model", fit.name)
    return out


def fit_family(z: np.ndarray, X: pd.DataFrame, fitter, models: Sequence[str], *,
               mod_term: str | None = None, levels: dict | None = None, conf_level: float = 0.95,
               source: str = "<DataFrame>") -> dict[str, ModelFit]:
    """Fit every model in ``models`` (names of :data:`~alliance.rsa.models.MODELS`)."""
    return {m: fit_model(m, z, X, fitter, mod_term=mod_term, source=source) for m in models}


def family_tables(fits: dict[str, ModelFit], *, levels: dict, moderated: bool = False,
                  conf_level: float = 0.95, b0_weights: dict | None = None,
                  scaled: tuple | None = None,
                  cubic_levels: dict | None = None) -> dict[str, pd.DataFrame]:
    """The family table (``models``), nested LR tests (``model_tests``), estimates (``model_estimates``).

    ``levels`` maps each level to the matrix M with b1..b5 = M beta; ``b0_weights`` each
    level to the weights of its surface intercept (covariates at their means);
    ``cubic_levels`` (cubic fits) each level to the 4 x p matrix of its b6..b9.
    ``scaled=(z, X)`` (single-level fits with robust standard errors) adds the scaled
    likelihood-ratio tests (:func:`scaled_difference`, lavaan's ``MLR``):
    ``chi2_scaled_vs``, ``scaling_vs``, ``p_scaled_vs`` in ``models`` and
    ``chi2_scaled``, ``scaling``, ``p_scaled`` in ``model_tests``.
    """
    any_fit = next(iter(fits.values()))
    n = any_fit.n
    poly_fits = [f for f in fits.values() if not MODELS[f.name].piecewise]
    names = list(poly_fits[0].beta.index) if poly_fits else []
    bcols = [t for t in POLY_NAMES if t in names]
    rows = []
    for name, f in fits.items():
        spec = MODELS[name]
        aicc = _aicc(f.loglik, f.k, n)
        rows.append({"model": name, "description": spec.description, "order": spec.order,
                     "k": f.k, "loglik": f.loglik, "aic": -2 * f.loglik + 2 * f.k, "aicc": aicc,
                     "converged": f.converged, "rotation": f.rotation,
                     **{f"b{POLY_NAMES.index(t) + 1}": float(f.beta.get(t, np.nan)) for t in bcols}})
    tab = pd.DataFrame(rows)
    # the piecewise models stay out of the Akaike weights, as in RSA's aictab
    piece = np.array([bool(MODELS[m].piecewise) for m in tab["model"]], dtype=bool)
    ok = tab["converged"].to_numpy(dtype=bool) & ~piece
    tab["delta_aicc"] = tab["aicc"] - (tab.loc[ok, "aicc"].min() if ok.any() else np.nan)
    w = np.where(ok, np.exp(-0.5 * tab["delta_aicc"]), 0.0)
    tab["weight"] = w / w.sum() if ok.any() else np.nan
    tab.loc[piece, ["delta_aicc", "weight"]] = np.nan
    ll_null = fits["null"].loglik if "null" in fits else np.nan
    tab["r2"] = [1 - math.exp(-2 * (ll - ll_null) / n) if np.isfinite(ll_null) else np.nan
                 for ll in tab["loglik"]]
    ref_of = {}
    for name in tab["model"]:
        order = MODELS[name].order
        top = "cubic" if (order == 3 or name == "full") else "full"
        if MODELS[name].piecewise:
            top = "absunc"
        ref_of[name] = top if top in fits and top != name else None
    tab["vs"] = [ref_of[m] or "" for m in tab["model"]]
    chi, dfs, ps = [], [], []
    for name in tab["model"]:
        ref = ref_of[name]
        if ref is None:
            chi.append(np.nan), dfs.append(np.nan), ps.append(np.nan)
            continue
        c = max(0.0, 2 * (fits[ref].loglik - fits[name].loglik))
        d = fits[ref].k - fits[name].k
        chi.append(c), dfs.append(d), ps.append(float(stats.chi2.sf(c, d)) if d > 0 else np.nan)
    tab["chi2_vs"], tab["df_vs"], tab["p_vs"] = chi, dfs, ps
    trace = {m: robust_trace(f, *scaled) for m, f in fits.items()} if scaled is not None else {}

    def scaled_test(a, b):
        return scaled_difference(fits[a].loglik, fits[a].k, trace[a], fits[b].loglik, fits[b].k,
                                 trace[b])

    if scaled is not None:
        sc = [scaled_test(m, ref_of[m]) if ref_of[m] else (np.nan,) * 3 for m in tab["model"]]
        tab["chi2_scaled_vs"], tab["scaling_vs"], tab["p_scaled_vs"] = (list(c) for c in zip(*sc))
    tests = []
    for a, b in NESTED_PAIRS:
        if a in fits and b in fits:
            c = max(0.0, 2 * (fits[b].loglik - fits[a].loglik))
            d = fits[b].k - fits[a].k
            row = {"smaller": a, "larger": b, "chi2": c, "df": d, "p": float(stats.chi2.sf(c, d))}
            if scaled is not None:
                row["chi2_scaled"], row["scaling"], row["p_scaled"] = scaled_test(a, b)
            tests.append(row)
    est = pd.concat([_estimates(f, levels, moderated, conf_level, b0_weights or {}, names,
                                cubic_levels or {})
                     for f in fits.values()],
                    ignore_index=True)
    cols = ["smaller", "larger", "chi2", "df", "p"]
    if scaled is not None:
        cols += ["chi2_scaled", "scaling", "p_scaled"]
    return {"models": tab, "model_tests": pd.DataFrame(tests, columns=cols),
            "model_estimates": est.reset_index(drop=True)}

