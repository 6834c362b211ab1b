r"""The mixed model's inputs and its profiled criterion (lme4's deviance and REML criterion).

:class:`RandomTerm` is how a caller describes a random-effect term;
:func:`prepare` checks the inputs of :func:`alliance.mixed.fit_lmm` and turns them
into arrays; :class:`Model` holds the per-block sufficient statistics and
evaluates the profiled criterion and its exact gradient (see
:mod:`alliance.mixed` for the algebra).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import linalg as sla
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from alliance.data.cells import Source, fail, parse_numeric, rows_text
from alliance.errors import DataError, FitError
from alliance.mixed.nested import NestedLayout, nesting

__all__ = ["BOUNDARY_TOL", "Model", "RandomTerm", "Term", "check_rank", "prepare"]


#: lme4's ``isSingular`` tolerance: a bounded element of theta below this is a boundary fit.
BOUNDARY_TOL = 1e-4




_MAX_BUCKETS = 12
#: Per-bucket overhead of an evaluation, in units of padded-block work (Q^3).
_BUCKET_OVERHEAD = 20000


@dataclass
class RandomTerm:
    """One random-effect term: coefficients ``Z`` varying over the levels of ``groups``.

    Parameters
    ----------
    name : str
        Name of the grouping factor (e.g. ``"patient"``), used in output tables.
    groups : array-like, shape (n,)
        Group label of every row (any hashable labels; NaN/None not allowed). A
        ``pd.Categorical`` (or a Series of that dtype) is read from its codes, without
        hashing its labels again: the same levels, faster for thousands of rows.
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


def _finite_floats(values) -> np.ndarray | None:
    """``values`` as floats when they already are real numbers (int or float dtype), all finite;
    else None: the package's parser (:func:`alliance.data.cells.parse_numeric`) then decides,
    with its messages. Numbers are not parsed again, only checked."""
    arr = np.asarray(values)
    if arr.dtype.kind not in "fiu":
        return None
    arr = arr.astype(float, copy=False)
    return arr if np.isfinite(arr).all() else None


def _numeric(df: pd.DataFrame, what: str, source: Source) -> np.ndarray:
    """Columns of a design as floats: every cell a finite number (the package's one parser)."""
    if all(getattr(dt, "kind", "O") in "fiu" for dt in df.dtypes):
        fast = _finite_floats(df.to_numpy(dtype=float, na_value=np.nan))
        if fast is not None:
            return np.array(fast, dtype=float, order="C")
    out = np.empty(df.shape, dtype=float)
    for j, col in enumerate(df.columns):
        try:
            out[:, j] = parse_numeric(df.iloc[:, j], str(col), source)
        except DataError as exc:  # say which design the column belongs to
            raise DataError(str(exc).replace(f"{source}: ", f"{source}: {what} ", 1)) from None
        bad = np.isnan(out[:, j])
        if bad.any():
            raise fail(source, "finite values",
                       f"{what} column '{col}' is missing in {rows_text(np.flatnonzero(bad), source)}; "
                       "drop or impute those rows before fitting")
    return out


def _theta_template(q: int, structure: str) -> list[tuple[int, int]]:
    """(row, col) of the free elements of Lambda_k, column-major lower triangle (lme4 order)."""
    if structure == "unstructured":
        return [(r, c) for c in range(q) for r in range(c, q)]
    if structure == "diagonal":
        return [(r, r) for r in range(q)]
    raise ValueError(f"structure must be 'unstructured' or 'diagonal'; got {structure!r}")


@dataclass
class Term:
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
    """Blocks padded to a common size Q, processed together.

    ``S_lv[l]`` holds the sufficient statistics ``[Z'Z | Z'X | Z'y]`` of the rows in
    residual-variance level ``l`` (one level unless the model has a variance function);
    the statistics at weights ``w`` are ``sum_l w_l S_lv[l]``.
    """

    def __init__(self, nb: int, Q: int, k: int, n_levels: int = 1):
        self.nb, self.Q = nb, Q
        self.S_lv = np.zeros((n_levels, nb, Q, k))
        self.lam_flat: np.ndarray = np.empty(0, dtype=np.intp)
        self.lam_theta: np.ndarray = np.empty(0, dtype=np.intp)

    @property
    def S(self) -> np.ndarray:
        """Statistics of all rows with unit weights."""
        return self.S_lv.sum(axis=0)


