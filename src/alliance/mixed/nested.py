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

A third factor nested in the fine one (sessions within patients, ``session_effect`` of
:func:`alliance.growth.fit_growth`) is folded into the fine level's block: a patient's
random effects become its own and those of its sessions, :math:`\Lambda_1` repeats the
session term's :math:`\Lambda` on the diagonal (one parameter, its gradient summed over the
repeats), and a patient with fewer sessions than the most has columns of zeros, whose
identity block of :math:`A_i` adds nothing. The tree keeps two levels; only :math:`q_1`
grows (4 + 6 columns for the stacked model of six sessions).

An evaluation is one compiled pass over the levels (:mod:`alliance.mixed.kernel`), fine
levels first, then coarse ones, on arrays whose last axis is the levels: the cost grows
linearly with the number of levels, whatever the cluster sizes, with no
padding of therapist blocks to a common size (the general layout of
:class:`~alliance.mixed.model.Model`, whose blocks hold all the patients of a therapist,
costs :math:`O(\sum_t (n_t q_1 + q_2)^3)`). Several parameter points are evaluated in one
call (the finite differences of :func:`alliance.mixed.inference.curvature`).

The gradient (the algebra of :meth:`Model._core`, in this layout) uses, per term
:math:`k` and for every element :math:`(r, c)` of :math:`\Lambda_k`:
:math:`\partial\log|M|/\partial\Lambda_{k,rc} = 2\sum_{a \in k}(Z^\top W Z\Lambda M^{-1})_{aa,rc}`;
:math:`\partial r^2/\partial\Lambda_{k,rc} = -2\sum_{a\in k} a_{a,r}\,u_{a,c}` with
:math:`u = M^{-1}\Lambda^\top Z^\top W e` and :math:`a = Z^\top V^{-1}e` (so that
:math:`\Lambda^\top a = u`); and for REML
:math:`\partial\log|X^\top V^{-1}X|/\partial\Lambda_{k,rc} =
-2\sum_{a\in k}(C_a S^{-1} U_{X,a}^\top)_{rc}` with :math:`C = Z^\top V^{-1}X` and
:math:`U_X = M^{-1}\Lambda^\top Z^\top W X = \Lambda^\top C`.

