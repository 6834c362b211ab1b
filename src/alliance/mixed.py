r"""Linear mixed models: the one fitting path every model in :mod:`alliance` uses.

The model is

.. math::

    y = X\beta + Zb + \varepsilon,\qquad b \sim N(0, G),\qquad
    \varepsilon \sim N(0, \sigma^2 I_n),

with ``y`` the outcome (length :math:`n`), ``X`` the fixed-effect design
(columns = fixed-effect terms, :math:`\beta` their coefficients), and ``Z`` the
random-effect design built from one or more :class:`RandomTerm`\ s. A term with
grouping factor ``g`` (e.g. ``patient``) and columns ``Z_k`` (e.g.
``Intercept``, ``session``) gives every level of ``g`` its own vector of
:math:`q_k` random coefficients with covariance :math:`G_k` (``"unstructured"``
or ``"diagonal"``); :math:`G` is block diagonal in the :math:`G_k`.

Estimation follows lme4 (Bates, Mächler, Bolker & Walker 2015). Write
:math:`G_k = \sigma^2\Lambda_k\Lambda_k^\top` with :math:`\Lambda_k` lower
triangular (the *relative covariance factor*; its free elements, column by
column, form :math:`\theta`, diagonal elements bounded below by 0). For fixed
:math:`\theta`, :math:`\beta` and :math:`\sigma^2` have closed forms (GLS), so
only :math:`\theta` is optimised, on the *profiled* criterion

.. math::

    d_{ML}(\theta) = \log|M| + n\,[1 + \log(2\pi r^2/n)],\qquad
    d_{REML}(\theta) = \log|M| + \log|X^\top V_0^{-1}X|
        + (n-p)\,[1 + \log(2\pi r^2/(n-p))],

where :math:`V_0 = V/\sigma^2 = I + Z\Lambda\Lambda^\top Z^\top`,
:math:`M = I + \Lambda^\top Z^\top Z\Lambda` (so :math:`|M| = |V_0|`) and
:math:`r^2 = (y - X\hat\beta)^\top V_0^{-1}(y - X\hat\beta)` is the penalised
residual sum of squares. These are exactly lme4's ``deviance`` (ML) and
``REMLcrit`` (REML); ``loglik = -d/2``.

Speed comes from independence: rows linked (directly or through a chain) by any
grouping factor form one *block* (connected components; for sessions in
patients in therapists, a block is a therapist), :math:`V_0` is block diagonal,
and by Woodbury every criterion evaluation needs only the per-block sufficient
statistics :math:`Z_b^\top Z_b`, :math:`Z_b^\top X_b`, :math:`Z_b^\top y_b`
(computed once) and one small Cholesky factorisation per block. Blocks of
similar size are padded to a common size and factorised together with batched
NumPy linear algebra; the exact gradient of the criterion is used by the primary
optimizer (L-BFGS-B with bounds), with bounded Nelder-Mead and Powell as
fallbacks.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg as sla
from scipy import optimize, stats
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from threadpoolctl import threadpool_limits

from alliance._errors import AllianceWarning, DataError, FitError
from alliance._results import wald_table

__all__ = ["MixedFit", "RandomTerm", "fit_lmm", "lrt"]

#: lme4's ``isSingular`` tolerance: a bounded element of theta below this is a boundary fit.
BOUNDARY_TOL = 1e-4
#: Optimizers tried in order; the first valid fit is kept unless a later one is better.
OPTIMIZERS = ("L-BFGS-B", "Nelder-Mead", "Powell")
_MAX_LISTED = 8
_MAX_BUCKETS = 12


# --------------------------------------------------------------------------- inputs


@dataclass
class RandomTerm:
    """One random-effect term: coefficients ``Z`` varying over the levels of ``groups``.

    Parameters
    ----------
    name : str
        Name of the grouping factor (e.g. ``"patient"``), used in output tables.
    groups : array-like, shape (n,)
        Group label of every row (any hashable labels; NaN/None not allowed).
    Z : pandas.DataFrame or array-like, shape (n, q), optional
        Random-effect covariates; column names label the coefficients. ``None``
        means a random intercept only (one column ``"Intercept"`` of ones).
    structure : {"unstructured", "diagonal"}
        Covariance of the :math:`q` coefficients within a level: a free
        positive semi-definite matrix, or independent coefficients.
    """

    name: str
    groups: Any
    Z: Any = None
    structure: str = "unstructured"


def _rows(idx: Iterable[int], index: pd.Index | None = None) -> str:
    idx = sorted(int(i) for i in idx)
    shown = idx[:_MAX_LISTED]
    more = f" and {len(idx) - len(shown)} more" if len(idx) > len(shown) else ""
    noun = "row" if len(idx) == 1 else "rows"
    text = f"data {noun} {', '.join(str(i + 1) for i in shown)}{more}"
    if index is not None and not isinstance(index, pd.RangeIndex):
        text += f" (index {', '.join(str(index[i]) for i in shown)})"
    return text


def _as_frame(obj: Any, n: int, what: str, default_prefix: str) -> pd.DataFrame:
    if isinstance(obj, pd.Series):
        obj = obj.to_frame()
    if isinstance(obj, pd.DataFrame):
        df = obj
    else:
        arr = np.asarray(obj)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise ValueError(f"{what} must be 2-D (n rows x columns); got shape {arr.shape}")
        df = pd.DataFrame(arr, columns=[f"{default_prefix}{j}" for j in range(arr.shape[1])])
    if df.shape[0] != n:
        raise ValueError(f"{what} has {df.shape[0]} rows but y has {n}")
    if df.shape[1] == 0:
        raise ValueError(f"{what} has no columns")
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"{what} has duplicated column names: {names}")
    return df


def _numeric(df: pd.DataFrame, what: str, source: str, index: pd.Index | None) -> np.ndarray:
    out = np.empty(df.shape, dtype=float)
    for j, col in enumerate(df.columns):
        try:
            out[:, j] = pd.to_numeric(df.iloc[:, j], errors="raise").to_numpy(dtype=float)
        except (TypeError, ValueError) as exc:
            raise DataError(f"{source}: {what} column '{col}' must be numeric ({exc})") from None
        bad = ~np.isfinite(out[:, j])
        if bad.any():
            raise DataError(
                f"{source}: {what} column '{col}' is missing or infinite in "
                f"{_rows(np.flatnonzero(bad), index)} [rule: finite values]"
            )
    return out


def _theta_template(q: int, structure: str) -> list[tuple[int, int]]:
    """(row, col) of the free elements of Lambda_k, column-major lower triangle (lme4 order)."""
    if structure == "unstructured":
        return [(r, c) for c in range(q) for r in range(c, q)]
    if structure == "diagonal":
        return [(r, r) for r in range(q)]
    raise ValueError(f"structure must be 'unstructured' or 'diagonal'; got {structure!r}")


# --------------------------------------------------------------------------- the model


@dataclass
class _Term:
    name: str
    zcols: list[str]
    structure: str
    Z: np.ndarray  # (n, q)
    codes: np.ndarray  # (n,) int
    levels: pd.Index
    template: list[tuple[int, int]]
    theta_slice: slice

    @property
    def q(self) -> int:
        return self.Z.shape[1]


class _Bucket:
    """Blocks padded to a common size Q, processed together."""

    def __init__(self, nb: int, Q: int, k: int):
        self.nb, self.Q = nb, Q
        self.S = np.zeros((nb, Q, k))  # [ZtZ | ZtX | Zty]
        self.lam_flat: np.ndarray = np.empty(0, dtype=np.intp)
        self.lam_theta: np.ndarray = np.empty(0, dtype=np.intp)


class _Model:
    """Sufficient statistics and the profiled criterion (with exact gradient)."""

    def __init__(self, y: np.ndarray, X: np.ndarray, terms: list[_Term], reml: bool):
        n, p = X.shape
        self.n, self.p, self.reml = n, p, reml
        self.terms = terms
        self.ntheta = terms[-1].theta_slice.stop
        # OLS shift: the criterion is invariant to y -> y - X g, and the shifted y is
        # far better conditioned for the Woodbury subtractions below.
        self.beta_ols, *_ = np.linalg.lstsq(X, y, rcond=None)
        yt = y - X @ self.beta_ols
        self.yt = yt
        self.XtX = X.T @ X
        self.Xty = X.T @ yt
        self.yty = float(yt @ yt)
        self.tss = float(np.sum((y - y.mean()) ** 2))

        # ---- graph of levels -> blocks
        offs = np.cumsum([0] + [len(t.levels) for t in terms])
        nnodes = int(offs[-1])
        node_q = np.concatenate([np.full(len(t.levels), t.q) for t in terms])
        row_nodes = np.column_stack([offs[k] + t.codes for k, t in enumerate(terms)])
        if len(terms) > 1:
            a = np.repeat(row_nodes[:, 0], len(terms) - 1)
            b = row_nodes[:, 1:].ravel()
            g = coo_matrix((np.ones(a.size), (a, b)), shape=(nnodes, nnodes)).tocsr()
            _, comp = connected_components(g, directed=False)
        else:
            comp = np.arange(nnodes)
        # relabel components 0..B-1 and size them
        _, comp = np.unique(comp, return_inverse=True)
        B = int(comp.max()) + 1
        Qb = np.bincount(comp, weights=node_q, minlength=B).astype(int)
        self.n_blocks = B
        self.block_sizes = Qb

        # ---- buckets of similar size (padding), blocks reordered by bucket
        sizes, counts = np.unique(Qb, return_counts=True)
        groups = [[int(s)] for s in sizes]
        cnts = [int(c) for c in counts]
        while len(groups) > _MAX_BUCKETS:  # merge the adjacent pair that adds least work
            costs = [
                cnts[i] * (groups[i + 1][-1] ** 3 - groups[i][-1] ** 3)
                for i in range(len(groups) - 1)
            ]
            i = int(np.argmin(costs))
            groups[i : i + 2] = [groups[i] + groups[i + 1]]
            cnts[i : i + 2] = [cnts[i] + cnts[i + 1]]
        pad_of_size = {s: g[-1] for g in groups for s in g}
        Qpad = np.array([pad_of_size[int(s)] for s in Qb])
        bucket_sizes = sorted({g[-1] for g in groups})
        bucket_of_block = np.searchsorted(bucket_sizes, Qpad)
        order = np.lexsort((np.arange(B), bucket_of_block))
        pos_in_bucket = np.empty(B, dtype=int)
        for kb in range(len(bucket_sizes)):
            members = order[bucket_of_block[order] == kb]
            pos_in_bucket[members] = np.arange(members.size)

        # ---- local position of each node inside its block
        node_order = np.lexsort((np.arange(nnodes), comp))
        qs = node_q[node_order]
        csum = np.cumsum(qs) - qs
        first = np.searchsorted(comp[node_order], comp[node_order])  # start index of its block
        start_sorted = csum - csum[first]
        node_start = np.empty(nnodes, dtype=int)
        node_start[node_order] = start_sorted
        self.node_info = (offs, comp, node_start, bucket_of_block, pos_in_bucket)

        # ---- per-bucket sufficient statistics
        self.buckets: list[_Bucket] = []
        row_block = comp[row_nodes[:, 0]]
        row_bucket = bucket_of_block[row_block]
        row_pos = pos_in_bucket[row_block]
        # random-effect columns of every row: (block-local position, value)
        re_pos = []
        re_val = []
        for kt, t in enumerate(terms):
            st = node_start[row_nodes[:, kt]]
            for j in range(t.q):
                re_pos.append(st + j)
                re_val.append(t.Z[:, j])
        re_pos = np.column_stack(re_pos)
        re_val = np.column_stack(re_val)
        m = re_pos.shape[1]
        for kb, Q in enumerate(bucket_sizes):
            rows = np.flatnonzero(row_bucket == kb)
            nb = int(np.sum(bucket_of_block == kb))
            bk = _Bucket(nb, Q, Q + p + 1)
            rb = row_pos[rows]
            P = re_pos[rows]
            Vv = re_val[rows]
            size = nb * Q
            # ZtZ
            ZtZ = np.zeros(nb * Q * Q)
            for a_ in range(m):
                for b_ in range(m):
                    idx = (rb * Q + P[:, a_]) * Q + P[:, b_]
                    ZtZ += np.bincount(idx, weights=Vv[:, a_] * Vv[:, b_], minlength=nb * Q * Q)
            bk.S[:, :, :Q] = ZtZ.reshape(nb, Q, Q)
            Xr = X[rows]
            for a_ in range(m):
                idx = rb * Q + P[:, a_]
                for c in range(p):
                    bk.S[:, :, Q + c] += np.bincount(
                        idx, weights=Vv[:, a_] * Xr[:, c], minlength=size
                    ).reshape(nb, Q)
                bk.S[:, :, Q + p] += np.bincount(
                    idx, weights=Vv[:, a_] * yt[rows], minlength=size
                ).reshape(nb, Q)
            self.buckets.append(bk)
        # ---- Lambda scatter indices per bucket
        for kt, t in enumerate(terms):
            nodes = offs[kt] + np.arange(len(t.levels))
            for e, (r, c) in enumerate(t.template):
                blk = comp[nodes]
                for kb, bk in enumerate(self.buckets):
                    sel = bucket_of_block[blk] == kb
                    if not sel.any():
                        continue
                    Q = bk.Q
                    st = node_start[nodes[sel]]
                    flat = (pos_in_bucket[blk[sel]] * Q + st + r) * Q + st + c
                    bk.lam_flat = np.concatenate([bk.lam_flat, flat])
                    bk.lam_theta = np.concatenate(
                        [bk.lam_theta, np.full(flat.size, t.theta_slice.start + e)]
                    )
        self.row_nodes = row_nodes
        self.nevals = 0

    # ------------------------------------------------------------------ criterion
    def _lambda(self, bk: _Bucket, theta: np.ndarray) -> np.ndarray:
        lam = np.zeros(bk.nb * bk.Q * bk.Q)
        lam[bk.lam_flat] = theta[bk.lam_theta]
        return lam.reshape(bk.nb, bk.Q, bk.Q)

    def evaluate(self, theta: np.ndarray, grad: bool = False, full: bool = False):
        """Profiled deviance (ML) or REML criterion at theta; optionally its gradient."""
        self.nevals += 1
        theta = np.asarray(theta, dtype=float)
        p, n = self.p, self.n
        logdet = 0.0
        XVX = self.XtX.copy()
        XVy = self.Xty.copy()
        yVy = self.yty
        store = []
        for bk in self.buckets:
            Q = bk.Q
            lam = self._lambda(bk, theta)
            LtS = np.swapaxes(lam, 1, 2) @ bk.S
            Mm = LtS[:, :, :Q] @ lam
            Mm[:, np.arange(Q), np.arange(Q)] += 1.0
            try:
                L = np.linalg.cholesky(Mm)
            except np.linalg.LinAlgError:
                return (np.inf, np.full(theta.size, np.nan)) if grad else np.inf
            K = np.linalg.solve(L, LtS)
            logdet += 2.0 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)))
            KX = K[:, :, Q : Q + p]
            Ky = K[:, :, Q + p]
            XVX -= np.einsum("bqi,bqj->ij", KX, KX)
            XVy -= np.einsum("bqi,bq->i", KX, Ky)
            yVy -= float(np.sum(Ky * Ky))
            store.append((lam, L, K, LtS))
        try:
            RX = np.linalg.cholesky(XVX)
        except np.linalg.LinAlgError:
            return (np.inf, np.full(theta.size, np.nan)) if grad else np.inf
        delta = sla.cho_solve((RX, True), XVy)
        r2 = yVy - float(delta @ XVy)
        if not np.isfinite(r2) or r2 <= 1e-13 * max(self.yty, 1e-300) or r2 <= 0:
            return (np.inf, np.full(theta.size, np.nan)) if grad else np.inf
        dfr = n - p if self.reml else n
        dev = logdet + dfr * (1.0 + math.log(2.0 * math.pi * r2 / dfr))
        logdetX = 2.0 * float(np.sum(np.log(np.diag(RX))))
        if self.reml:
            dev += logdetX
        if full:
            return {
                "dev": dev,
                "r2": r2,
                "delta": delta,
                "XVX": XVX,
                "RX": RX,
                "logdet": logdet,
                "store": store,
            }
        if not grad:
            return dev
        # ---- exact gradient (see module docstring; envelope theorem for beta)
        g = np.zeros(theta.size)
        Sinv = sla.cho_solve((RX, True), np.eye(p)) if self.reml else None
        for bk, (lam, L, K, LtS) in zip(self.buckets, store):
            Q = bk.Q
            KZ = K[:, :, :Q]
            Gm = bk.S - np.swapaxes(KZ, 1, 2) @ K  # [Zt V0^-1 Z | Zt V0^-1 X | Zt V0^-1 y]
            W = Gm[:, :, :Q]
            C = Gm[:, :, Q : Q + p]
            a = Gm[:, :, Q + p] - C @ delta
            T = W @ lam  # d log|V0|
            Lta = np.einsum("bqr,bq->br", lam, a)
            R = a[:, :, None] * Lta[:, None, :]  # d r^2 (times -2)
            vals = 2.0 * T.reshape(-1)[bk.lam_flat] - 2.0 * dfr / r2 * R.reshape(-1)[bk.lam_flat]
            if self.reml:
                CS = C @ Sinv
                CtL = np.swapaxes(C, 1, 2) @ lam
                U = CS @ CtL
                vals = vals - 2.0 * U.reshape(-1)[bk.lam_flat]
            g += np.bincount(bk.lam_theta, weights=vals, minlength=theta.size)
        return dev, g


# --------------------------------------------------------------------------- results


def _wald_table(est, cov, names, conf_level) -> pd.DataFrame:
    return wald_table(est, cov, names, conf_level).set_index("term")


def _jsonable(v):
    if isinstance(v, (np.floating, float)):
        return None if not np.isfinite(v) else float(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


@dataclass
class MixedFit:
    """Result of :func:`fit_lmm` (see its docstring for every attribute)."""

    fixed: pd.DataFrame
    cov_fixed: pd.DataFrame
    variance_components: pd.DataFrame
    sigma2: float
    loglik: float
    deviance: float
    aic: float
    bic: float
    n_obs: int
    n_groups: dict
    n_params: int
    method: str
    converged: bool
    optimizer: str
    boundary: bool
    warnings: list
    theta: np.ndarray
    conf_level: float = 0.95
    source: str = "<DataFrame>"
    n_blocks: int = 0
    _re: dict = field(default_factory=dict, repr=False)
    _fitted: pd.Series | None = field(default=None, repr=False)
    _y: np.ndarray | None = field(default=None, repr=False)
    _X: np.ndarray | None = field(default=None, repr=False)
    _random_spec: tuple = field(default=(), repr=False)

    # ---- linear combinations of beta
    def _L(self, L) -> pd.DataFrame:
        names = list(self.fixed.index)
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
        """Wald z table (like :attr:`fixed`) for the linear combinations ``L β``.

        ``L`` is a dict ``{label: {term: weight}}`` (missing terms weigh 0) or a
        DataFrame with one row per label and fixed-effect terms as columns.
        """
        Ld = self._L(L)
        est = Ld.to_numpy() @ self.fixed["estimate"].to_numpy()
        tab = _wald_table(est, self.cov_of(Ld).to_numpy(), Ld.index, self.conf_level)
        tab.index.name = "contrast"
        return tab

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
        r = pd.Series(self._y - self._fitted.to_numpy(), index=self._fitted.index, name="residual")
        return r

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
            self.fixed.to_string(float_format=lambda v: f"{v:.6g}"),
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

    def __str__(self) -> str:  # pragma: no cover - convenience
        return self.summary()

    def to_dict(self) -> dict:
        """JSON-ready dict (project CLI convention); NaN becomes ``None``."""
        fixed = [
            {"term": t, **{k: _jsonable(v) for k, v in row.items()}}
            for t, row in self.fixed.iterrows()
        ]
        vc = [
            {k: _jsonable(v) for k, v in row.items()}
            for row in self.variance_components.to_dict("records")
        ]
        return {
            "fixed": fixed,
            "variance_components": vc,
            "n_obs": int(self.n_obs),
            "n_groups": {k: int(v) for k, v in self.n_groups.items()},
            "converged": bool(self.converged),
            "boundary": bool(self.boundary),
            "warnings": list(self.warnings),
            "loglik": _jsonable(self.loglik),
            "deviance": _jsonable(self.deviance),
            "aic": _jsonable(self.aic),
            "bic": _jsonable(self.bic),
            "sigma2": _jsonable(self.sigma2),
            "n_params": int(self.n_params),
            "method": self.method,
            "optimizer": self.optimizer,
        }


# --------------------------------------------------------------------------- fitting


def _bounds(terms: list[_Term]) -> list[tuple[float | None, float | None]]:
    out = []
    for t in terms:
        out += [(0.0, None) if r == c else (None, None) for r, c in t.template]
    return out


def _theta0(terms: list[_Term]) -> np.ndarray:
    return np.concatenate([[1.0 if r == c else 0.0 for r, c in t.template] for t in terms])


def _run(model: _Model, name: str, x0: np.ndarray, bounds) -> optimize.OptimizeResult:
    lo = np.array([b[0] if b[0] is not None else -np.inf for b in bounds])
    if name == "L-BFGS-B":
        res = optimize.minimize(
            lambda th: model.evaluate(th, grad=True),
            x0,
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-7, "maxcor": 20},
        )
        if not res.success:
            # L-BFGS-B often stops with a line-search message at an optimum reached to
            # machine precision; accept when the projected gradient is negligible.
            g = np.asarray(res.jac, dtype=float)
            gp = np.where((res.x <= lo + 1e-12) & (g > 0), 0.0, g)
            if np.all(np.isfinite(gp)) and np.max(np.abs(gp), initial=0.0) < 1e-4:
                res.success = True
    elif name == "Nelder-Mead":
        res = optimize.minimize(
            model.evaluate,
            x0,
            method="Nelder-Mead",
            bounds=bounds,
            options={
                "maxfev": 4000 * max(1, x0.size),
                "xatol": 1e-9,
                "fatol": 1e-11,
                "adaptive": x0.size > 4,
            },
        )
    elif name == "Powell":
        res = optimize.minimize(
            model.evaluate,
            x0,
            method="Powell",
            bounds=bounds,
            options={"maxfev": 4000 * max(1, x0.size), "xtol": 1e-9, "ftol": 1e-12},
        )
    else:
        raise ValueError(f"unknown optimizer {name!r}; choose from {OPTIMIZERS}")
    return res


def _restart_off_boundary(model: _Model, res, name: str, bounds):
    """Re-optimise from points moved off the boundary; return the best valid fit and its optimizer.

    A diagonal element of Lambda at 0 is a stationary point of the criterion in that
    direction (the criterion is even in it), so a gradient method can stop at a saddle
    on the boundary (e.g. Orthodont from the identity start). lme4 guards against the
    same with ``restart_edge``.
    """
    lo0 = np.array([b[0] == 0.0 for b in bounds])
    x = np.asarray(res.x, dtype=float)
    at = lo0 & (x < BOUNDARY_TOL)
    if not at.any():
        return res, name
    best, best_name = res, name
    for v in (0.01, 0.1, 1.0):
        x0 = x.copy()
        x0[at] = v
        try:
            cand = _run(model, name, x0, bounds)
        except (FloatingPointError, np.linalg.LinAlgError):
            continue
        ok, _ = _check(model, cand)
        if ok and cand.fun < best.fun - 1e-10:
            best, best_name = cand, name
    bx = np.asarray(best.x, dtype=float)
    if (lo0 & (bx < BOUNDARY_TOL)).any():
        # Still on the boundary. The criterion can have several local optima, and a
        # gradient method started at the identity can stay in the basin of a boundary
        # one (seen on Nestler et al.'s Example 1 with five random slopes, where lme4's
        # bobyqa reaches a better interior optimum). Multi-start: the same method from
        # scaled identities (cheap: one gradient run each), keep the best valid fit.
        for scale in (0.1, 0.3, 3.0):
            try:
                cand = _run(model, name, _theta0(model.terms) * scale, bounds)
            except (FloatingPointError, np.linalg.LinAlgError):
                continue
            if _check(model, cand)[0] and cand.fun < best.fun - 1e-8:
                best, best_name = cand, f"{name} (multi-start)"
    return best, best_name


def _check(model: _Model, res) -> tuple[bool, str]:
    """Sanity checks of an optimizer result: (valid, reason if not)."""
    if res is None:
        return False, "no result"
    x = np.asarray(res.x, dtype=float)
    if not np.all(np.isfinite(x)):
        return False, "non-finite theta"
    f = model.evaluate(x, full=True)
    if not isinstance(f, dict) or not np.isfinite(f["dev"]):
        return False, "non-finite criterion"
    dfr = model.n - model.p if model.reml else model.n
    s2 = f["r2"] / dfr
    if not (np.isfinite(s2) and s2 > 0):
        return False, "residual variance not finite and positive"
    if not res.success:
        return False, f"optimizer reported failure ({getattr(res, 'message', '')})"
    return True, ""


def _prepare(y, X, random, source):
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise ValueError("y must be 1-D")
        y = y.iloc[:, 0]
    index = None
    if isinstance(X, pd.DataFrame):
        index = X.index
    elif isinstance(y, pd.Series):
        index = y.index
    y_arr = np.asarray(y)
    if y_arr.ndim != 1:
        raise ValueError(f"y must be 1-D; got shape {y_arr.shape}")
    n = y_arr.shape[0]
    if n == 0:
        raise DataError(f"{source}: no rows to fit [rule: non-empty data]")
    try:
        y_num = pd.to_numeric(pd.Series(y_arr), errors="raise").to_numpy(dtype=float)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{source}: the outcome must be numeric ({exc})") from None
    bad = ~np.isfinite(y_num)
    if bad.any():
        raise DataError(
            f"{source}: the outcome is missing or infinite in {_rows(np.flatnonzero(bad), index)}"
            " [rule: finite values]; drop or impute those rows before fitting"
        )
    Xdf = _as_frame(X, n, "X", "x")
    Xa = _numeric(Xdf, "X", source, index)
    xnames = [str(c) for c in Xdf.columns]
    if isinstance(random, RandomTerm):
        random = [random]
    random = list(random)
    if not random:
        raise ValueError("at least one RandomTerm is needed (use OLS for a model without one)")
    names = [r.name for r in random]
    if len(set(names)) != len(names):
        raise ValueError(f"random-term names must be unique; got {names}")
    terms: list[_Term] = []
    start = 0
    for r in random:
        if not isinstance(r, RandomTerm):
            raise TypeError("random must be a list of RandomTerm")
        g = pd.Series(
            np.asarray(r.groups, dtype=object)
            if not isinstance(r.groups, pd.Series)
            else r.groups.to_numpy(dtype=object)
        )
        if g.shape[0] != n:
            raise ValueError(
                f"groups of random term '{r.name}' has {g.shape[0]} rows but y has {n}"
            )
        miss = g.isna().to_numpy()
        if miss.any():
            raise DataError(
                f"{source}: grouping factor '{r.name}' is missing in "
                f"{_rows(np.flatnonzero(miss), index)} [rule: identifiers present]"
            )
        try:
            codes, levels = pd.factorize(g, sort=True)
        except TypeError:
            codes, levels = pd.factorize(g.astype(str), sort=True)
        Zdf = (
            pd.DataFrame({"Intercept": np.ones(n)})
            if r.Z is None
            else _as_frame(r.Z, n, f"Z of random term '{r.name}'", "z")
        )
        Za = _numeric(Zdf, f"random-effect ('{r.name}')", source, index)
        tmpl = _theta_template(Za.shape[1], r.structure)
        terms.append(
            _Term(
                name=str(r.name),
                zcols=[str(c) for c in Zdf.columns],
                structure=r.structure,
                Z=Za,
                codes=np.asarray(codes, dtype=np.intp),
                levels=pd.Index(levels),
                template=tmpl,
                theta_slice=slice(start, start + len(tmpl)),
            )
        )
        start += len(tmpl)
    return y_num, Xa, xnames, terms, index


def _check_rank(X: np.ndarray, names: list[str], source: str) -> None:
    n, p = X.shape
    if n <= p:
        raise DataError(f"{source}: {n} rows cannot estimate {p} fixed effects [rule: n > p]")
    _Q, R, piv = sla.qr(X, mode="economic", pivoting=True)
    d = np.abs(np.diag(R))
    tol = max(n, p) * np.finfo(float).eps * 100 * (d[0] if d.size else 0.0)
    tol = max(tol, 1e-7 * d[0]) if d.size else tol
    rank = int(np.sum(d > tol))
    if rank < p:
        aliased = [names[i] for i in sorted(piv[rank:])]
        raise DataError(
            f"{source}: the fixed-effect design is rank deficient (rank {rank} < {p} columns); "
            f"column(s) {aliased} are linear combinations of the others "
            "[rule: identifiable fixed effects]; drop or recode them"
        )


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
        names ``source`` and the rows), a rank-deficient ``X`` (names the aliased
        columns), or more random effects in a term than observations.
    FitError
        A degenerate fit: zero residual variance (e.g. ``y`` an exact linear function
        of ``X``) or a non-finite criterion with every optimizer.
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
    >>> fit.fixed.loc["session", "estimate"].round(1)
    np.float64(0.5)
    >>> fit.converged, fit.boundary
    (True, False)
    """
    method = str(method).upper()
    if method not in ("REML", "ML"):
        raise ValueError(f"method must be 'REML' or 'ML'; got {method!r}")
    if not (0 < conf_level < 1):
        raise ValueError("conf_level must be between 0 and 1")
    y_num, Xa, xnames, terms, index = _prepare(y, X, random, source)
    n, p = Xa.shape
    _check_rank(Xa, xnames, source)
    for t in terms:
        nre = len(t.levels) * t.q
        if nre >= n:
            raise DataError(
                f"{source}: random term '{t.name}' has {nre} random effects "
                f"({len(t.levels)} levels x {t.q}) for {n} observations; the variance "
                "components and the residual variance are not identifiable [rule: n > random effects]"
            )
    model = _Model(y_num, Xa, terms, reml=(method == "REML"))
    if model.yty <= 1e-20 * max(model.tss, 1e-300) or model.yty == 0.0:
        raise FitError(
            f"{source}: the outcome is an exact linear function of the fixed effects "
            f"{xnames} (residual sum of squares {model.yty:.3g}); the residual variance is zero "
            "and no mixed model can be fitted"
        )
    bounds = _bounds(terms)
    th0 = _theta0(terms)
    results = []
    failures = []
    for name in optimizers:
        try:
            res = _run(model, name, th0, bounds)
        except (FloatingPointError, np.linalg.LinAlgError, ValueError) as exc:
            if isinstance(exc, ValueError) and "unknown optimizer" in str(exc):
                raise
            failures.append(f"{name}: {exc}")
            continue
        ok, why = _check(model, res)
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
    res, opt_name = _restart_off_boundary(model, res, opt_name, bounds)
    if failures:
        fit_warnings.append(
            f"fit needed a fallback optimizer: {'; '.join(failures)}; reported fit from {opt_name}"
        )
    theta = np.asarray(res.x, dtype=float).copy()
    f = model.evaluate(theta, full=True)
    dfr = n - p if model.reml else n
    sigma2 = f["r2"] / dfr
    ysd2 = model.tss / max(n - 1, 1)
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
    beta = model.beta_ols + f["delta"]
    XVXinv = sla.cho_solve((f["RX"], True), np.eye(p))
    cov = sigma2 * XVXinv
    cov = (cov + cov.T) / 2
    fixed = _wald_table(beta, cov, xnames, conf_level)
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
        fixed=fixed,
        cov_fixed=cov_df,
        variance_components=vc,
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