class Model:
    r"""Sufficient statistics and the profiled criterion (with exact gradient).

    Parameters of the criterion: ``x = (theta, rho)``. ``theta`` are the elements of
    the relative covariance factors (see :mod:`alliance.mixed`); ``rho`` (empty
    unless ``resid`` is given) are the log ratios of the residual SDs of the levels
    of a residual-variance factor to that of its first level (nlme's ``varIdent``):
    :math:`\mathrm{Var}(\varepsilon_i) = \sigma^2 \delta_{l(i)}^2`,
    :math:`\delta = \exp(\rho)`, :math:`\rho_1 = 0`.
    """

    def __init__(self, y: np.ndarray, X: np.ndarray, terms: list[Term], reml: bool,
                 x_R: np.ndarray | None = None, resid: np.ndarray | None = None,
                 layout: str = "auto"):
        """``X`` should be well conditioned: the caller passes the Q of the design's
        ``X = QR`` and ``x_R`` = R. The REML criterion gets 2 log|det R| added, so that it
        equals the criterion of the original design; ML does not depend on R.
        ``resid`` (optional) holds the residual-variance level (0..L-1) of every row.
        ``layout``: ``"nested"`` (one grouping factor, two nested ones, or three nested in a
        chain, :mod:`alliance.mixed.nested`), ``"blocks"`` (any factors: dense padded blocks of
        connected levels) or ``"auto"`` (nested where it applies)."""
        if layout not in ("auto", "nested", "blocks"):
            raise ValueError(f"layout must be 'auto', 'nested' or 'blocks'; got {layout!r}")
        self.x_R = np.eye(X.shape[1]) if x_R is None else np.asarray(x_R, dtype=float)
        self.x_logdet = 2.0 * float(np.sum(np.log(np.abs(np.diag(self.x_R)))))
        n, p = X.shape
        self.n, self.p, self.reml = n, p, reml
        self.terms = terms
        self.ntheta = terms[-1].theta_slice.stop
        lv = np.zeros(n, dtype=np.intp) if resid is None else np.asarray(resid, dtype=np.intp)
        self.n_levels = int(lv.max()) + 1
        self.nrho = self.n_levels - 1
        self.npar = self.ntheta + self.nrho
        self.resid_codes = lv
        self.level_n = np.bincount(lv, minlength=self.n_levels).astype(float)
        # OLS shift: the criterion is invariant to y -> y - X g, and the shifted y is
        # far better conditioned for the Woodbury subtractions below.
        self.beta_ols, *_ = np.linalg.lstsq(X, y, rcond=None)
        yt = y - X @ self.beta_ols
        self.yt = yt
        if self.n_levels == 1 and X.flags.c_contiguous:
            # the products of the rows selected below, without selecting every row: the same
            # layout and two distinct buffers (not X'X of one buffer, which NumPy computes by
            # another BLAS routine), so the same BLAS calls and the same bits
            self.XtX_lv = (X.T @ X.copy())[None]
            self.Xty_lv = (X.T @ yt)[None]
            self.yty_lv = np.array([float(yt @ yt)])
        else:
            self.XtX_lv = np.stack([X[lv == k].T @ X[lv == k] for k in range(self.n_levels)])
            self.Xty_lv = np.stack([X[lv == k].T @ yt[lv == k] for k in range(self.n_levels)])
            self.yty_lv = np.array([float(yt[lv == k] @ yt[lv == k])
                                    for k in range(self.n_levels)])
        self.XtX = self.XtX_lv.sum(axis=0)
        self.Xty = self.Xty_lv.sum(axis=0)
        self.yty = float(self.yty_lv.sum())
        self.tss = float(np.sum((y - y.mean()) ** 2))
        # [X y]'[X y] per residual level (the nested layout's statistics of the fixed part)
        k1 = p + 1
        self.XY_lv = np.zeros((self.n_levels, k1, k1))
        self.XY_lv[:, :p, :p] = self.XtX_lv
        self.XY_lv[:, :p, p] = self.XY_lv[:, p, :p] = self.Xty_lv
        self.XY_lv[:, p, p] = self.yty_lv
        self.nevals = 0
        self._last = None  # (x's bytes, with gradient, the result) of the last evaluation
        nest = nesting(terms) if layout != "blocks" else None
        if layout == "nested" and nest is None:
            raise ValueError("the nested layout needs one grouping factor, two nested ones or three "
                             "nested in a chain")
        if nest is not None:
            self.layout = "nested"
            self.nested = NestedLayout(terms, nest[0], nest[1], np.column_stack([X, yt]), lv,
                                       self.n_levels, inner=nest[2])
            top = terms[nest[1] if nest[1] is not None else nest[0]]
            self.n_blocks = len(top.levels)
            self.row_blocks = top.codes
            self.buckets = []
            return
        self.layout = "blocks"
        self.nested = None
        self._setup_blocks(X, yt, terms, lv)

    def _setup_blocks(self, X, yt, terms, lv):
        """The general layout: connected levels form blocks, padded to a few common sizes."""
        p = X.shape[1]
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

        # ---- buckets of similar size (padding), blocks reordered by bucket. Each bucket
        # costs a fixed overhead per evaluation (a few dozen NumPy calls) and work that
        # grows with its blocks' padded size cubed; adjacent sizes are merged while
        # merging lowers the estimated total (overhead ~ the work of a 27^3 block).
        sizes, counts = np.unique(Qb, return_counts=True)
        groups = [[int(s)] for s in sizes]
        cnts = [int(c) for c in counts]
        overhead = float(_BUCKET_OVERHEAD)
        while len(groups) > 1:
            costs = [
                cnts[i] * (groups[i + 1][-1] ** 3 - groups[i][-1] ** 3)
                for i in range(len(groups) - 1)
            ]
            i = int(np.argmin(costs))
            if costs[i] >= overhead and len(groups) <= _MAX_BUCKETS:
                break
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

        # ---- per-bucket sufficient statistics (per residual-variance level)
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
        self.row_layout = (row_bucket, row_pos, re_pos, re_val)
        for kb, Q in enumerate(bucket_sizes):
            nb = int(np.sum(bucket_of_block == kb))
            bk = _Bucket(nb, Q, Q + p + 1, self.n_levels)
            size = nb * Q
            for lvl in range(self.n_levels):
                rows = np.flatnonzero((row_bucket == kb) & (lv == lvl))
                if rows.size == 0:
                    continue
                rb = row_pos[rows]
                P = re_pos[rows]
                Vv = re_val[rows]
                S = bk.S_lv[lvl]
                ZtZ = np.zeros(nb * Q * Q)
                for a_ in range(m):
                    for b_ in range(m):
                        idx = (rb * Q + P[:, a_]) * Q + P[:, b_]
                        ZtZ += np.bincount(idx, weights=Vv[:, a_] * Vv[:, b_], minlength=nb * Q * Q)
                S[:, :, :Q] = ZtZ.reshape(nb, Q, Q)
                Xr = X[rows]
                for a_ in range(m):
                    idx = rb * Q + P[:, a_]
                    for c in range(p):
                        S[:, :, Q + c] += np.bincount(
                            idx, weights=Vv[:, a_] * Xr[:, c], minlength=size
                        ).reshape(nb, Q)
                    S[:, :, Q + p] += np.bincount(
                        idx, weights=Vv[:, a_] * yt[rows], minlength=size
                    ).reshape(nb, Q)
            if self.n_levels == 1:
                bk.S_fixed = bk.S_lv[0]
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
        self.row_blocks = comp[row_nodes[:, 0]]

    # ------------------------------------------------------------------ criterion
    def _lambda(self, bk: _Bucket, theta: np.ndarray) -> np.ndarray:
        lam = np.zeros(bk.nb * bk.Q * bk.Q)
        lam[bk.lam_flat] = theta[bk.lam_theta]
        return lam.reshape(bk.nb, bk.Q, bk.Q)

    def weights(self, rho) -> np.ndarray:
        """Precision weight of each residual-variance level, :math:`1/\\delta_l^2`."""
        rho = np.asarray(rho, dtype=float)
        return np.exp(-2.0 * np.concatenate([[0.0], rho]))

    def _stats(self, bk: _Bucket, w: np.ndarray | None) -> np.ndarray:
        if w is None:
            return bk.S_fixed
        return np.tensordot(w, bk.S_lv, axes=1)

    def _core(self, x: np.ndarray, want_grad: bool):
        """Everything the criterion and its gradient need at ``x = (theta, rho)``.

        Returns None where the criterion is not finite, else a dict with ``dev`` (the
        profiled criterion), ``logdet`` (log|V0| incl. the variance-function Jacobian),
        ``r2``, ``delta``, ``XVX``, ``RX``, ``logdetX`` (REML only, incl. the QR constant),
        ``dfr`` and, with ``want_grad``, the gradients of the parts: ``g_a`` (of
        ``logdet`` + ``logdetX``) and ``g_r2`` (of ``r2``).
        """
        x = np.asarray(x, dtype=float)
        if self.nested is None:
            return self._core_blocks(x, want_grad)
        # the point evaluated last is asked for again as a fit ends (the optimizer's last
        # point, then its validity check and the curvature at it): the same result, kept
        key = x.tobytes()
        last = self._last
        if last is not None and last[0] == key and (last[1] or not want_grad):
            return last[2]
        self.nevals += 1
        c = self.nested.core(self, x[None], want_grad)
        out = _point(c, 0) if c["ok"][0] else None
        self._last = (key, want_grad, out)
        return out

    def core_batch(self, xs: np.ndarray, want_grad: bool) -> list:
        """:meth:`_core` at each row of ``xs`` (None where not finite): in one pass of the
        nested layout (its compiled loop reuses one set of work arrays for every point)."""
        xs = np.atleast_2d(np.asarray(xs, dtype=float))
        if self.nested is None:
            return [self._core_blocks(x, want_grad) for x in xs]
        c = self.nested.core(self, xs, want_grad)
        self.nevals += xs.shape[0]
        return [_point(c, i) if c["ok"][i] else None for i in range(xs.shape[0])]

    def modes(self, x: np.ndarray) -> list[np.ndarray]:
        """Conditional modes :math:`\\hat b = \\Lambda\\hat u` of every term at ``x``, one
        array per term (its levels x its columns, in level order; the outcome's scale)."""
        x = np.asarray(x, dtype=float)
        if self.nested is None:
            return self._modes_blocks(x)
        nl = self.nested
        c = nl.core(self, x[None], want_grad=False, want_modes=True)
        v1, v2 = c["modes"]
        out: list[np.ndarray] = [None] * len(self.terms)  # type: ignore[list-item]
        fine = np.empty((nl.n1, nl.q1))
        fine[nl.fine_order] = v1[0]
        out[nl.fine] = fine[:, : nl.qf]
        if nl.inner is not None:  # the inner term's columns of its fine level's block
            cols = nl.qf + nl.inner_slot[:, None] * nl.qi + np.arange(nl.qi)
            out[nl.inner] = fine[nl.inner_owner[:, None], cols]
        if nl.coarse is not None:
            out[nl.coarse] = v2[0]
        return out

    def _modes_blocks(self, x: np.ndarray) -> list[np.ndarray]:
        f = self._core_blocks(x, want_grad=False)
        p = self.p
        offs, comp, node_start, bucket_of_block, pos_in_bucket = self.node_info
        delta = f["delta"]
        bvecs = []
        for bk, (lam, L, _K, LtS, _S, _Linv) in zip(self.buckets, f["store"]):
            Q = bk.Q
            rhs = LtS[:, :, Q + p] - LtS[:, :, Q : Q + p] @ delta
            w = np.linalg.solve(L, rhs[:, :, None])
            u = np.linalg.solve(np.swapaxes(L, 1, 2), w)[:, :, 0]
            bvecs.append(np.einsum("bij,bj->bi", lam, u))
        out = []
        for kt, t in enumerate(self.terms):
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
            out.append(vals)
        return out

    def _core_blocks(self, x: np.ndarray, want_grad: bool):
        """:meth:`_core` in the general layout (also returns ``store``, per-bucket factors)."""
        self.nevals += 1
        theta = x[: self.ntheta]
        if self.nrho:
            rho = x[self.ntheta :]
            w = self.weights(rho)
            XVX = np.tensordot(w, self.XtX_lv, axes=1)
            XVy = np.tensordot(w, self.Xty_lv, axes=1)
            yVy = float(w @ self.yty_lv)
            jac = float(2.0 * self.level_n[1:] @ rho)  # 2 sum_i log(delta_i)
        else:
            w = None
            XVX = self.XtX.copy()
            XVy = self.Xty.copy()
            yVy = self.yty
            jac = 0.0
        p, n = self.p, self.n
        logdet = jac
        store = []
        for bk in self.buckets:
            Q = bk.Q
            S = self._stats(bk, w)
            lam = self._lambda(bk, theta)
            LtS = np.swapaxes(lam, 1, 2) @ S
            Mm = LtS[:, :, :Q] @ lam
            Mm[:, np.arange(Q), np.arange(Q)] += 1.0
            try:
                L = np.linalg.cholesky(Mm)
            except np.linalg.LinAlgError:
                return None
            # one batched inverse of the (well-conditioned) Cholesky factor serves every
            # triangular solve of this evaluation (K here, and the gradients' products)
            Linv = np.linalg.inv(L)
            K = Linv @ LtS
            logdet += 2.0 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)))
            Kf = K[:, :, Q:].reshape(-1, p + 1)  # [K_X | K_y], blocks stacked
            KtK = Kf.T @ Kf
            XVX -= KtK[:p, :p]
            XVy -= KtK[:p, p]
            yVy -= float(KtK[p, p])
            store.append((lam, L, K, LtS, S, Linv))
        try:
            RX = np.linalg.cholesky(XVX)
        except np.linalg.LinAlgError:
            return None
        delta = np.linalg.solve(XVX, XVy)  # small p: cheaper than scipy's checked cho_solve
        r2 = yVy - float(delta @ XVy)
        if not np.isfinite(r2) or r2 <= 1e-13 * max(self.yty, 1e-300) or r2 <= 0:
            return None
        dfr = n - p if self.reml else n
        logdetX = (2.0 * float(np.sum(np.log(np.diag(RX)))) + self.x_logdet) if self.reml else 0.0
        dev = logdet + logdetX + dfr * (1.0 + math.log(2.0 * math.pi * r2 / dfr))
        out = {"dev": dev, "r2": r2, "delta": delta, "XVX": XVX, "RX": RX, "logdet": logdet,
               "logdetX": logdetX, "store": store, "dfr": dfr}
        if not want_grad:
            return out
        # ---- exact theta-gradients of the parts (envelope theorem for beta)
        g_a = np.zeros(self.ntheta)
        g_r2 = np.zeros(self.ntheta)
        Sinv = np.linalg.inv(XVX) if self.reml else None
        for bk, (lam, L, K, LtS, S, _Linv) in zip(self.buckets, store):
            Q = bk.Q
            KZ = K[:, :, :Q]
            Gm = S - np.swapaxes(KZ, 1, 2) @ K  # [Zt V0^-1 Z | Zt V0^-1 X | Zt V0^-1 y]
            W = Gm[:, :, :Q]
            C = Gm[:, :, Q : Q + p]
            a = Gm[:, :, Q + p] - C @ delta
            T = W @ lam  # d log|V0|
            Lta = np.einsum("bqr,bq->br", lam, a)
            R = a[:, :, None] * Lta[:, None, :]  # d r^2 (times -2)
            va = 2.0 * T.reshape(-1)[bk.lam_flat]
            if self.reml:
                CS = C @ Sinv
                CtL = np.swapaxes(C, 1, 2) @ lam
                U = CS @ CtL
                va = va - 2.0 * U.reshape(-1)[bk.lam_flat]
            g_a += np.bincount(bk.lam_theta, weights=va, minlength=self.ntheta)
            g_r2 += np.bincount(bk.lam_theta, weights=-2.0 * R.reshape(-1)[bk.lam_flat],
                                minlength=self.ntheta)
        if self.nrho:
            ga_rho, gr2_rho = self._rho_gradient(x, store, delta, Sinv)
            g_a = np.concatenate([g_a, ga_rho])
            g_r2 = np.concatenate([g_r2, gr2_rho])
        out["g_a"] = g_a
        out["g_r2"] = g_r2
        return out

    def _rho_gradient(self, x, store, delta, Sinv):
        r"""Exact rho-gradients of the parts (``logdet`` + ``logdetX``, and ``r2``).

        With precision weights :math:`w_l = e^{-2\rho_l}` per residual level and
        :math:`V_* = W^{-1} + Z\Lambda\Lambda^\top Z^\top`:
        :math:`\partial\log|M|/\partial w_l = \mathrm{tr}(M^{-1}\Lambda^\top Z_l^\top Z_l\Lambda)`;
        :math:`\partial r^2/\partial w_l = \lVert e_l\rVert^2` (envelope theorem, with
        :math:`e = y - X\hat\beta - Z\Lambda\hat u` the conditional residual); for REML
        :math:`\partial\log|X^\top V_*^{-1}X|/\partial w_l = \mathrm{tr}(S^{-1}F_l^\top F_l)`
        with :math:`F = X - Z\Lambda M^{-1}\Lambda^\top Z^\top W X`. The variance
        function's Jacobian :math:`2\sum_l n_l\rho_l` adds :math:`2 n_l`.
        """
        p = self.p
        rho = x[self.ntheta :]
        w = self.weights(rho)
        L_ = self.n_levels
        d_logM = np.zeros(L_)
        d_r2 = np.array([
            self.yty_lv[k] - 2.0 * delta @ self.Xty_lv[k] + delta @ self.XtX_lv[k] @ delta
            for k in range(L_)
        ])
        d_X = np.array([float(np.sum(Sinv * self.XtX_lv[k])) for k in range(L_)]) if self.reml else None
        for bk, (lam, L, K, LtS, S, Linv) in zip(self.buckets, store):
            Q = bk.Q
            B = np.swapaxes(Linv, 1, 2) @ K  # M^-1 Lambda' S
            u = B[:, :, Q + p] - B[:, :, Q : Q + p] @ delta
            v = np.einsum("bij,bj->bi", lam, u)  # Lambda u
            P = Linv @ np.swapaxes(lam, 1, 2)  # L^-1 Lambda'
            if self.reml:
                Vx = lam @ B[:, :, Q : Q + p]  # Lambda M^-1 Lambda' Z'W X
                Vx2 = Vx.reshape(-1, p)
            for k in range(L_):
                Sk = bk.S_lv[k]
                A = Sk[:, :, :Q]
                d_logM[k] += float(np.sum((P @ A) * P))
                zy = Sk[:, :, Q + p] - Sk[:, :, Q : Q + p] @ delta
                Av = (A @ v[:, :, None])[:, :, 0]
                d_r2[k] += float(-2.0 * np.sum(v * zy) + np.sum(v * Av))
                if self.reml:
                    cross = Sk[:, :, Q : Q + p].reshape(-1, p).T @ Vx2
                    FtF = -cross - cross.T + Vx2.T @ (A @ Vx).reshape(-1, p)
                    d_X[k] += float(np.sum(Sinv * FtF))
        chain = -2.0 * w  # d w / d rho
        ga = chain * (d_logM + (d_X if self.reml else 0.0)) + 2.0 * self.level_n
        gr2 = chain * d_r2
        return ga[1:], gr2[1:]

    def evaluate(self, x, grad: bool = False, full: bool = False):
        """Profiled deviance (ML) or REML criterion at ``x = (theta, rho)``; optionally its gradient.

        ``full=True`` returns the dict of :meth:`_core` (None -> ``{"dev": inf}``).
        The gradient is exact (theta and rho).
        """
        x = np.asarray(x, dtype=float)
        c = self._core(x, want_grad=grad and not full)
        if full:
            return c if c is not None else {"dev": np.inf}
        if c is None:
            return (np.inf, np.full(x.size, np.nan)) if grad else np.inf
        if not grad:
            return c["dev"]
        return c["dev"], c["g_a"] + c["dfr"] / c["r2"] * c["g_r2"]

    # ------------------------------------------------------------------ unprofiled deviance
    def deviance_at(self, x, sigma: float) -> float:
        """-2 log-likelihood (ML) or REML deviance at ``x`` and residual SD ``sigma``.

        The criterion lmerTest differentiates for Satterthwaite's method: sigma is not
        profiled out (beta is, by GLS). At ``sigma**2 = r2 / dfr`` it equals :meth:`evaluate`.
        """
        c = self._core(np.asarray(x, dtype=float), want_grad=False)
        if c is None:
            return np.inf
        return (c["logdet"] + c["logdetX"] + c["dfr"] * math.log(2.0 * math.pi * sigma**2)
                + c["r2"] / sigma**2)