The gradient in the residual-variance parameters (the algebra of :meth:`Model._rho_gradient`):
with precision weights :math:`w_l = e^{-2\rho_l}`, per residual level :math:`l`,
:math:`\partial\log|M|/\partial w_l = \mathrm{tr}(M^{-1}\Lambda^\top Z_l^\top Z_l\Lambda)`
from the same selected blocks of :math:`M^{-1}`;
:math:`\partial r^2/\partial w_l = \lVert e_l\rVert^2`, :math:`e = r - Z v`
(:math:`r = y - X\delta`, :math:`v = \Lambda u` the random effects); and for REML
:math:`\partial\log|X^\top V^{-1}X|/\partial w_l = \mathrm{tr}(S^{-1}F_l^\top F_l)`,
:math:`F = X - Z V_X` (:math:`V_X = \Lambda M^{-1}\Lambda^\top Z^\top W X`). Each is a sum
over the levels of a statistic of residual level :math:`l` (``Z_l'Z_l``, ``Z_l'[X y]`` per
patient and therapist) against a quantity of the point.
"""

from __future__ import annotations

import functools

import numpy as np

from alliance.mixed.kernel import ensure_compiled, fine_sums, nested_core, work_rows

#: Rows of the compiled loop's work arrays for (q1, q2, k1) (a call into numba: kept).
_work_rows = functools.lru_cache(maxsize=64)(work_rows)

__all__ = ["NestedLayout", "nesting"]


#: Largest fine-level block (the fine term's columns and an inner term's folded in) the layout
#: takes: the work arrays grow with its square per fine level, so beyond it the padded-block
#: layout of :class:`~alliance.mixed.model.Model` is used.
MAX_FINE_Q = 16


def _inside(terms, a: int, b: int) -> bool:
    """Every level of term ``a`` lies inside one level of term ``b``."""
    ta, tb = terms[a], terms[b]
    # each level of a's level of b, as one of its rows has it (the last written): a lies
    # inside b when every row agrees (a linear pass, no sort of the rows' pairs)
    owner = np.empty(len(ta.levels), dtype=tb.codes.dtype)
    owner[ta.codes] = tb.codes
    return bool(np.array_equal(owner[ta.codes], tb.codes))


def nesting(terms) -> tuple[int, int | None, int | None] | None:
    """``(fine, coarse, inner)`` term indices when the layout applies, else None.

    One term: ``(0, None, None)``. Two terms: the one whose every level lies inside one
    level of the other is fine (the one with more levels when both hold, e.g. one patient
    per therapist throughout). Three terms nested in a chain (sessions in patients in
    therapists): the innermost one is folded into the fine one (:class:`NestedLayout`)
    when the fine block stays within :data:`MAX_FINE_Q` columns. Otherwise, or with
    crossed factors: None.
    """
    if len(terms) == 1:
        return 0, None, None
    if len(terms) not in (2, 3):
        return None
    order = sorted(range(len(terms)), key=lambda k: -len(terms[k].levels))
    if len(terms) == 2:
        for f, c in (order, order[::-1]):
            if _inside(terms, f, c):
                return f, c, None
        return None
    i, f, c = order
    if not (_inside(terms, i, f) and _inside(terms, f, c)):
        return None
    slots = np.bincount(_owner_of(terms[i].codes, terms[f].codes, len(terms[i].levels)),
                        minlength=len(terms[f].levels))
    if terms[f].q + int(slots.max()) * terms[i].q > MAX_FINE_Q:
        return None
    return f, c, i


def _owner_of(codes: np.ndarray, owner: np.ndarray, n: int) -> np.ndarray:
    """For each of the ``n`` levels of a nested term, the code of the level that holds it
    (``codes`` and ``owner``: the two terms' codes of every row)."""
    out = np.empty(n, dtype=np.intp)
    out[codes] = owner
    return out


def _tri_positions(term, q: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Flat positions ``r * q + c`` of a term's free elements of Lambda (in a block of ``q``
    columns, default the term's own), and their theta index."""
    q = term.q if q is None else q
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
                 n_levels: int, inner: int | None = None):
        ensure_compiled()
        self.fine, self.coarse, self.inner = fine, coarse, inner
        tf = terms[fine]
        tc = terms[coarse] if coarse is not None else None
        n, k1 = XY.shape
        self.k1 = k1
        self.p = k1 - 1
        self.qf = tf.q
        Z1f = tf.Z
        if inner is not None:
            # An inner term (sessions within patients) folded into the fine one: the k-th
            # level of the inner term within a fine level gets the columns qf + k*qi ..
            # qf + (k+1)*qi of that fine level's block, and Lambda_1 repeats the inner term's
            # Lambda on the diagonal (the same theta), zero elsewhere. Slots of a fine level
            # with fewer inner levels are columns of zeros: their block of A is the identity
            # and adds nothing to the criterion, its gradient or the modes of the others.
            ti = terms[inner]
            self.qi = ti.q
            owner = _owner_of(ti.codes, tf.codes, len(ti.levels))  # fine level of each inner
            order = np.lexsort((np.arange(owner.size), owner))
            slot = np.empty(owner.size, dtype=np.intp)
            starts = np.r_[0, np.cumsum(np.bincount(owner, minlength=len(tf.levels)))]
            slot[order] = np.arange(owner.size) - starts[owner[order]]
            self.inner_owner, self.inner_slot = owner, slot
            n_slots = int(slot.max()) + 1
            Z1f = np.zeros((n, tf.q + n_slots * ti.q))
            Z1f[:, : tf.q] = tf.Z
            col = tf.q + slot[ti.codes] * ti.q
            for j in range(ti.q):
                Z1f[np.arange(n), col + j] = ti.Z[:, j]
        self.q1 = Z1f.shape[1]
        self.q2 = tc.q if tc is not None else 0
        self.n_levels = L = n_levels
        n1 = len(tf.levels)
        # fine levels in internal order: sorted by their coarse level (so that the levels of one
        # coarse level are consecutive), then by their own code
        if tc is not None:
            parent_of_fine = _owner_of(tf.codes, tc.codes, n1)
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
        # the fine statistics: per fine level, Z1'[Z1 Z2 X y] and Z2'[Z2 X y] (every fine
        # level has rows, every coarse level has fine levels)
        fcode = rank[tf.codes]
        q1, q2 = self.q1, self.q2
        M = np.concatenate([Z1f] + ([tc.Z] if tc is not None else []) + [XY], axis=1)
        F_lv, H_fine = fine_sums(M, q1, q2, fcode, np.ascontiguousarray(lv, dtype=np.intp), L,
                                 n1)
        # per residual level, the levels of the factor last (the layout of the compiled loop,
        # alliance.mixed.kernel): Z1'Z1, Z1'[X y], Z1'Z2 per fine level, Z2'Z2, Z2'[X y] per
        # coarse level
        def levels_last(st):
            return np.ascontiguousarray(np.moveaxis(st, 1, -1))

        self.F11 = levels_last(F_lv[..., :q1])
        self.F1X = levels_last(F_lv[..., q1 + q2 :])
        if tc is not None:
            self.F12 = levels_last(F_lv[..., q1 : q1 + q2])
            H_lv = np.add.reduceat(H_fine, self.starts, axis=1)  # (L, n2, q2, q2 + k1)
            self.H22 = levels_last(H_lv[..., :q2])
            self.H2X = levels_last(H_lv[..., q2:])
        else:  # no coarse level: empty statistics of its shapes (one compiled signature)
            self.F12 = np.zeros((L, q1, 0, n1))
            self.H22 = np.zeros((L, 0, 0, 0))
            self.H2X = np.zeros((L, 0, k1, 0))
        rows1, rows2 = _work_rows(q1, q2, k1)
        self._work = (np.zeros((rows1, n1)), np.zeros((rows2, n2)))
        self.pos1, self.th1 = _tri_positions(tf, self.q1)
        if inner is not None:
            pi, ti_th = _tri_positions(terms[inner], self.q1)
            off = np.arange(n_slots) * self.qi + self.qf
            self.pos1 = np.concatenate([self.pos1, *[pi + o * (self.q1 + 1) for o in off]])
            self.th1 = np.concatenate([self.th1] + [ti_th] * n_slots)
        self.pos2, self.th2 = (_tri_positions(tc) if tc is not None
                               else (np.empty(0, np.intp), np.empty(0, np.intp)))

    # ------------------------------------------------------------------ criterion
    def core(self, model, X: np.ndarray, want_grad: bool, want_modes: bool = False):
        """The criterion's parts at the points ``X`` (shape (m, npar)), compiled
        (:func:`alliance.mixed.kernel.nested_core`).

        Returns a dict of arrays with a leading axis of length m (see
        :meth:`alliance.mixed.model.Model._core` for the keys), ``ok``, a boolean array
        (False where the criterion is not finite: those points' other entries mean
        nothing), and with ``want_modes`` the conditional modes ``(v1, v2)`` of the fine
        and coarse levels (internal order).
        """
        X = np.ascontiguousarray(X, dtype=float)
        (dev, r2, logdet, logdetX, ok, delta, XVX, RX, g_a, g_r2, v1, v2) = nested_core(
            X, int(model.ntheta), bool(model.reml), int(model.n), float(model.yty),
            float(model.x_logdet), np.ascontiguousarray(model.level_n, dtype=float),
            np.ascontiguousarray(model.XY_lv, dtype=float), self.F11, self.F1X, self.F12,
            self.H22, self.H2X, self.parent, self.pos1, self.th1, self.pos2, self.th2,
            self.coarse is not None, bool(want_grad), bool(want_modes), *self._work)
        out = {"dev": dev, "r2": r2, "delta": delta, "XVX": XVX, "RX": RX, "logdet": logdet,
               "logdetX": logdetX, "dfr": model.n - self.p if model.reml else model.n, "ok": ok}
        if want_modes:
            out["modes"] = (v1, v2 if self.coarse is not None else None)
        if want_grad:
            out["g_a"] = g_a
            out["g_r2"] = g_r2
        return out
