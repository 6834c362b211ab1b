"""Fitting a linear mixed model: :func:`fit_lmm`, its result :class:`MixedFit`, and :func:`lrt`.

The model, the criterion and the algorithm are described in :mod:`alliance.mixed`.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import linalg as sla
from scipy import stats
from threadpoolctl import threadpool_limits

from alliance.errors import AllianceWarning, DataError, FitError
from alliance.mixed.model import BOUNDARY_TOL, Model, RandomTerm, check_rank, prepare
from alliance.mixed.optimize import OPTIMIZERS, bounds_of, check, restart_off_boundary, run, theta0
from alliance.results import Result, wald_table

__all__ = ["MixedFit", "fit_lmm", "lrt"]


@dataclass
class MixedFit(Result):
    """Result of :func:`fit_lmm` (see its docstring for every attribute).

    ``tables["fixed"]`` (also :attr:`estimates`) is the tidy fixed-effects table
    (``term``, ``estimate``, ``se``, ``statistic``, ``p``, ``ci_low``,
    ``ci_high``); ``tables["variance_components"]`` the variance components.
    """

    cov_fixed: pd.DataFrame = field(default_factory=pd.DataFrame)
    sigma2: float = math.nan
    loglik: float = math.nan
    deviance: float = math.nan
    aic: float = math.nan
    bic: float = math.nan
    n_params: int = 0
    method: str = "REML"
    optimizer: str = ""
    boundary: bool = False
    theta: np.ndarray = field(default_factory=lambda: np.empty(0))
    conf_level: float = 0.95
    source: str = "<DataFrame>"
    n_blocks: int = 0
    _re: dict = field(default_factory=dict, repr=False)
    _fitted: pd.Series | None = field(default=None, repr=False)
    _y: np.ndarray | None = field(default=None, repr=False)
    _X: np.ndarray | None = field(default=None, repr=False)
    _random_spec: tuple = field(default=(), repr=False)

    @property
    def coef(self) -> pd.Series:
        """Fixed-effect estimates :math:`\\hat\\beta` indexed by term."""
        t = self.tables["fixed"]
        return pd.Series(t["estimate"].to_numpy(), index=pd.Index(t["term"], name="term"),
                         name="estimate")

    @property
    def variance_components(self) -> pd.DataFrame:
        """group, term1, term2, variance (covariance if term2), sd, corr; last row Residual."""
        return self.tables["variance_components"]

    # ---- linear combinations of beta
    def _L(self, L) -> pd.DataFrame:
        names = list(self.tables["fixed"]["term"])
        if isinstance(L, pd.DataFrame):
            Ld = L.copy()
        elif isinstance(L, Mapping):
            Ld = pd.DataFrame.from_dict({str(k): dict(v) for k, v in L.items()}, orient="index")
        else:
            raise TypeError("L must be a dict {label: {term: weight}} or a DataFrame")
        unknown = [c for c in Ld.columns if c not in names]
        if unknown:
            raise ValueError(f"unknown fixed-effect term(s) in L: {unknown}; terms are {names}")
        Ld = Ld.reindex(columns=names).fillna(0.0).astype(float)
        return Ld

    def cov_of(self, L) -> pd.DataFrame:
        """Covariance matrix :math:`L V L^\\top` of the linear combinations ``L β``."""
        Ld = self._L(L)
        Lm = Ld.to_numpy()
        cov = Lm @ self.cov_fixed.to_numpy() @ Lm.T
        return pd.DataFrame(cov, index=Ld.index, columns=Ld.index)

    def contrast(self, L) -> pd.DataFrame:
        """Tidy Wald table (like ``tables["fixed"]``) of the linear combinations ``L β``.

        ``L`` is a dict ``{label: {term: weight}}`` (missing terms weigh 0) or a
        DataFrame with one row per label and fixed-effect terms as columns; the
        labels become the ``term`` column.
        """
        Ld = self._L(L)
        est = Ld.to_numpy() @ self.coef.to_numpy()
        return wald_table(est, self.cov_of(Ld).to_numpy(), list(Ld.index), self.conf_level)

    def random_effects(self, name: str) -> pd.DataFrame:
        """Conditional modes (BLUPs) of the random effects of grouping factor ``name``."""
        if name not in self._re:
            raise KeyError(f"no random term named {name!r}; terms are {list(self._re)}")
        return self._re[name].copy()

    def fitted(self) -> pd.Series:
        """Conditional fitted values :math:`X\\hat\\beta + Z\\hat b` (row order of the input)."""
        return self._fitted.copy()

    def residuals(self) -> pd.Series:
        """Conditional residuals :math:`y - X\\hat\\beta - Z\\hat b`."""
        return pd.Series(self._y - self._fitted.to_numpy(), index=self._fitted.index,
                         name="residual")

    def summary(self) -> str:
        """Plain-text report: fixed effects, variance components, fit statistics, flags."""
        lines = [
            f"Linear mixed model fit by {self.method} ({self.optimizer}); data: {self.source}",
            f"  n = {self.n_obs}; groups: "
            + ", ".join(f"{k} {v}" for k, v in self.n_groups.items())
            + f"; independent blocks: {self.n_blocks}",
            (
                f"  logLik = {self.loglik:.4f}  deviance{' (REML crit)' if self.method == 'REML' else ''}"
                f" = {self.deviance:.4f}  AIC = {self.aic:.2f}  BIC = {self.bic:.2f}"
                f"  (parameters: {self.n_params})"
            ),
            "",
            f"Fixed effects (Wald z, {100 * self.conf_level:g}% CI):",
            self.tables["fixed"].to_string(index=False, float_format=lambda v: f"{v:.6g}"),
            "",
            "Variance components:",
            self.variance_components.to_string(
                index=False, na_rep="", float_format=lambda v: f"{v:.6g}"
            ),
            "",
            f"converged: {self.converged}   boundary (singular) fit: {self.boundary}",
        ]
        if self.warnings:
            lines.append("Warnings:")
            lines.extend(f"  - {w}" for w in self.warnings)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready dict (the CLI convention) plus the fit statistics; NaN becomes ``None``."""
        out = super().to_dict()
        out.update(
            boundary=bool(self.boundary), loglik=self.loglik, deviance=self.deviance,
            aic=self.aic, bic=self.bic, sigma2=self.sigma2, n_params=int(self.n_params),
            method=self.method, optimizer=self.optimizer,
        )
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in out.items()}