def _point(c: dict, i: int) -> dict:
    """Point ``i`` of a batched result of the nested layout, in :meth:`Model._core`'s form."""
    out = {"dev": float(c["dev"][i]), "r2": float(c["r2"][i]), "delta": c["delta"][i],
           "XVX": c["XVX"][i], "RX": c["RX"][i], "logdet": float(c["logdet"][i]),
           "logdetX": float(c["logdetX"][i]), "dfr": c["dfr"]}
    if "g_a" in c:
        out["g_a"] = c["g_a"][i]
        out["g_r2"] = c["g_r2"][i]
    return out


def prepare(y, X, random, source: str):
    """Check and convert the inputs of :func:`~alliance.mixed.fit_lmm` (see its docstring)."""
    if isinstance(y, pd.DataFrame):
        if y.shape[1] != 1:
            raise ValueError("y must be 1-D")
        y = y.iloc[:, 0]
    index = None
    if isinstance(X, pd.DataFrame):
        index = X.index
    elif isinstance(y, pd.Series):
        index = y.index
    default = isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1
    src = Source(str(source), None, None if (index is None or default) else index)
    y_arr = np.asarray(y)
    if y_arr.ndim != 1:
        raise ValueError(f"y must be 1-D; got shape {y_arr.shape}")
    n = y_arr.shape[0]
    if n == 0:
        raise fail(src, "non-empty data", "no rows to fit")
    y_num = _finite_floats(y_arr) if y_arr.ndim == 1 else None
    if y_num is None:
        y_num = parse_numeric(pd.Series(y_arr), "outcome", src)
    else:
        y_num = np.array(y_num, dtype=float)
    bad = np.isnan(y_num)
    if bad.any():
        raise fail(src, "finite values",
                   f"the outcome is missing in {rows_text(np.flatnonzero(bad), src)}; drop or "
                   "impute those rows before fitting")
    Xdf = _as_frame(X, n, "X", "x")
    Xa = _numeric(Xdf, "X", src)
    xnames = [str(c) for c in Xdf.columns]
    if isinstance(random, RandomTerm):
        random = [random]
    random = list(random)
    if not random:
        raise ValueError("at least one RandomTerm is needed (use OLS for a model without one)")
    names = [r.name for r in random]
    if len(set(names)) != len(names):
        raise ValueError(f"random-term names must be unique; got {names}")
    terms: list[Term] = []
    start = 0
    for r in random:
        if not isinstance(r, RandomTerm):
            raise TypeError("random must be a list of RandomTerm")
        coded = _category_codes(r.groups, n)
        if coded is not None:  # a categorical: its codes, ordered as the labels sort
            codes, levels = coded
            terms.append(_term(r, codes, levels, n, src, start))
            start += len(terms[-1].template)
            continue
        g = (np.asarray(r.groups, dtype=object) if not isinstance(r.groups, pd.Series)
             else r.groups.to_numpy(dtype=object))
        if g.ndim != 1:
            pd.Series(g)  # pandas' own error for groups that are not one column
        if g.shape[0] != n:
            raise ValueError(
                f"groups of random term '{r.name}' has {g.shape[0]} rows but y has {n}"
            )
        # the array's factorisation is the Series' (which wraps the same levels in an Index);
        # it codes a missing label -1 (pandas' isna), so the labels are scanned for missing
        # values only when it has some, or when it cannot sort them
        try:
            codes, levels = pd.factorize(g, sort=True)
        except TypeError:
            codes = None
        if codes is None or (codes < 0).any():
            miss = pd.isna(g)
            if codes is not None and not miss.any():
                miss = codes < 0
            if miss.any():
                raise fail(src, "identifiers present",
                           f"grouping factor '{r.name}' is missing in "
                           f"{rows_text(np.flatnonzero(miss), src)}")
        if codes is None:
            codes, levels = pd.factorize(pd.Series(g).astype(str), sort=True)
        terms.append(_term(r, codes, levels, n, src, start))
        start += len(terms[-1].template)
    return y_num, Xa, xnames, terms, index


