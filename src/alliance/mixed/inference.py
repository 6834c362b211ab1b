r"""Small-sample inference for fixed effects: Satterthwaite and Kenward-Roger degrees of freedom.

For a linear combination :math:`\ell^\top\beta` of the fixed effects with estimated
variance :math:`v = \ell^\top\hat\Phi\ell` (:math:`\hat\Phi` the GLS covariance of
:math:`\hat\beta`), a Wald test refers :math:`t = \ell^\top\hat\beta / \sqrt v` to a
normal distribution. With few clusters that is liberal: :math:`v` is itself
estimated from the variance parameters, and its sampling variability is ignored.
Both methods here refer :math:`t` to a t distribution with :math:`\nu` degrees of
freedom instead.

**Satterthwaite** (as lmerTest; Kuznetsova, Brockhoff & Christensen 2017):

.. math::

    \nu = \frac{2 v^2}{g^\top A g},\qquad g_k = \ell^\top
    \frac{\partial\Phi}{\partial\psi_k}\ell,\qquad A = 2 H^{+},

with :math:`\psi = (\theta, \rho, \sigma)` the variance parameters, :math:`H` the
Hessian of the (ML or REML) deviance in :math:`\psi` with :math:`\sigma` *not*
profiled out, and :math:`H^{+}` its inverse on the eigenvectors with eigenvalues
above 1e-8 (lmerTest's rule). The value does not depend on how :math:`\psi` is
parametrised. :math:`H` and :math:`\partial\Phi/\partial\psi` come from central
differences of the engine's exact gradient and of :math:`(X^\top V_0^{-1} X)^{-1}`;
the :math:`\sigma` derivatives are analytic.

**Kenward-Roger** (Kenward & Roger 1997; as pbkrtest, which lmerTest calls): the
covariance is written linearly in :math:`\gamma` (every element of every
random-effect covariance matrix and the residual variance of every level), so
:math:`\Sigma = \sum_i \gamma_i G_i`. With :math:`P_i = -X^\top\Sigma^{-1}G_i\Sigma^{-1}X`,
:math:`Q_{ij} = X^\top\Sigma^{-1}G_i\Sigma^{-1}G_j\Sigma^{-1}X` and :math:`W` twice the
inverse of :math:`\mathrm{tr}(\Pi G_i \Pi G_j)`
(:math:`\Pi = \Sigma^{-1} - \Sigma^{-1}X\Phi X^\top\Sigma^{-1}`, the REML information),
the adjusted covariance is :math:`\Phi_A = \Phi + 2\Phi\{\sum_{ij} W_{ij}(Q_{ij} -
P_i\Phi P_j)\}\Phi` and, for one contrast, :math:`\nu = 2 v^2 / (g^\top W g)` with
:math:`g_i = \ell^\top\Phi P_i\Phi\ell` (the general formula's value at rank 1). SEs
use :math:`\Phi_A`. Kenward-Roger is defined for REML fits. The algebra is dense
per independent block of rows, so it needs blocks of moderate size.

References
----------
Kenward, M. G., & Roger, J. H. (1997). Small sample inference for fixed effects from
restricted maximum likelihood. *Biometrics, 53*(3), 983-997.
Kuznetsova, A., Brockhoff, P. B., & Christensen, R. H. B. (2017). lmerTest package:
Tests in linear mixed effects models. *Journal of Statistical Software, 82*(13).
Halekoh, U., & Højsgaard, S. (2014). A Kenward-Roger approximation and parametric
bootstrap methods for tests in linear mixed models - the R package pbkrtest.
*Journal of Statistical Software, 59*(9).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import linalg as sla

from alliance.mixed.model import Model
from alliance.options import DF_SPELLINGS

__all__ = ["DDF_METHODS", "Curvature", "KenwardRoger", "Satterthwaite", "curvature",
           "normalise_ddf", "triangular_inverse"]

#: Accepted names of the degrees-of-freedom methods -> the method (the one table, in
#: :data:`alliance.options.DF_SPELLINGS`, that every ``df=`` check reads).
DDF_METHODS = DF_SPELLINGS

#: Largest block (rows) for the dense per-block Kenward-Roger algebra.
KR_MAX_BLOCK = 4000


def normalise_ddf(ddf) -> str:
    """``"satterthwaite"``, ``"kenward-roger"`` or ``"z"`` from any accepted spelling."""
    key = str(ddf).strip().lower().replace(" ", "-")
    if key not in DDF_METHODS:
        raise ValueError(f"ddf must be 'satterthwaite', 'kenward-roger' or 'z'; got {ddf!r}")
    return DDF_METHODS[key]


#: LAPACK's Cholesky solve in double precision (the routine ``scipy.linalg.cho_solve`` calls).
_POTRS = sla.get_lapack_funcs("potrs", (np.zeros((1, 1)),))


def cho_inverse(L: np.ndarray) -> np.ndarray:
    """:math:`(LL^\top)^{-1}` from the lower Cholesky factor ``L``: exactly
    ``scipy.linalg.cho_solve((L, True), np.eye(len(L)))`` (its checks, its LAPACK call, the
    same result to the last bit), without the argument handling that costs that function
    several times the solve of the small matrices of a fit (the curvature calls it twice
    per parameter)."""
    L = np.asarray_chkfinite(L)  # cho_solve's check of a non-finite factor, and its message
    if L.dtype != np.float64 or L.ndim != 2 or L.shape[0] != L.shape[1] or L.shape[0] == 0:
        return sla.cho_solve((L, True), np.eye(L.shape[0] if L.ndim else 0))
    x, info = _POTRS(L, np.eye(L.shape[0]), lower=True, overwrite_b=False)
    if info != 0:
        raise ValueError(f"illegal value in {-info}th argument of internal potrs")
    return x


#: LAPACK's triangular solve in double precision (the routine ``scipy.linalg.solve_triangular``
#: calls).
_TRTRS = sla.get_lapack_funcs("trtrs", (np.zeros((1, 1)),))


def triangular_inverse(R: np.ndarray) -> np.ndarray:
    """:math:`R^{-1}` of the upper triangular ``R``: exactly
    ``scipy.linalg.solve_triangular(R, np.eye(len(R)))`` (its checks, its LAPACK call on the
    same layout, its errors, the same result to the last bit), without that function's
    argument handling (three times the solve of a design's small factor)."""
    R = np.asarray_chkfinite(R)  # solve_triangular's check of a non-finite matrix
    if R.dtype != np.float64 or R.ndim != 2 or R.shape[0] != R.shape[1] or R.shape[0] == 0:
        return sla.solve_triangular(R, np.eye(R.shape[0] if R.ndim else 0))
    eye = np.eye(R.shape[0])
    if R.flags.f_contiguous:
        x, info = _TRTRS(R, eye, overwrite_b=False, lower=False, trans=0, unitdiag=False)
    else:  # as solve_triangular: the transposed system, in the layout LAPACK expects
        x, info = _TRTRS(R.T, eye, overwrite_b=False, lower=True, trans=1, unitdiag=False)
    if info > 0:
        raise np.linalg.LinAlgError(f"singular matrix: resolution failed at diagonal {info-1}")
    if info < 0:
        raise ValueError(f"illegal value in {-info}-th argument of internal trtrs")
    return x


def _pinv_eig(H: np.ndarray, tol: float) -> np.ndarray:
    ev, vec = np.linalg.eigh((H + H.T) / 2.0)
    keep = ev > tol
    return (vec[:, keep] / ev[keep]) @ vec[:, keep].T


@dataclass
class Curvature:
    """Second-order facts at the optimum ``x`` (theta, rho) with residual SD ``sigma``.

    ``hess_profiled``: Hessian of the profiled criterion in ``x`` (for the
    convergence check); ``grad``: its gradient; ``hess_deviance``: Hessian of the
    deviance in ``psi = (x, sigma)``; ``dphi``: :math:`\\partial\\Phi/\\partial\\psi_k`,
    shape (len(psi), p, p); ``phi``: :math:`\\Phi`.
    """

    x: np.ndarray
    sigma: float
    grad: np.ndarray
    hess_profiled: np.ndarray
    hess_deviance: np.ndarray
    dphi: np.ndarray
    phi: np.ndarray
    #: The engine's evaluation at ``x`` (:meth:`Model._core` with gradients): the fit reads
    #: the criterion, ``r2``, ``delta`` and ``RX`` there instead of evaluating ``x`` again.
    at: dict | None = None


def _steps(x: np.ndarray) -> np.ndarray:
    """Central-difference steps: relative to each parameter, at least 1e-7 near zero (the
    df of a model and of its rescaled copy then agree to ~1e-7)."""
    return 1e-5 * np.maximum(np.abs(x), 1e-2)


def curvature(model: Model, x: np.ndarray, Rinv: np.ndarray) -> Curvature:
    """Hessians and the Jacobian of :math:`\\Phi` at ``x`` by central differences of exact gradients.

    ``Rinv`` maps the engine's orthonormal design back (:math:`\\beta = R^{-1}\\beta_Q`).
    Costs two criterion evaluations (with gradient) per parameter.
    """
    x = np.asarray(x, dtype=float)
    c0 = model._core(x, want_grad=True)
    if c0 is None:
        raise FloatingPointError("criterion not finite at the solution")
    dfr, r2 = c0["dfr"], c0["r2"]
    s2 = r2 / dfr
    sigma = math.sqrt(s2)
    npar = x.size
    p = model.p

    def phi_of(c):
        XVXinv = cho_inverse(c["RX"])
        return Rinv @ XVXinv @ Rinv.T

    unscaled0 = phi_of(c0)
    grad0 = c0["g_a"] + dfr / r2 * c0["g_r2"]
    h = _steps(x)
    # the 2 npar points of the central differences, evaluated together (one pass of the
    # nested layout where memory allows); their arithmetic below is done on the stacked
    # points at once, element by element the same operations as point by point (the same
    # bits: tests/test_mixed_inference.py compares the two)
    steps = np.diag(h)
    pts = model.core_batch(np.concatenate([x + steps, x - steps]), want_grad=True)
    if any(c is None for c in pts):
        raise FloatingPointError("criterion not finite next to the solution")
    g_a = np.array([c["g_a"] for c in pts])
    g_r2 = np.array([c["g_r2"] for c in pts])
    r2s = np.array([c["r2"] for c in pts])
    gp = g_a + dfr / r2s[:, None] * g_r2  # the profiled criterion's gradient at each point
    gd = g_a + g_r2 / s2  # the deviance's, at sigma fixed
    width = 2 * h
    Hp = np.empty((npar, npar))
    Hd = np.empty((npar + 1, npar + 1))
    Hp[:, :] = ((gp[:npar] - gp[npar:]) / width[:, None]).T
    Hd[:npar, :npar] = ((gd[:npar] - gd[npar:]) / width[:, None]).T
    phis = np.array([cho_inverse(c["RX"]) for c in pts])
    phis = Rinv @ phis @ Rinv.T
    dphi = np.empty((npar + 1, p, p))
    dphi[:npar] = s2 * (phis[:npar] - phis[npar:]) / width[:, None, None]
    Hd[:npar, npar] = Hd[npar, :npar] = -2.0 * c0["g_r2"] / sigma**3
    Hd[npar, npar] = -2.0 * dfr / s2 + 6.0 * r2 / s2**2
    phi = s2 * unscaled0
    dphi[npar] = 2.0 * phi / sigma
    Hp = (Hp + Hp.T) / 2.0
    Hd[:npar, :npar] = (Hd[:npar, :npar] + Hd[:npar, :npar].T) / 2.0
    return Curvature(x=x, sigma=sigma, grad=grad0, hess_profiled=Hp, hess_deviance=Hd,
                     dphi=dphi, phi=phi, at=c0)


class Satterthwaite:
    """Satterthwaite degrees of freedom of any linear combination (see the module docstring)."""

    method = "satterthwaite"

    def __init__(self, curv: Curvature):
        self.phi = curv.phi
        self.dphi = curv.dphi
        self.cov_varpar = 2.0 * _pinv_eig(curv.hess_deviance, 1e-8)

    def vcov(self) -> np.ndarray:
        return self.phi

    def _identity(self, L: np.ndarray) -> bool:
        """Whether ``L`` is the identity on finite :math:`\\Phi` and its derivatives: then the
        sums of :meth:`df` (one term times ones, the others exact zeros) are the diagonal
        elements themselves, to the last bit, read directly (the cubic sums cost tens of
        microseconds for a design of 20 columns)."""
        p = self.phi.shape[0]
        return (L.shape == (p, p) and np.array_equal(L, np.eye(p))
                and bool(np.isfinite(self.phi).all()) and bool(np.isfinite(self.dphi).all()))

    def df(self, L: np.ndarray) -> np.ndarray:
        L = np.atleast_2d(np.asarray(L, dtype=float))
        if self._identity(L):  # each coefficient's own: the diagonals the sums below pick
            var = np.diagonal(self.phi).copy()
            g = np.ascontiguousarray(np.diagonal(self.dphi, axis1=1, axis2=2).T)
        else:
            var = np.einsum("kp,pq,kq->k", L, self.phi, L)
            g = np.einsum("kp,vpq,kq->kv", L, self.dphi, L)
        denom = np.einsum("kv,vw,kw->k", g, self.cov_varpar, g)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = 2.0 * var**2 / denom
        out = np.where(var > 0, out, np.nan)
        return np.where(np.isfinite(out) | np.isnan(out), out, np.inf)


class KenwardRoger:
    """Kenward-Roger adjusted covariance and degrees of freedom (see the module docstring).

    Parameters
    ----------
    X : ndarray (n, p)
        The fixed-effect design (original scale).
    blocks : ndarray (n,)
        Independent block of every row.
    terms : list of Term
        Random-effect terms (``Z``, ``codes``, ``template``).
    G : list of ndarray
        Each term's estimated covariance matrix :math:`G_k`.
    resid_codes : ndarray (n,)
        Residual-variance level of every row; ``resid_var`` their variances.
    phi : ndarray (p, p)
        The unadjusted covariance of the fixed effects.
    """

    method = "kenward-roger"

    def __init__(self, X, blocks, terms, G, resid_codes, resid_var, phi):
        p = X.shape[1]
        gens = []  # (term index or -1, r, c, gamma)
        for k, t in enumerate(terms):
            for (r, c) in t.template:
                gens.append((k, r, c, float(G[k][r, c])))
        for lvl, v in enumerate(resid_var):
            gens.append((-1, lvl, lvl, float(v)))
        ng = len(gens)
        P = np.zeros((ng, p, p))
        Q = np.zeros((ng, ng, p, p))
        K = np.zeros((ng, ng))
        sizes = np.bincount(blocks)
        if sizes.max() > KR_MAX_BLOCK:
            raise ValueError(
                f"Kenward-Roger needs dense algebra per independent block of rows; the largest "
                f"block has {int(sizes.max())} rows (limit {KR_MAX_BLOCK}); use ddf='satterthwaite'")
        order = np.argsort(blocks, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(sizes)])
        for b in range(sizes.size):
            rows = order[bounds[b] : bounds[b + 1]]
            nb = rows.size
            Xb = X[rows]
            mats = np.empty((ng, nb, nb))
            same = {}
            for i, (k, r, c, _gamma) in enumerate(gens):
                if k < 0:
                    mats[i] = np.diag((resid_codes[rows] == r).astype(float))
                    continue
                t = terms[k]
                if k not in same:
                    cd = t.codes[rows]
                    same[k] = (cd[:, None] == cd[None, :]).astype(float)
                zr = t.Z[rows, r]
                zc = t.Z[rows, c]
                m = np.outer(zr, zc)
                if r != c:
                    m = m + m.T
                mats[i] = same[k] * m
            Sigma = np.tensordot(np.array([gm[3] for gm in gens]), mats, axes=1)
            Sinv = np.linalg.inv(Sigma)
            Sinv = (Sinv + Sinv.T) / 2.0
            T = Sinv @ Xb
            GT = mats @ T  # G_i Sigma^-1 X
            P -= np.einsum("np,inq->ipq", T, GT)
            SGT = Sinv @ GT
            Q += np.einsum("inp,jnq->ijpq", GT, SGT)
            Hm = mats @ Sinv
            K += np.einsum("iab,jba->ij", Hm, Hm)
        P = (P + np.swapaxes(P, 1, 2)) / 2.0
        PhiP = np.einsum("pq,iqr->ipr", phi, P)  # Phi P_i
        IE2 = (K - 2.0 * np.einsum("pq,ijqp->ij", phi, Q)
               + np.einsum("ipq,jqp->ij", PhiP, PhiP))
        IE2 = (IE2 + IE2.T) / 2.0
        if np.min(np.abs(np.linalg.eigvalsh(IE2))) > 1e-10:
            W = 2.0 * np.linalg.inv(IE2)
        else:
            W = 2.0 * np.linalg.pinv(IE2)
        W = (W + W.T) / 2.0
        PPhiP = np.einsum("ipq,jqr->ijpr", P, PhiP)  # P_i Phi P_j
        U = np.einsum("ij,ijpq->pq", W, Q - PPhiP)
        U = (U + U.T) / 2.0
        self.phi = phi
        self.phi_adj = phi + 2.0 * phi @ U @ phi
        self.phi_adj = (self.phi_adj + self.phi_adj.T) / 2.0
        self.P = P
        self.W = W
        self.information = IE2
        self.gamma = np.array([gm[3] for gm in gens])

    def vcov(self) -> np.ndarray:
        return self.phi_adj

    def df(self, L: np.ndarray) -> np.ndarray:
        L = np.atleast_2d(np.asarray(L, dtype=float))
        var = np.einsum("kp,pq,kq->k", L, self.phi, L)
        LPhi = L @ self.phi
        g = np.einsum("kp,ipq,kq->ki", LPhi, self.P, LPhi)
        denom = np.einsum("ki,ij,kj->k", g, self.W, g)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = 2.0 * var**2 / denom
        out = np.where(var > 0, out, np.nan)
        return np.where(np.isfinite(out) | np.isnan(out), out, np.inf)