# --------------------------------------------------------------------------- fitting


def _single_threaded_blas(func):
    """Run ``func`` with one BLAS thread.

    Every evaluation of the criterion works on many small matrices; a threaded
    BLAS spends more time starting threads than computing (measured: a fit of the
    study-sized model took about 8 times longer with OpenBLAS threads on two
    cores, see benchmarks/bench_mixed.py).
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper


@_single_threaded_blas
def fit_lmm(
    y,
    X,
    random: Sequence[RandomTerm] | RandomTerm,
    method: str = "REML",
    source: str = "<DataFrame>",
    conf_level: float = 0.95,
    *,
    optimizers: Sequence[str] = OPTIMIZERS,
) -> MixedFit:
    r"""Fit a linear mixed model by REML or ML, the way lme4's ``lmer`` does.

    Model: :math:`y = X\beta + Zb + \varepsilon`, :math:`b \sim N(0, G)`,
    :math:`\varepsilon \sim N(0, \sigma^2 I)`. Each :class:`RandomTerm` contributes,
    for every level of its grouping factor, :math:`q_k` coefficients (columns of its
    ``Z``) with covariance :math:`G_k`; levels and terms are independent.

    Parameters
    ----------
    y : array-like, shape (n,)
        Outcome.
    X : pandas.DataFrame, shape (n, p)
        Fixed-effect design; column names are the term names. Include the
        intercept yourself (a column ``"Intercept"`` of ones).
    random : list of RandomTerm
        Random-effect terms (e.g. a therapist intercept and a patient intercept
        and slope). Nested and crossed factors are both allowed.
    method : {"REML", "ML"}
        Criterion. Use ML to compare fixed effects with :func:`lrt`.
    source : str
        Name of the data set, used in error messages.
    conf_level : float
        Level of the Wald confidence intervals.
    optimizers : sequence of str, keyword-only
        Optimizers to try in order (default ``("L-BFGS-B", "Nelder-Mead", "Powell")``).

    Returns
    -------
    MixedFit
        ``fixed`` (estimate, se, statistic = Wald z, p, ci_low, ci_high),
        ``cov_fixed`` (:math:`\hat\sigma^2(X^\top\hat V_0^{-1}X)^{-1}`, lme4's ``vcov``),
        ``variance_components`` (group, term1, term2, variance, sd, corr; last row
        ``Residual``), ``sigma2``, ``loglik``, ``deviance`` (-2 logLik for ML, the
        REML criterion for REML), ``aic``, ``bic`` (with ``n_params`` = p + len(theta)
        + 1 and ``n_obs``, as lme4), ``n_groups``, ``method``, ``converged``,
        ``optimizer``, ``boundary`` (lme4's ``isSingular``: a bounded element of
        ``theta`` below 1e-4), ``warnings`` and ``theta``; methods ``contrast``,
        ``cov_of``, ``random_effects``, ``fitted``, ``residuals``, ``summary``,
        ``to_dict``.

    Raises
    ------
    DataError
        Missing or infinite values in ``y``, ``X``, ``Z`` or the groups (the message
        names ``source`` and the rows).
    FitError
        A degenerate model or fit: a constant outcome, ``y`` an exact linear function
        of ``X`` (zero residual variance), a rank-deficient ``X`` (names the aliased
        columns), no more rows than fixed effects, more random effects in a term
        than observations, or a non-finite criterion with every optimizer.
    ValueError
        Mismatched shapes or unknown options.

    Warns
    -----
    AllianceWarning
        Boundary (singular) fit, or a fit that needed a fallback optimizer; also
        recorded in ``fit.warnings``.

    Notes
    -----
    :math:`\theta` holds the column-wise lower triangle of each relative
    covariance factor :math:`\Lambda_k` (:math:`G_k = \sigma^2\Lambda_k\Lambda_k^\top`),
    started at the identity. The profiled criterion (module docstring) is
    minimised by L-BFGS-B with its exact analytic gradient and bounds
    :math:`\Lambda_{k,jj} \ge 0`; the result is checked (finite criterion, finite
    positive :math:`\sigma^2`, optimizer success) and, if it fails, bounded
    Nelder-Mead and then Powell are tried and the best valid fit is kept.
    Independent blocks of rows (connected components of the grouping factors) are
    processed with batched small Cholesky factorisations, so the cost grows
    linearly with the number of clusters; fully crossed designs form one large
    block and are correspondingly slower.

    Validated (``tests/test_mixed.py``) against published values for
    ``sleepstudy`` (Bates et al. 2015), ``Orthodont`` (Pinheiro & Bates 2000) and
    ``dietox``, and against lme4 1.1 run by ``tests/r/mixed_reference.R`` (REML and
    ML, and a three-level nested model): fixed effects, the full ``vcov``, variance
    components and the log-likelihood.

    References
    ----------
    Bates, D., Mächler, M., Bolker, B. & Walker, S. (2015). Fitting linear
    mixed-effects models using lme4. *Journal of Statistical Software*, 67(1).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from alliance.mixed import fit_lmm, RandomTerm
    >>> rng = np.random.default_rng(1)
    >>> patient = np.repeat(np.arange(30), 6)
    >>> session = np.tile(np.arange(6.0), 30)
    >>> b0 = rng.normal(0, 1.0, 30)[patient]
    >>> b1 = rng.normal(0, 0.3, 30)[patient]
    >>> y = 5 + 0.5 * session + b0 + b1 * session + rng.normal(0, 0.5, 180)
    >>> X = pd.DataFrame({"Intercept": 1.0, "session": session})
    >>> fit = fit_lmm(y, X, [RandomTerm("patient", patient, X)], method="REML")
    >>> fit.coef["session"].round(1)
    np.float64(0.5)
    >>> fit.converged, fit.boundary
    (True, False)
    """
    method = str(method).upper()
    if method not in ("REML", "ML"):
        raise ValueError(f"method must be 'REML' or 'ML'; got {method!r}")
    if not (0 < conf_level < 1):
        raise ValueError("conf_level must be between 0 and 1")
    y_num, Xa, xnames, terms, index = prepare(y, X, random, source)
    n, p = Xa.shape
    check_rank(Xa, xnames, source)
    for t in terms:
        nre = len(t.levels) * t.q
        if nre >= n:
            raise FitError(
                f"{source}: random term '{t.name}' has {nre} random effects "
                f"({len(t.levels)} levels x {t.q}) for {n} observations; the variance "
                "components and the residual variance are not identifiable [rule: n > random effects]"
            )
    # The criterion is evaluated on the orthonormal Q of X = QR: the fixed-effect
    # algebra (X'V^-1 X by Woodbury subtractions) then loses no precision to badly scaled
    # or nearly collinear columns (covariates near 100 next to centred ones made the
    # optimizer stop at a false optimum). ML is invariant to X -> Q; REML changes by the
    # constant 2 log|det R|, added back; beta and its covariance are mapped back below.
    Qx, Rx = np.linalg.qr(Xa)
    model = Model(y_num, Qx, terms, reml=(method == "REML"), x_R=Rx)
    # The residual of y after projecting on X, relative to y itself (not to its spread,
    # which is 0 for a constant outcome: then only rounding noise is left, and a
    # "fit" to it reports z of 1e17 and p values from numerical noise).
    yy = float(y_num @ y_num)
    if model.yty <= 1e-20 * max(model.tss, yy, 1e-300) or model.yty == 0.0:
        what = ("the outcome is constant" if model.tss <= 1e-20 * max(yy, 1e-300) else
                f"the outcome is an exact linear function of the fixed effects {xnames}")
        raise FitError(
            f"{source}: {what} (residual sum of squares {model.yty:.3g}); the residual "
            "variance is zero and no mixed model can be fitted [rule: outcome varies]"
        )
    bounds = bounds_of(terms)
    th0 = theta0(terms)
    results = []
    failures = []
    for name in optimizers:
        try:
            res = run(model, name, th0, bounds)
        except (FloatingPointError, np.linalg.LinAlgError, ValueError) as exc:
            if isinstance(exc, ValueError) and "unknown optimizer" in str(exc):
                raise
            failures.append(f"{name}: {exc}")
            continue
        ok, why = check(model, res)
        if ok:
            results.append((float(res.fun), name, res))
            break  # primary (or first working fallback) is valid
        failures.append(f"{name}: {why}")
        if np.all(np.isfinite(res.x)) and np.isfinite(model.evaluate(res.x)):
            results.append((float(model.evaluate(res.x)), name, None))  # invalid, kept for info
    valid = [r for r in results if r[2] is not None]
    fit_warnings: list[str] = []
    if not valid:
        raise FitError(
            f"{source}: the mixed model could not be fitted: every optimizer failed the "
            f"sanity checks ({'; '.join(failures)}). This usually means a degenerate model "
            "(zero residual variance, or an outcome fully explained by the grouping)"
        )
    _best_dev, opt_name, res = min(valid, key=lambda r: r[0])
    res, opt_name = restart_off_boundary(model, res, opt_name, bounds)
    if failures:
        fit_warnings.append(
            f"fit needed a fallback optimizer: {'; '.join(failures)}; reported fit from {opt_name}"
        )
    theta = np.asarray(res.x, dtype=float).copy()
    f = model.evaluate(theta, full=True)
    dfr = n - p if model.reml else n
    sigma2 = f["r2"] / dfr
    ysd2 = max(model.tss, 1e-20 * yy) / max(n - 1, 1)
    if not np.isfinite(sigma2) or sigma2 <= 1e-10 * max(ysd2, 1e-300):
        raise FitError(
            f"{source}: degenerate fit: the residual variance is estimated as {sigma2:.3g}, "
            "i.e. the random effects reproduce the outcome exactly; the model is not identifiable"
        )
    return _assemble(
        model,
        theta,
        f,
        sigma2,
        opt_name,
        fit_warnings,
        xnames,
        n,
        p,
        method,
        source,
        conf_level,
        y_num,
        Xa,
        index,
        terms,
    )


def _assemble(
    model,
    theta,
    f,
    sigma2,
    opt_name,
    fit_warnings,
    xnames,
    n,
    p,
    method,
    source,
    conf_level,
    y_num,
    Xa,
    index,
    terms,
) -> MixedFit:
    Rinv = sla.solve_triangular(model.x_R, np.eye(p))
    beta = Rinv @ (model.beta_ols + f["delta"])
    XVXinv = Rinv @ sla.cho_solve((f["RX"], True), np.eye(p)) @ Rinv.T
    cov = sigma2 * XVXinv
    cov = (cov + cov.T) / 2
    fixed = wald_table(beta, cov, xnames, conf_level)
    cov_df = pd.DataFrame(cov, index=xnames, columns=xnames)

    # variance components
    rows = []
    boundary_terms = []
    for t in terms:
        th = theta[t.theta_slice]
        lam = np.zeros((t.q, t.q))
        for (r, c), v in zip(t.template, th):
            lam[r, c] = v
        G = sigma2 * lam @ lam.T
        sd = np.sqrt(np.clip(np.diag(G), 0, None))
        for j in range(t.q):
            rows.append(
                {
                    "group": t.name,
                    "term1": t.zcols[j],
                    "term2": None,
                    "variance": G[j, j],
                    "sd": sd[j],
                    "corr": np.nan,
                }
            )
        if t.structure == "unstructured":
            for j in range(t.q):
                for k in range(j + 1, t.q):
                    corr = G[j, k] / (sd[j] * sd[k]) if sd[j] > 0 and sd[k] > 0 else np.nan
                    rows.append(
                        {
                            "group": t.name,
                            "term1": t.zcols[j],
                            "term2": t.zcols[k],
                            "variance": G[j, k],
                            "sd": np.nan,
                            "corr": corr,
                        }
                    )
        at_bound = [t.zcols[r] for (r, c), v in zip(t.template, th) if r == c and v < BOUNDARY_TOL]
        if at_bound:
            boundary_terms.append((t.name, at_bound))
    rows.append(
        {
            "group": "Residual",
            "term1": None,
            "term2": None,
            "variance": sigma2,
            "sd": math.sqrt(sigma2),
            "corr": np.nan,
        }
    )
    vc = pd.DataFrame(rows, columns=["group", "term1", "term2", "variance", "sd", "corr"])
    vc["variance"] = vc["variance"].astype(float)

    boundary = bool(boundary_terms)
    if boundary:
        desc = "; ".join(f"'{g}': {', '.join(cols)}" for g, cols in boundary_terms)
        fit_warnings.append(
            "boundary (singular) fit: a random-effect variance is estimated as zero or a "
            f"correlation as +/-1 (relative Cholesky factor diagonal < {BOUNDARY_TOL:g} for {desc}); "
            "consider simplifying the random-effect structure"
        )

    # conditional modes b = Lambda M^-1 Lambda' Z' (y - X beta)
    offs, comp, node_start, bucket_of_block, pos_in_bucket = model.node_info
    delta = f["delta"]
    bvecs = []
    for bk, (lam, L, K, LtS) in zip(model.buckets, f["store"]):
        Q = bk.Q
        rhs = LtS[:, :, Q + p] - LtS[:, :, Q : Q + p] @ delta
        w = np.linalg.solve(L, rhs[:, :, None])
        u = np.linalg.solve(np.swapaxes(L, 1, 2), w)[:, :, 0]
        bvecs.append(np.einsum("bij,bj->bi", lam, u))
    re = {}
    fitted = Xa @ beta
    for kt, t in enumerate(terms):
        nodes = offs[kt] + np.arange(len(t.levels))
        blk = comp[nodes]
        vals = np.zeros((len(t.levels), t.q))
        for kb, bv in enumerate(bvecs):
            sel = bucket_of_block[blk] == kb
            if sel.any():
                st = node_start[nodes[sel]]
                pb = pos_in_bucket[blk[sel]]
                for j in range(t.q):
                    vals[sel, j] = bv[pb, st + j]
        re[t.name] = pd.DataFrame(vals, index=pd.Index(t.levels, name=t.name), columns=t.zcols)
        fitted = fitted + np.sum(t.Z * vals[t.codes], axis=1)

    dev = float(f["dev"])
    loglik = -dev / 2.0
    n_params = p + theta.size + 1
    aic = dev + 2 * n_params
    bic = dev + n_params * math.log(n)
    for w in fit_warnings:
        warnings.warn(f"{source}: {w}", AllianceWarning, stacklevel=4)
    fit_index = index if index is not None else pd.RangeIndex(n)
    return MixedFit(
        title=f"Linear mixed model fit by {method}",
        tables={"fixed": fixed, "variance_components": vc},
        cov_fixed=cov_df,
        sigma2=float(sigma2),
        loglik=float(loglik),
        deviance=dev,
        aic=float(aic),
        bic=float(bic),
        n_obs=int(n),
        n_groups={t.name: len(t.levels) for t in terms},
        n_params=int(n_params),
        method=method,
        converged=True,
        optimizer=opt_name,
        boundary=boundary,
        warnings=list(fit_warnings),
        theta=theta,
        conf_level=conf_level,
        source=source,
        n_blocks=model.n_blocks,
        _re=re,
        _fitted=pd.Series(fitted, index=fit_index, name="fitted"),
        _y=y_num,
        _X=Xa,
        _random_spec=tuple((t.name, tuple(t.zcols), t.structure) for t in terms),
    )


def lrt(fit0: MixedFit, fit1: MixedFit) -> dict:
    r"""Likelihood-ratio test of a smaller model ``fit0`` nested in ``fit1``.

    :math:`\chi^2 = 2(\ell_1 - \ell_0)` on ``n_params1 - n_params0`` degrees of
    freedom. Fixed effects may differ only between ML fits (REML likelihoods of
    different fixed-effect designs are not comparable); REML fits with the same
    fixed effects may be compared to test random effects. A variance tested at
    its boundary (zero) makes the chi-square p value conservative (roughly twice
    the mixture-based one).

    Returns
    -------
    dict
        ``statistic``, ``df``, ``p``, ``loglik0``, ``loglik1``, ``method``.
    """
    for f in (fit0, fit1):
        if not isinstance(f, MixedFit):
            raise TypeError("lrt needs two MixedFit results")
    if fit0.method != fit1.method:
        raise ValueError(f"cannot compare a {fit0.method} fit with a {fit1.method} fit")
    if fit0.n_obs != fit1.n_obs or not np.array_equal(fit0._y, fit1._y):
        raise DataError("the two fits were not made on the same outcome data (same rows, same y)")
    same_fixed = fit0._X.shape == fit1._X.shape and np.allclose(fit0._X, fit1._X)
    if fit0.method == "REML" and not same_fixed:
        raise ValueError(
            "REML fits with different fixed effects cannot be compared by a likelihood-ratio "
            "test; refit both with method='ML'"
        )
    if not same_fixed:
        X1 = fit1._X
        coef, *_ = np.linalg.lstsq(X1, fit0._X, rcond=None)
        resid = fit0._X - X1 @ coef
        if np.max(np.abs(resid)) > 1e-8 * max(1.0, np.max(np.abs(fit0._X))):
            raise ValueError("the fixed effects of fit0 are not nested in those of fit1")
    df = fit1.n_params - fit0.n_params
    if df <= 0:
        raise ValueError(
            f"fit1 must have more parameters than fit0 (got {fit1.n_params} vs {fit0.n_params})"
        )
    stat = max(0.0, 2.0 * (fit1.loglik - fit0.loglik))
    return {
        "statistic": stat,
        "df": int(df),
        "p": float(stats.chi2.sf(stat, df)),
        "loglik0": fit0.loglik,
        "loglik1": fit1.loglik,
        "method": fit0.method,
    }