def _term(r: RandomTerm, codes, levels, n: int, src, start: int) -> Term:
    """The :class:`Term` of a random term whose grouping factor is coded (``codes`` into
    ``levels``), its parameters from position ``start`` of theta."""
    if r.Z is None:  # a random intercept: a column of ones (no frame to check)
        Za, zcols = np.ones((n, 1)), ["Intercept"]
    else:
        Zdf = _as_frame(r.Z, n, f"Z of random term '{r.name}'", "z")
        Za = _numeric(Zdf, f"random-effect ('{r.name}')", src)
        zcols = [str(c) for c in Zdf.columns]
    tmpl = _theta_template(Za.shape[1], r.structure)
    return Term(name=str(r.name), zcols=zcols, structure=r.structure, Z=Za,
                codes=np.asarray(codes, dtype=np.intp), levels=pd.Index(levels), template=tmpl,
                theta_slice=slice(start, start + len(tmpl)))


def _category_codes(groups, n: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``pd.factorize(labels, sort=True)`` of a categorical grouping factor (a
    ``pd.Categorical`` or a Series of that dtype) from its integer codes, without hashing
    its labels again: the categories sorted (as ``factorize`` sorts the labels), the codes
    mapped to their ranks, and the categories no row uses left out. The same codes and
    levels, at a fraction of the cost for thousands of rows (``tests/test_mixed.py``
    compares them). None (the labels are factorised) for anything else: another type, a
    length other than ``n`` (its error comes from there), a missing label (its message
    too), or categories that do not sort (mixed types)."""
    cat = groups.array if isinstance(groups, pd.Series) else groups
    if not isinstance(cat, pd.Categorical) or len(cat) != n or n == 0:
        return None
    codes = np.asarray(cat.codes, dtype=np.intp)
    labels = np.asarray(cat.categories, dtype=object)
    if codes.min() < 0 or labels.size == 0:
        return None
    try:
        order = np.argsort(labels, kind="stable")
    except TypeError:
        return None
    rank = np.empty(labels.size, dtype=np.intp)
    rank[order] = np.arange(labels.size)
    codes = rank[codes]
    used = np.bincount(codes, minlength=labels.size) > 0
    if not used.all():
        codes = (np.cumsum(used) - 1)[codes]
    return codes, labels[order][used]


def check_rank(X: np.ndarray, names: list[str], source: str, R: np.ndarray | None = None) -> None:
    """Refuse a design whose columns are (numerically) linearly dependent, naming them.

    The rule: the diagonal of a column-pivoted QR factorisation, every element above
    ``max(max(n, p) * eps * 100, 1e-7)`` times the first. ``R`` (optional): the R factor of an
    unpivoted QR of ``X`` (the fit's). When the smallest singular value of ``R`` (that of
    ``X``) exceeds twice that bound, the pivoted factorisation's diagonal exceeds it too (no
    element of it is below the smallest singular value, up to rounding of order 1e-10 of
    the first), so the design passes without it; otherwise the pivoted factorisation decides,
    as without ``R``.
    """
    n, p = X.shape
    if n <= p:  # a degenerate fit, not bad data: FitError (exit code 3 on the command line)
        raise FitError(f"{source}: {n} rows cannot estimate {p} fixed effects [rule: n > p]")
    if R is not None and p:
        d0 = math.sqrt(float(np.max(np.einsum("ij,ij->j", X, X))))  # the pivoted R's first
        bound = max(max(n, p) * np.finfo(float).eps * 100 * d0, 1e-7 * d0)
        with np.errstate(all="ignore"):
            smallest = np.linalg.svd(R, compute_uv=False)[-1]
        if np.isfinite(smallest) and smallest > 2.0 * bound:
            return
    R, piv = sla.qr(X, mode="r", pivoting=True)  # R only: the same R, without forming Q
    d = np.abs(np.diag(R))
    tol = max(n, p) * np.finfo(float).eps * 100 * (d[0] if d.size else 0.0)
    tol = max(tol, 1e-7 * d[0]) if d.size else tol
    rank = int(np.sum(d > tol))
    if rank < p:
        aliased = [names[i] for i in sorted(piv[rank:])]
        raise FitError(
            f"{source}: the fixed-effect design is rank deficient (rank {rank} < {p} columns); "
            f"column(s) {aliased} are linear combinations of the others "
            "[rule: identifiable fixed effects]; drop or recode them"
        )
