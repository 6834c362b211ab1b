r"""The profiled criterion for one grouping factor, or two nested ones, without padding.

:class:`~alliance.mixed.model.Model` uses this layout when the random-effect terms are
one grouping factor (patients) or two factors of which one is nested in the other
(patients within therapists: every level of the *fine* factor belongs to exactly one
level of the *coarse* one) -- every model of the book. The matrix
:math:`M = I + \Lambda^\top Z^\top W Z\Lambda` (:mod:`alliance.mixed`) then has the
pattern of a two-level tree, and block elimination, fine levels first, needs only
matrices of the size of one level's random effects (:math:`q_1`, :math:`q_2`):

.. math::

    M = \begin{pmatrix} A & B^\top \\ B & D \end{pmatrix},\quad
    A = \mathrm{diag}(A_i),\ D = \mathrm{diag}(D_t),\quad
    S_t = D_t - \sum_{i \in t} B_{ti} A_i^{-1} B_{ti}^\top,\quad
    \log|M| = \sum_i \log|A_i| + \sum_t \log|S_t|,

with :math:`A_i = I + \Lambda_1^\top (Z_1^\top W Z_1)_i\Lambda_1` per fine level,
:math:`B_{ti}^\top = \Lambda_1^\top (Z_1^\top W Z_2)_i\Lambda_2` and
:math:`D_t = I + \Lambda_2^\top (Z_2^\top W Z_2)_t\Lambda_2` per coarse level. The
quadratic forms :math:`c^\top M^{-1} c` (:math:`c = \Lambda^\top Z^\top W[X\,y]`) follow
from the same elimination, and the gradient from the *selected* blocks of
:math:`M^{-1}` (the diagonal blocks and the fine-coarse blocks: Takahashi's
recursions for a two-level tree):

.. math::

    (M^{-1})_{tt} = S_t^{-1},\quad (M^{-1})_{it} = -A_i^{-1}B_{ti}^\top S_t^{-1},\quad
    (M^{-1})_{ii} = A_i^{-1} - (M^{-1})_{it} B_{ti} A_i^{-1}.

Every evaluation is a fixed number of batched NumPy operations on arrays of shape
(levels, :math:`q`, ...), whatever the cluster sizes: the cost grows linearly with the
number of levels, with no padding of therapist blocks to a common size (the general
layout of :class:`~alliance.mixed.model.Model`, whose blocks hold all the patients of a
therapist, costs :math:`O(\sum_t (n_t q_1 + q_2)^3)`). A leading axis of parameter
points lets several points be evaluated in one pass (the finite differences of
:func:`alliance.mixed.inference.curvature`).

The gradient (the algebra of :meth:`Model._core`, in this layout) uses, per term
:math:`k` and for every element :math:`(r, c)` of :math:`\Lambda_k`:
:math:`\partial\log|M|/\partial\Lambda_{k,rc} = 2\sum_{a \in k}(Z^\top W Z\Lambda M^{-1})_{aa,rc}`;
:math:`\partial r^2/\partial\Lambda_{k,rc} = -2\sum_{a\in k} a_{a,r}\,u_{a,c}` with
:math:`u = M^{-1}\Lambda^\top Z^\top W e` and :math:`a = Z^\top V^{-1}e` (so that
:math:`\Lambda^\top a = u`); and for REML
:math:`\partial\log|X^\top V^{-1}X|/\partial\Lambda_{k,rc} =
-2\sum_{a\in k}(C_a S^{-1} U_{X,a}^\top)_{rc}` with :math:`C = Z^\top V^{-1}X` and
:math:`U_X = M^{-1}\Lambda^\top Z^\top W X = \Lambda^\top C`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.sparse import csr_matrix

__all__ = ["NestedLayout", "nesting"]

#: Largest number of floats one pass of a batch of parameter points may hold in its
#: largest arrays (about 8 MB, measured best: a pass that outgrows the cache costs more per point
#: than single points); more points are evaluated in several passes.
_BATCH_FLOATS = 1_000_000


def nesting(terms) -> tuple[int, int | None] | None:
    """``(fine, coarse)`` term indices when the layout applies, else None.

    One term: ``(0, None)``. Two terms: the one whose every level lies inside one level
    of the other is fine (the one with more levels when both hold, e.g. one patient per
    therapist throughout). More terms, or crossed factors: None.
    """
    if len(terms) == 1:
        return 0, None
    if len(terms) != 2:
        return None
    order = sorted((0, 1), key=lambda k: -len(terms[k].levels))
    for f, c in (order, order[::-1]):
        tf, tc = terms[f], terms[c]
        pair = tf.codes.astype(np.int64) * len(tc.levels) + tc.codes
        if np.unique(pair).size == len(tf.levels):
            return f, c
    return None


def _tri_positions(term) -> tuple[np.ndarray, np.ndarray]:
    """Flat positions ``r * q + c`` of a term's free elements of Lambda, and their theta index."""
    q = term.q
    pos = np.array([r * q + c for r, c in term.template], dtype=np.intp)
    th = np.arange(term.theta_slice.start, term.theta_slice.stop, dtype=np.intp)
    return pos, th


class NestedLayout:
    """Sufficient statistics per level and the batched criterion (module docstring).

    Parameters
    ----------
    terms : list of Term
        The random-effect terms (one, or two nested ones).
    fine, coarse : int, int or None
        Their roles (:func:`nesting`).
    XY : ndarray (n, p + 1)
        The fixed-effect design (orthonormal Q of the caller's) and the OLS-shifted outcome.
    lv : ndarray (n,)
        Residual-variance level of every row (0..L-1).
    n_levels : int
        L.
    """

    def __init__(self, terms, fine: int, coarse: int | None, XY: np.ndarray, lv: np.ndarray,
                 n_levels: int):
        self.fine, self.coarse = fine, coarse
        tf = terms[fine]
        tc = terms[coarse] if coarse is not None else None
        n, k1 = XY.shape
        self.k1 = k1
        self.p = k1 - 1
        self.q1 = tf.q
        self.q2 = tc.q if tc is not None else 0
        self.n_levels = L = n_levels
        n1 = len(tf.levels)
        # fine levels in internal order: sorted by their coarse level (so that the levels of one
        # coarse level are consecutive), then by their own code
        if tc is not None:
            parent_of_fine = np.empty(n1, dtype=np.intp)
            parent_of_fine[tf.codes] = tc.codes
            fine_order = np.lexsort((np.arange(n1), parent_of_fine))
            n2 = len(tc.levels)
        else:
            parent_of_fine = np.zeros(n1, dtype=np.intp)
            fine_order = np.arange(n1)
            n2 = 0
        rank = np.empty(n1, dtype=np.intp)
        rank[fine_order] = np.arange(n1)
        self.fine_order = fine_order  # internal position -> level code of the fine term
        self.n1, self.n2 = n1, n2
        self.parent = parent_of_fine[fine_order]  # coarse level of each internal fine level
        if tc is not None:
            self.starts = np.flatnonzero(np.r_[True, self.parent[1:] != self.parent[:-1]])
            # sums over the fine levels of each coarse level: a sparse 0/1 matrix (a product
            # with it is far faster than np.add.reduceat along an inner axis)
            self.seg = csr_matrix((np.ones(n1), (self.parent, np.arange(n1))), shape=(n2, n1))
        # rows sorted by internal fine level; every fine level has rows, every coarse level
        # has fine levels, so no segment of a reduceat is empty
        fcode = rank[tf.codes]
        rows = np.argsort(fcode, kind="stable")
        seg = np.flatnonzero(np.r_[True, fcode[rows][1:] != fcode[rows][:-1]])
        Z1 = tf.Z[rows]
        Z2 = tc.Z[rows] if tc is not None else np.empty((n, 0))
        XYr = XY[rows]
        lvr = lv[rows]
        q1, q2 = self.q1, self.q2
        right = np.concatenate([Z1, Z2, XYr], axis=1)  # columns of the fine statistics
        F_lv = np.zeros((L, n1, q1, right.shape[1]))
        H_rows = np.concatenate([Z2, XYr], axis=1)
        H_fine = np.zeros((L, n1, q2, q2 + k1))
        for lvl in range(L):
            wrow = (lvr == lvl).astype(float) if L > 1 else None
            for a in range(q1):
                za = Z1[:, a] if wrow is None else Z1[:, a] * wrow
                F_lv[lvl, :, a, :] = np.add.reduceat(za[:, None] * right, seg, axis=0)
            for a in range(q2):
                za = Z2[:, a] if wrow is None else Z2[:, a] * wrow
                H_fine[lvl, :, a, :] = np.add.reduceat(za[:, None] * H_rows, seg, axis=0)
        # per residual level, contiguous: Z1'Z1, Z1'Z2, Z2'Z1, Z1'[X y] per fine level and
        # Z2'Z2, Z2'[X y] per coarse level
        self.F11 = np.ascontiguousarray(F_lv[..., :q1])
        self.F1X = np.ascontiguousarray(F_lv[..., q1 + q2 :])
        if tc is not None:
            self.F12 = np.ascontiguousarray(F_lv[..., q1 : q1 + q2])
            self.F21 = np.ascontiguousarray(np.swapaxes(self.F12, -1, -2))
            H_lv = np.add.reduceat(H_fine, self.starts, axis=1)  # (L, n2, q2, q2 + k1)
            self.H22 = np.ascontiguousarray(H_lv[..., :q2])
            self.H2X = np.ascontiguousarray(H_lv[..., q2:])
            self.F12_lv = _levels_last(self.F12)
            self.H22_lv = _levels_last(self.H22)
        self.F11_lv = _levels_last(self.F11)
        self.pos1, self.th1 = _tri_positions(tf)
        self.pos2, self.th2 = (_tri_positions(tc) if tc is not None
                               else (np.empty(0, np.intp), np.empty(0, np.intp)))
        # floats held by the largest arrays of one parameter point (batch sizing)
        self.point_floats = 16 * (n1 * q1 * (q1 + q2 + k1) + n2 * q2 * (q2 + k1)) * max(L, 1)

    # ------------------------------------------------------------------ helpers
    def _lambdas(self, theta: np.ndarray):
        m = theta.shape[0]
        q1, q2 = self.q1, self.q2
        lam1 = np.zeros((m, q1 * q1))
        lam1[:, self.pos1] = theta[:, self.th1]
        lam1 = lam1.reshape(m, 1, q1, q1)
        if self.coarse is None:
            return lam1, None
        lam2 = np.zeros((m, q2 * q2))
        lam2[:, self.pos2] = theta[:, self.th2]
        return lam1, lam2.reshape(m, 1, q2, q2)

    def _weighted(self, w, name):
        """A statistic at the precision weights ``w`` (m, L): sum_l w_l stat_l."""
        st = getattr(self, name)
        if w is None:
            return st
        return (w @ st.reshape(st.shape[0], -1)).reshape((w.shape[0],) + st.shape[1:])

    def _segsum(self, X: np.ndarray) -> np.ndarray:
        """Sums over the fine levels of each coarse level: (m, n1, ...) -> (m, n2, ...)."""
        m, n1 = X.shape[:2]
        rest = X.shape[2:]
        if m == 1:
            return (self.seg @ X.reshape(n1, -1)).reshape((1, self.n2) + rest)
        Xt = np.moveaxis(X, 1, 0).reshape(n1, -1)
        return np.moveaxis((self.seg @ Xt).reshape((self.n2, m) + rest), 0, 1)

    # ------------------------------------------------------------------ criterion
    def core(self, model, X: np.ndarray, want_grad: bool, want_modes: bool = False):
        """The criterion's parts at the points ``X`` (shape (m, npar)) in one pass.

        Returns a dict of arrays with a leading axis of length m (see
        :meth:`alliance.mixed.model.Model._core` for the keys) and ``ok``, a boolean
        array: False where the criterion is not finite. Raises
        ``np.linalg.LinAlgError`` when the fixed-effect factorisation fails at some point
        of the batch (the caller then evaluates the points one by one).
        """
        m = X.shape[0]
        p, k1, q1, q2 = self.p, self.k1, self.q1, self.q2
        L = self.n_levels
        theta = X[:, : model.ntheta]
        lam1, lam2 = self._lambdas(theta)
        nested = self.coarse is not None
        if model.nrho:
            rho = X[:, model.ntheta :]
            w = np.exp(-2.0 * np.concatenate([np.zeros((m, 1)), rho], axis=1))  # (m, L)
            XY = (w @ model.XY_lv.reshape(L, -1)).reshape(m, k1, k1)
            jac = 2.0 * rho @ model.level_n[1:]
        else:
            w = None
            XY = model.XY_lv
            jac = np.zeros(m)
        F11 = self._weighted(w, "F11")
        F1X = self._weighted(w, "F1X")
        lam1T = np.swapaxes(lam1, -1, -2)
        # ---- fine levels: A_i = I + L1'(Z1'WZ1)L1, G_i = L1'[Z1'WZ2 L2 | Z1'W[X y]]
        P1 = F11 @ lam1
        A = lam1T @ P1
        A[..., range(q1), range(q1)] += 1.0
        logd, L1i = _chol_inv(A)
        logdet = 2.0 * logd.sum(axis=(-1, -2)) + jac
        Ec = L1i @ (lam1T @ F1X)  # L^-1 c_i
        Ecr = Ec.reshape(m, -1, k1)
        quad = np.swapaxes(Ecr, -1, -2) @ Ecr  # sum_i c_i' A_i^-1 c_i
        if nested:
            # ---- coarse levels: the Schur complements S_t = D_t - sum_i B A^-1 B'
            H22 = self._weighted(w, "H22")
            H2X = self._weighted(w, "H2X")
            lam2T = np.swapaxes(lam2, -1, -2)
            F12 = self._weighted(w, "F12")
            Q12 = F12 @ lam2
            EB = L1i @ (lam1T @ Q12)  # L^-1 B_i'
            EBT = np.ascontiguousarray(np.swapaxes(EB, -1, -2))
            N2 = H22 @ lam2
            D = lam2T @ N2 - self._segsum(EBT @ EB)
            D[..., range(q2), range(q2)] += 1.0
            c2t = lam2T @ H2X - self._segsum(EBT @ Ec)
            logd2, L2i = _chol_inv(D)
            logdet = logdet + 2.0 * logd2.sum(axis=(-1, -2))
            K2 = L2i @ c2t
            K2r = K2.reshape(m, -1, k1)
            quad = quad + np.swapaxes(K2r, -1, -2) @ K2r
        XVXY = XY - quad
        XVX = XVXY[:, :p, :p]
        XVy = XVXY[:, :p, p]
        yVy = XVXY[:, p, p]
        RX = np.linalg.cholesky(XVX)
        delta = np.linalg.solve(XVX, XVy[..., None])[..., 0]
        r2 = yVy - np.sum(delta * XVy, axis=-1)
        with np.errstate(invalid="ignore"):
            ok = np.isfinite(r2) & (r2 > 1e-13 * max(model.yty, 1e-300)) & (r2 > 0) \
                & np.isfinite(logdet)
        dfr = model.n - p if model.reml else model.n
        if model.reml:
            logdetX = 2.0 * np.log(np.diagonal(RX, axis1=-2, axis2=-1)).sum(axis=-1) \
                + model.x_logdet
        else:
            logdetX = np.zeros(m)
        with np.errstate(invalid="ignore", divide="ignore"):
            dev = logdet + logdetX + dfr * (1.0 + np.log(2.0 * math.pi * r2 / dfr))
        out = {"dev": dev, "r2": r2, "delta": delta, "XVX": XVX, "RX": RX, "logdet": logdet,
               "logdetX": logdetX, "dfr": dfr, "ok": ok}
        if not (want_grad or want_modes):
            return out
        # ---- U = M^-1 L'Z'W [X y] per level, the conditional modes and the gradient
        dvec = np.concatenate([-delta, np.ones((m, 1))], axis=1)  # (m, k1)
        L1iT = np.ascontiguousarray(np.swapaxes(L1i, -1, -2))
        if nested:
            L2iT = np.ascontiguousarray(np.swapaxes(L2i, -1, -2))
            U2 = L2iT @ K2  # (m, n2, q2, k1)
            U2p = U2[:, self.parent]
            U1 = L1iT @ (Ec - EB @ U2p)
            V2 = lam2 @ U2
            V2p = V2[:, self.parent]
        else:
            U1 = L1iT @ Ec
        V1 = lam1 @ U1  # Lambda U: the (unscaled) random effects of each column
        if want_modes:
            out["modes"] = (_times(V1, dvec), _times(V2, dvec) if nested else None)
            if not want_grad:
                return out
        Gc1 = F1X - F11 @ V1  # Z'V^-1 [X y] of the fine levels
        if nested:
            F21 = self._weighted(w, "F21")
            Gc1 = Gc1 - F12 @ V2p
            Gc2 = H2X - H22 @ V2 - self._segsum(F21 @ V1)
        g_r2 = np.zeros((m, model.npar))
        g_a = np.zeros((m, model.npar))
        ue1 = _times(U1, dvec)  # u of the residual e = y - X delta
        a1 = _times(Gc1, dvec)
        Ar1 = np.swapaxes(a1, -1, -2) @ ue1
        g_r2[:, self.th1] = -2.0 * Ar1.reshape(m, -1)[:, self.pos1]
        Mii = _gram(L1iT, L1i)  # A^-1
        if nested:
            Stt = _gram(L2iT, L2i)  # S^-1 = (M^-1)_tt
            Sp = Stt[:, self.parent]
            AiB = L1iT @ EB  # A^-1 B'
            AiBT = EBT @ L1i
            Mit = -(AiB @ Sp)  # (M^-1)_it
            Mii = Mii - Mit @ AiBT
        GL1 = _sum_ab(P1, Mii)
        if nested:
            GL1 = GL1 + _sum_abt(Q12, Mit)
            GL2 = _sum_ab(N2, Stt) + _sum_ab(F21 @ lam1, Mit)
            ue2 = _times(U2, dvec)
            a2 = _times(Gc2, dvec)
            Ar2 = np.swapaxes(a2, -1, -2) @ ue2
            g_r2[:, self.th2] = -2.0 * Ar2.reshape(m, -1)[:, self.pos2]
        Sinv = None
        if model.reml:
            Sinv = np.linalg.inv(XVX)
            S4 = np.zeros((m, 1, k1, k1))  # [[S^-1, 0], [0, 0]]: the X columns of [X y]
            S4[:, 0, :p, :p] = Sinv
            GL1 = GL1 - _sum_abt(Gc1 @ S4, U1)
            if nested:
                GL2 = GL2 - _sum_abt(Gc2 @ S4, U2)
        g_a[:, self.th1] = 2.0 * GL1.reshape(m, -1)[:, self.pos1]
        if nested:
            g_a[:, self.th2] = 2.0 * GL2.reshape(m, -1)[:, self.pos2]
        if model.nrho:
            ga_rho, gr2_rho = self._rho_gradient(
                model, w, lam1, lam2, Mii, Mit if nested else None, Stt if nested else None,
                V1, V2 if nested else None, V2p if nested else None, dvec, Sinv)
            g_a[:, model.ntheta :] = ga_rho
            g_r2[:, model.ntheta :] = gr2_rho
        out["g_a"] = g_a
        out["g_r2"] = g_r2
        return out

    def _rho_gradient(self, model, w, lam1, lam2, Mii, Mit, Stt, V1, V2, V2p, dvec, Sinv):
        r"""The rho-gradients of the parts, as :meth:`Model._rho_gradient` (same algebra).

        With precision weights :math:`w_l = e^{-2\rho_l}`, per residual level :math:`l`:
        :math:`\partial\log|M|/\partial w_l = \mathrm{tr}(M^{-1}\Lambda^\top Z_l^\top Z_l
        \Lambda)` from the selected blocks of :math:`M^{-1}`;
        :math:`\partial r^2/\partial w_l = \lVert e_l\rVert^2`, :math:`e = r - Z v`
        (:math:`r = y - X\delta`, :math:`v = \Lambda u` the random effects), and for REML
        :math:`\partial\log|X^\top V^{-1}X|/\partial w_l = \mathrm{tr}(S^{-1}F_l^\top F_l)`,
        :math:`F = X - Z V_X` (:math:`V_X = \Lambda M^{-1}\Lambda^\top Z^\top W X`). Every
        term is a sum over levels of a statistic of level :math:`l` (``Z_l'Z_l``,
        ``Z_l'[X y]`` per patient and therapist) against a quantity of the point, so each is
        one product over the levels; only the REML term needs three small products per level
        (:math:`V_X S^{-1} V_X^\top` and its fine-coarse counterpart).
        """
        m = w.shape[0]
        L = self.n_levels
        k1, p = self.k1, self.p
        nested = lam2 is not None
        l1, l2 = lam1[:, 0], (lam2[:, 0] if nested else None)
        d_logM = _trace_sum(Mii, self.F11_lv, l1, l1)
        if nested:
            d_logM = d_logM + 2.0 * _trace_sum(Mit, self.F12_lv, l1, l2) \
                + _trace_sum(Stt, self.H22_lv, l2, l2)
        # ||e_l||^2 = d'[X y]_l'[X y]_l d - 2 v' Z_l'[X y]_l d + v' Z_l'Z_l v
        v1 = _times(V1, dvec)  # (m, n1, q1)
        d_r2 = np.einsum("ma,lab,mb->ml", dvec, model.XY_lv, dvec)
        zr = (self.F1X.reshape(-1, k1) @ dvec.T).reshape(L, -1, m)  # (L, n1*q1, m)
        d_r2 -= 2.0 * np.einsum("lim,mi->ml", zr, v1.reshape(m, -1))
        d_r2 += (v1[..., :, None] * v1[..., None, :]).reshape(m, -1) @ self.F11.reshape(L, -1).T
        if nested:
            v2 = _times(V2, dvec)  # (m, n2, q2)
            zr2 = (self.H2X.reshape(-1, k1) @ dvec.T).reshape(L, -1, m)
            d_r2 -= 2.0 * np.einsum("lim,mi->ml", zr2, v2.reshape(m, -1))
            v2p = v2[:, self.parent]
            d_r2 += 2.0 * ((v1[..., :, None] * v2p[..., None, :]).reshape(m, -1)
                           @ self.F12.reshape(L, -1).T)
            d_r2 += (v2[..., :, None] * v2[..., None, :]).reshape(m, -1) \
                @ self.H22.reshape(L, -1).T
        chain = -2.0 * w
        ga = chain * d_logM + 2.0 * model.level_n
        if model.reml:
            # tr(S^-1 F_l'F_l) = <S^-1, X_l'X_l> - 2 <Z_l'X_l, V_X S^-1> + <Z_l'Z_l, V_X S^-1 V_X'>
            S4 = np.zeros((m, 1, k1, k1))
            S4[:, 0, :p, :p] = Sinv
            Y1 = V1 @ S4  # (m, n1, q1, k1): V_X S^-1 in the X columns
            d_X = np.einsum("mab,lab->ml", Sinv, model.XY_lv[:, :p, :p])
            d_X -= 2.0 * (Y1.reshape(m, -1) @ self.F1X.reshape(L, -1).T)
            V1T = np.ascontiguousarray(np.swapaxes(V1, -1, -2))
            d_X += (Y1 @ V1T).reshape(m, -1) @ self.F11.reshape(L, -1).T
            if nested:
                Y2 = V2 @ S4
                d_X -= 2.0 * (Y2.reshape(m, -1) @ self.H2X.reshape(L, -1).T)
                V2pT = np.ascontiguousarray(np.swapaxes(V2p, -1, -2))
                d_X += 2.0 * ((Y1 @ V2pT).reshape(m, -1) @ self.F12.reshape(L, -1).T)
                V2T = np.ascontiguousarray(np.swapaxes(V2, -1, -2))
                d_X += (Y2 @ V2T).reshape(m, -1) @ self.H22.reshape(L, -1).T
            ga = ga + chain * d_X
        gr2 = chain * d_r2
        return ga[:, 1:], gr2[:, 1:]


def _times(A: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``A_i d`` for every level: (m, n, q, k) times (m, k) -> (m, n, q), one product per point."""
    m, n, q, k = A.shape
    return (np.ascontiguousarray(A).reshape(m, n * q, k) @ d[:, :, None]).reshape(m, n, q)


def _levels_last(st: np.ndarray) -> np.ndarray:
    """Per-level statistics (L, n, a, b) as (n, L * a * b): the layout of :func:`_trace_sum`."""
    n = st.shape[1]
    return np.ascontiguousarray(st.transpose(1, 0, 2, 3)).reshape(n, -1)


def _trace_sum(M: np.ndarray, F: np.ndarray, la: np.ndarray, lb: np.ndarray) -> np.ndarray:
    r""":math:`\sum_i \langle \Lambda_a M_i \Lambda_b^\top, F_i^l
angle` for every level
    :math:`l`: ``M`` (m, n, r, s), ``F`` (n, L * a * b) (:func:`_levels_last`), ``la``
    (m, a, r), ``lb`` (m, b, s); returns (m, L)."""
    m, n, r, s = M.shape
    a, b = la.shape[1], lb.shape[1]
    C = np.swapaxes(M.reshape(m, n, r * s), -1, -2) @ F  # (m, r*s, L*a*b)
    C = C.reshape(m, r, s, -1, a, b)
    return np.einsum("mrslab,mar,mbs->ml", C, la, lb)


def _sum_ab(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    r""":math:`\sum_i A_i B_i` over axis 1 of (m, n, a, b) and (m, n, b, c), as one product."""
    m, n, a, b = A.shape
    A2 = np.ascontiguousarray(A.transpose(0, 2, 1, 3)).reshape(m, a, n * b)
    return A2 @ np.ascontiguousarray(B).reshape(B.shape[0], n * b, B.shape[-1])


def _sum_abt(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    r""":math:`\sum_i A_i B_i^\top` over axis 1 of (m, n, a, b) and (m, n, c, b), as one product."""
    m, n, a, b = A.shape
    A2 = np.ascontiguousarray(A.transpose(0, 2, 1, 3)).reshape(m, a, n * b)
    B2 = np.ascontiguousarray(B.transpose(0, 2, 1, 3)).reshape(B.shape[0], B.shape[2], n * b)
    return A2 @ np.swapaxes(B2, -1, -2)


def _chol_inv(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Cholesky factors of a stack of small SPD matrices, entry by entry across the stack.

    ``A`` has shape (..., q, q). Returns ``log_diag`` (..., q), the logarithms of the
    diagonal of :math:`L` (:math:`A = LL^\top`), and :math:`L^{-1}` (..., q, q). Each step is
    one vectorised operation over the whole stack (about :math:`q^3/3` of them), which for
    the q <= 4 of the book's models is far cheaper than NumPy's per-matrix LAPACK calls. A
    matrix that is not positive definite gives NaN in its entries (the caller checks
    ``log_diag``).
    """
    q = A.shape[-1]
    Li = np.zeros(A.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        if q == 1:
            d = np.sqrt(A[..., 0, 0])
            Li[..., 0, 0] = 1.0 / d
            return np.log(d)[..., None], Li
        Lf = [[None] * q for _ in range(q)]
        inv_d = [None] * q
        logd = np.empty(A.shape[:-1])
        for j in range(q):
            s = A[..., j, j]
            for k in range(j):
                s = s - Lf[j][k] * Lf[j][k]
            d = np.sqrt(s)
            logd[..., j] = np.log(d)
            inv_d[j] = 1.0 / d
            for i in range(j + 1, q):
                s = A[..., i, j]
                for k in range(j):
                    s = s - Lf[i][k] * Lf[j][k]
                Lf[i][j] = s * inv_d[j]
        # L^-1 column by column: (L^-1)_ij = -(sum_{k=j}^{i-1} L_ik (L^-1)_kj) / L_ii
        Lc = [[None] * q for _ in range(q)]
        for j in range(q):
            Lc[j][j] = inv_d[j]
            Li[..., j, j] = inv_d[j]
            for i in range(j + 1, q):
                s = Lf[i][j] * Lc[j][j]
                for k in range(j + 1, i):
                    s = s + Lf[i][k] * Lc[k][j]
                Lc[i][j] = -s * inv_d[i]
                Li[..., i, j] = Lc[i][j]
    return logd, Li


def _gram(LiT: np.ndarray, Li: np.ndarray) -> np.ndarray:
    """:math:`L^{-\top}L^{-1}` of a stack: entry by entry for q <= 2 on long stacks, else one
    batched product (measured: the faster of the two in each case)."""
    if Li.shape[-1] <= 2 and Li.size > 4000:
        return _tri_gram(Li)
    return LiT @ Li


def _tri_gram(Li: np.ndarray) -> np.ndarray:
    r""":math:`L^{-\top}L^{-1} = A^{-1}` for a stack of lower-triangular ``Li``, entry by entry."""
    q = Li.shape[-1]
    out = np.empty(Li.shape)
    for i in range(q):
        for j in range(i, q):
            s = Li[..., j, i] * Li[..., j, j]
            for k in range(j + 1, q):
                s = s + Li[..., k, i] * Li[..., k, j]
            out[..., i, j] = s
            if i != j:
                out[..., j, i] = s
    return out
