r"""The nested layout's criterion, gradient and modes as one compiled loop (numba).

:class:`~alliance.mixed.nested.NestedLayout` holds the sufficient statistics per level;
:func:`nested_core` runs the block elimination of its module docstring over them, level by
level, for a batch of parameter points. The algebra is the one written out there and in
:meth:`NestedLayout._rho_gradient`; here it is a loop over the fine levels (patients) and
one over the coarse levels (therapists), with the :math:`q \le 4` matrices of one level
held in a few small arrays.

Why compiled: at the book's size an evaluation of the criterion works on arrays of
117 levels of 2 x 2 matrices, and its cost in NumPy was the 380-odd calls into NumPy per
evaluation (0.33 ms), not the arithmetic; at 100 times the size NumPy's batched products
of 2 x 2 and 4 x 4 matrices are a small fraction of the machine's speed. One compiled loop
costs a few microseconds at 1x and runs the arithmetic at the machine's speed at 100x
(``benchmarks/bench_peers.py``). The function is compiled once per machine and Python
(``cache=True``: numba keeps the machine code beside this file, or in its cache folder when
this folder is not writable) and then loads in a fraction of a second.

The arithmetic is plain IEEE double precision in a fixed order (no ``fastmath``, no
threads), so a point gives the same bits on every call and in every process.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["nested_core"]

_CACHE = True


@njit(cache=_CACHE)
def _chol(A, q, Lf, logd):
    """Lower Cholesky factor of the q x q matrix ``A`` into ``Lf`` and the logarithms of
    its diagonal into ``logd``; False when ``A`` is not positive definite (a pivot <= 0 or
    not finite)."""
    for j in range(q):
        s = A[j, j]
        for k in range(j):
            s -= Lf[j, k] * Lf[j, k]
        if not s > 0.0 or not math.isfinite(s):
            return False
        d = math.sqrt(s)
        Lf[j, j] = d
        logd[j] = math.log(d)
        for i in range(j + 1, q):
            s = A[i, j]
            for k in range(j):
                s -= Lf[i, k] * Lf[j, k]
            Lf[i, j] = s / d
        for i in range(j):
            Lf[i, j] = 0.0
    return True


@njit(cache=_CACHE)
def _tri_inv(Lf, q, Li):
    """Inverse of the lower-triangular ``Lf`` into ``Li`` (lower triangular)."""
    for j in range(q):
        Li[j, j] = 1.0 / Lf[j, j]
        for i in range(j):
            Li[i, j] = 0.0
        for i in range(j + 1, q):
            s = 0.0
            for k in range(j, i):
                s += Lf[i, k] * Li[k, j]
            Li[i, j] = -s / Lf[i, i]


@njit(cache=_CACHE)
def _ab(A, B, out):
    """out = A B."""
    n, m = A.shape
    r = B.shape[1]
    for i in range(n):
        for j in range(r):
            s = 0.0
            for k in range(m):
                s += A[i, k] * B[k, j]
            out[i, j] = s


@njit(cache=_CACHE)
def _atb(A, B, out):
    """out = A' B."""
    m, n = A.shape
    r = B.shape[1]
    for i in range(n):
        for j in range(r):
            s = 0.0
            for k in range(m):
                s += A[k, i] * B[k, j]
            out[i, j] = s


@njit(cache=_CACHE)
def _abt(A, B, out):
    """out = A B'."""
    n, m = A.shape
    r = B.shape[0]
    for i in range(n):
        for j in range(r):
            s = 0.0
            for k in range(m):
                s += A[i, k] * B[j, k]
            out[i, j] = s


@njit(cache=_CACHE)
def _xs(A, Sinv, p, out):
    """out = A S4 with S4 = [[S^-1, 0], [0, 0]] (the X columns of [X y]): out[:, :p] =
    A[:, :p] S^-1 and out[:, p] = 0."""
    n = A.shape[0]
    for i in range(n):
        for j in range(p):
            s = 0.0
            for k in range(p):
                s += A[i, k] * Sinv[k, j]
            out[i, j] = s
        out[i, p] = 0.0


@njit(cache=_CACHE)
def _abt_p(A, B, p, out):
    """out = A[:, :p] B[:, :p]' (A's last column is zero)."""
    n = A.shape[0]
    r = B.shape[0]
    for i in range(n):
        for j in range(r):
            s = 0.0
            for k in range(p):
                s += A[i, k] * B[j, k]
            out[i, j] = s


@njit(cache=_CACHE)
def _av(A, v, out):
    """out = A v."""
    n, m = A.shape
    for i in range(n):
        s = 0.0
        for k in range(m):
            s += A[i, k] * v[k]
        out[i] = s


@njit(cache=_CACHE)
def _inner(A, B):
    """<A, B> = sum of the elementwise product."""
    n, m = A.shape
    s = 0.0
    for i in range(n):
        for j in range(m):
            s += A[i, j] * B[i, j]
    return s


@njit(cache=_CACHE)
def _quad(u, A, v):
    """u' A v."""
    n, m = A.shape
    s = 0.0
    for i in range(n):
        t = 0.0
        for j in range(m):
            t += A[i, j] * v[j]
        s += u[i] * t
    return s


@njit(cache=_CACHE)
def _weigh(st, w, out):
    """out = sum_l w_l st[l] for the statistics of every level (st: (L, ...) and out (...),
    both C-contiguous)."""
    L = st.shape[0]
    s2 = st.reshape(L, -1)
    o = out.reshape(-1)
    for e in range(o.size):
        s = 0.0
        for l in range(L):
            s += w[l] * s2[l, e]
        o[e] = s


@njit(cache=_CACHE)
def _dot(A, B):
    """sum of the elementwise product of two C-contiguous arrays of one shape."""
    a = A.reshape(-1)
    b = B.reshape(-1)
    s = 0.0
    for e in range(a.size):
        s += a[e] * b[e]
    return s


@njit(cache=_CACHE)
def nested_core(X, ntheta, reml, n, yty, x_logdet, level_n, XY_lv, F11, F1X, F12, H22, H2X,
                parent, pos1, th1, pos2, th2, nested, want_grad, want_modes):  # pragma: no cover
    r"""The criterion's parts at each row of ``X`` (m, npar) (see ``NestedLayout.core``).

    The statistics have a leading axis of residual-variance levels: ``F11`` (L, n1, q1, q1),
    ``F1X`` (L, n1, q1, k1), ``F12`` (L, n1, q1, q2), ``H22`` (L, n2, q2, q2), ``H2X``
    (L, n2, q2, k1), ``XY_lv`` (L, k1, k1); ``parent`` (n1,) is the coarse level of each
    fine level (fine levels of one coarse level consecutive). ``pos``/``th``: the flat
    positions in Lambda of each term's free elements and their index in theta.

    Returns ``dev, r2, logdet, logdetX, ok`` (m,), ``delta`` (m, p), ``XVX`` and ``RX``
    (m, p, p), ``g_a`` and ``g_r2`` (m, npar; zero unless ``want_grad``) and the modes
    ``v1`` (m, n1, q1), ``v2`` (m, n2, q2) (zero unless ``want_modes``). ``ok`` is False
    where the criterion is not finite (a matrix that is not positive definite, a residual
    sum of squares at rounding level); the other outputs of such a point are meaningless.
    """
    m, npar = X.shape
    L, n1, q1, k1 = F1X.shape
    q2 = H22.shape[2]
    n2 = H22.shape[1]
    p = k1 - 1
    dfr = n - p if reml else n
    nrho = npar - ntheta

    dev = np.full(m, np.nan)
    r2o = np.full(m, np.nan)
    logdeto = np.full(m, np.nan)
    logdetXo = np.zeros(m)
    ok = np.zeros(m, dtype=np.bool_)
    delta_o = np.zeros((m, p))
    XVX_o = np.zeros((m, p, p))
    RX_o = np.zeros((m, p, p))
    g_a = np.zeros((m, npar))
    g_r2 = np.zeros((m, npar))
    mm = m if want_modes else 0
    v1o = np.zeros((mm, n1, q1))
    v2o = np.zeros((mm, n2, q2))

    # per-point work arrays, reused
    lam1 = np.zeros((q1, q1))
    lam2 = np.zeros((q2, q2))
    w = np.ones(L)
    XY = np.zeros((k1, k1))
    f11 = np.zeros((n1, q1, q1))
    f1x = np.zeros((n1, q1, k1))
    f12 = np.zeros((n1, q1, q2))
    h22 = np.zeros((n2, q2, q2))
    h2x = np.zeros((n2, q2, k1))
    P1 = np.zeros((n1, q1, q1))
    L1i = np.zeros((n1, q1, q1))
    Ec = np.zeros((n1, q1, k1))
    Q12 = np.zeros((n1, q1, q2))
    EB = np.zeros((n1, q1, q2))
    N2 = np.zeros((n2, q2, q2))
    L2i = np.zeros((n2, q2, q2))
    K2 = np.zeros((n2, q2, k1))
    Ssum = np.zeros((n2, q2, q2))
    csum = np.zeros((n2, q2, k1))
    quad = np.zeros((k1, k1))
    A = np.zeros((q1, q1))
    Lf = np.zeros((q1, q1))
    ld1 = np.zeros(q1)
    t1 = np.zeros((q1, q1))
    t1x = np.zeros((q1, k1))
    t12 = np.zeros((q1, q2))
    D = np.zeros((q2, q2))
    Lf2 = np.zeros((q2, q2))
    ld2 = np.zeros(q2)
    t2x = np.zeros((q2, k1))
    t22 = np.zeros((q2, q2))
    XVXY = np.zeros((k1, k1))
    RXl = np.zeros((p, p))
    ldx = np.zeros(p)
    RXi = np.zeros((p, p))
    Sinv = np.zeros((p, p))
    dvec = np.zeros(k1)
    # gradient work arrays
    U1 = np.zeros((n1, q1, k1))
    V1 = np.zeros((n1, q1, k1))
    U2 = np.zeros((n2, q2, k1))
    V2 = np.zeros((n2, q2, k1))
    Mii = np.zeros((n1, q1, q1))
    Mit = np.zeros((n1, q1, q2))
    Stt = np.zeros((n2, q2, q2))
    GL1 = np.zeros((q1, q1))
    GL2 = np.zeros((q2, q2))
    Ar1 = np.zeros((q1, q1))
    Ar2 = np.zeros((q2, q2))
    Gc1 = np.zeros((q1, k1))
    Gc2 = np.zeros((n2, q2, k1))
    u1 = np.zeros(q1)
    a1 = np.zeros(q1)
    u2 = np.zeros(q2)
    a2 = np.zeros(q2)
    v1 = np.zeros((n1, q1))
    v2 = np.zeros((n2, q2))
    AiB = np.zeros((q1, q2))
    t12b = np.zeros((q1, q2))
    t21 = np.zeros((q2, q1))
    t2k = np.zeros((q2, k1))
    t1k = np.zeros((q1, k1))
    Y2 = np.zeros((q2, k1))
    lMl12 = np.zeros((q1, q2))
    nr = n1 if nrho else 0  # the rho gradient's coefficients, per level
    nr2 = n2 if nrho else 0
    Y1 = np.zeros((nr if reml else 0, q1, k1))
    Ca11 = np.zeros((nr, q1, q1))
    Cr11 = np.zeros((nr, q1, q1))
    Ca1X = np.zeros((nr, q1, k1))
    Cr1X = np.zeros((nr, q1, k1))
    Ca12 = np.zeros((nr, q1, q2))
    Cr12 = np.zeros((nr, q1, q2))
    Ca22 = np.zeros((nr2, q2, q2))
    Cr22 = np.zeros((nr2, q2, q2))
    Ca2X = np.zeros((nr2, q2, k1))
    Cr2X = np.zeros((nr2, q2, k1))
    YV1 = np.zeros((q1, q1))
    YV12 = np.zeros((q1, q2))
    YV2 = np.zeros((q2, q2))

    for j in range(m):
        # ---- Lambda, the precision weights, the weighted statistics
        lam1[:, :] = 0.0
        for e in range(pos1.size):
            lam1[pos1[e] // q1, pos1[e] % q1] = X[j, th1[e]]
        if nested:
            lam2[:, :] = 0.0
            for e in range(pos2.size):
                lam2[pos2[e] // q2, pos2[e] % q2] = X[j, th2[e]]
        jac = 0.0
        w[0] = 1.0
        for l in range(1, L):
            rho = X[j, ntheta + l - 1]
            w[l] = math.exp(-2.0 * rho)
            jac += 2.0 * rho * level_n[l]
        _weigh(XY_lv, w, XY)
        _weigh(F11, w, f11)
        _weigh(F1X, w, f1x)
        _weigh(F12, w, f12)
        _weigh(H22, w, h22)
        _weigh(H2X, w, h2x)
        # ---- fine levels: A_i = I + L1'(Z1'WZ1)L1 and its elimination
        good = True
        logdet = jac
        quad[:, :] = 0.0
        Ssum[:, :, :] = 0.0
        csum[:, :, :] = 0.0
        for i in range(n1):
            _ab(f11[i], lam1, P1[i])
            _atb(lam1, P1[i], A)
            for a in range(q1):
                A[a, a] += 1.0
            if not _chol(A, q1, Lf, ld1):
                good = False
                break
            _tri_inv(Lf, q1, L1i[i])
            for a in range(q1):
                logdet += 2.0 * ld1[a]
            _atb(lam1, f1x[i], t1x)
            _ab(L1i[i], t1x, Ec[i])
            for a in range(k1):
                for b in range(k1):
                    s = 0.0
                    for r in range(q1):
                        s += Ec[i, r, a] * Ec[i, r, b]
                    quad[a, b] += s
            if nested:
                t = parent[i]
                _ab(f12[i], lam2, Q12[i])
                _atb(lam1, Q12[i], t12)
                _ab(L1i[i], t12, EB[i])
                for a in range(q2):
                    for b in range(q2):
                        s = 0.0
                        for r in range(q1):
                            s += EB[i, r, a] * EB[i, r, b]
                        Ssum[t, a, b] += s
                    for b in range(k1):
                        s = 0.0
                        for r in range(q1):
                            s += EB[i, r, a] * Ec[i, r, b]
                        csum[t, a, b] += s
        if not good:
            continue
        # ---- coarse levels: the Schur complements S_t = D_t - sum_i B A^-1 B'
        if nested:
            for t in range(n2):
                _ab(h22[t], lam2, N2[t])
                _atb(lam2, N2[t], D)
                for a in range(q2):
                    for b in range(q2):
                        D[a, b] -= Ssum[t, a, b]
                    D[a, a] += 1.0
                _atb(lam2, h2x[t], t2x)
                for a in range(q2):
                    for b in range(k1):
                        t2x[a, b] -= csum[t, a, b]
                if not _chol(D, q2, Lf2, ld2):
                    good = False
                    break
                _tri_inv(Lf2, q2, L2i[t])
                for a in range(q2):
                    logdet += 2.0 * ld2[a]
                _ab(L2i[t], t2x, K2[t])
                for a in range(k1):
                    for b in range(k1):
                        s = 0.0
                        for r in range(q2):
                            s += K2[t, r, a] * K2[t, r, b]
                        quad[a, b] += s
            if not good:
                continue
        # ---- the fixed effects
        for a in range(k1):
            for b in range(k1):
                XVXY[a, b] = XY[a, b] - quad[a, b]
        if not _chol(XVXY[:p, :p], p, RXl, ldx):
            continue
        _tri_inv(RXl, p, RXi)
        for a in range(p):  # S^-1 = RX^-T RX^-1
            for b in range(p):
                s = 0.0
                for r in range(max(a, b), p):
                    s += RXi[r, a] * RXi[r, b]
                Sinv[a, b] = s
        r2 = XVXY[p, p]
        for a in range(p):
            s = 0.0
            for b in range(p):
                s += Sinv[a, b] * XVXY[b, p]
            delta_o[j, a] = s
            r2 -= s * XVXY[a, p]
        logdetX = 0.0
        if reml:
            for a in range(p):
                logdetX += 2.0 * ldx[a]
            logdetX += x_logdet
        for a in range(p):
            for b in range(p):
                XVX_o[j, a, b] = XVXY[a, b]
                RX_o[j, a, b] = RXl[a, b]
        r2o[j] = r2
        logdeto[j] = logdet
        logdetXo[j] = logdetX
        if not (math.isfinite(r2) and r2 > 1e-13 * max(yty, 1e-300) and r2 > 0.0
                and math.isfinite(logdet)):
            continue
        ok[j] = True
        dev[j] = logdet + logdetX + dfr * (1.0 + math.log(2.0 * math.pi * r2 / dfr))
        if not (want_grad or want_modes):
            continue
        # ---- U = M^-1 L'Z'W [X y] per level, Lambda U, the modes
        for a in range(p):
            dvec[a] = -delta_o[j, a]
        dvec[p] = 1.0
        if nested:
            for t in range(n2):
                _atb(L2i[t], K2[t], U2[t])
                _ab(lam2, U2[t], V2[t])
        for i in range(n1):
            if nested:
                _ab(EB[i], U2[parent[i]], t1k)
                for a in range(q1):
                    for b in range(k1):
                        t1k[a, b] = Ec[i, a, b] - t1k[a, b]
                _atb(L1i[i], t1k, U1[i])
            else:
                _atb(L1i[i], Ec[i], U1[i])
            _ab(lam1, U1[i], V1[i])
        if want_modes:
            for i in range(n1):
                _av(V1[i], dvec, v1o[j, i])
            if nested:
                for t in range(n2):
                    _av(V2[t], dvec, v2o[j, t])
        if not want_grad:
            continue
        # ---- selected blocks of M^-1
        for i in range(n1):
            _atb(L1i[i], L1i[i], Mii[i])  # A^-1
        if nested:
            for t in range(n2):
                _atb(L2i[t], L2i[t], Stt[t])  # S^-1 = (M^-1)_tt
            for i in range(n1):
                _atb(L1i[i], EB[i], AiB)  # A^-1 B'
                _ab(AiB, Stt[parent[i]], t12b)
                for a in range(q1):
                    for b in range(q2):
                        Mit[i, a, b] = -t12b[a, b]  # (M^-1)_it
                _abt(Mit[i], AiB, t1)  # Mit (A^-1 B')'
                for a in range(q1):
                    for b in range(q1):
                        Mii[i, a, b] -= t1[a, b]
        # ---- the theta gradient
        GL1[:, :] = 0.0
        Ar1[:, :] = 0.0
        if nested:
            GL2[:, :] = 0.0
            Ar2[:, :] = 0.0
            for t in range(n2):
                _ab(h22[t], V2[t], t2k)
                for a in range(q2):
                    for b in range(k1):
                        Gc2[t, a, b] = h2x[t, a, b] - t2k[a, b]
        for i in range(n1):
            # Z'V^-1 [X y] of the fine level
            _ab(f11[i], V1[i], t1x)
            for a in range(q1):
                for b in range(k1):
                    Gc1[a, b] = f1x[i, a, b] - t1x[a, b]
            if nested:
                t = parent[i]
                _ab(f12[i], V2[t], t1x)
                for a in range(q1):
                    for b in range(k1):
                        Gc1[a, b] -= t1x[a, b]
                # Gc2_t -= F21_i V1_i
                _atb(f12[i], V1[i], t2k)
                for a in range(q2):
                    for b in range(k1):
                        Gc2[t, a, b] -= t2k[a, b]
            _av(U1[i], dvec, u1)
            _av(Gc1, dvec, a1)
            for a in range(q1):
                for b in range(q1):
                    Ar1[a, b] += a1[a] * u1[b]
            _ab(P1[i], Mii[i], t1)
            for a in range(q1):
                for b in range(q1):
                    GL1[a, b] += t1[a, b]
            if nested:
                _abt(Q12[i], Mit[i], t1)
                for a in range(q1):
                    for b in range(q1):
                        GL1[a, b] += t1[a, b]
                _atb(f12[i], lam1, t21)  # F21 lam1
                _ab(t21, Mit[i], t22)
                for a in range(q2):
                    for b in range(q2):
                        GL2[a, b] += t22[a, b]
            if reml:
                _xs(Gc1, Sinv, p, t1x)
                _abt_p(t1x, U1[i], p, t1)
                for a in range(q1):
                    for b in range(q1):
                        GL1[a, b] -= t1[a, b]
        if nested:
            for t in range(n2):
                _ab(N2[t], Stt[t], t22)
                for a in range(q2):
                    for b in range(q2):
                        GL2[a, b] += t22[a, b]
                _av(U2[t], dvec, u2)
                _av(Gc2[t], dvec, a2)
                for a in range(q2):
                    for b in range(q2):
                        Ar2[a, b] += a2[a] * u2[b]
                if reml:
                    _xs(Gc2[t], Sinv, p, t2k)
                    _abt_p(t2k, U2[t], p, t22)
                    for a in range(q2):
                        for b in range(q2):
                            GL2[a, b] -= t22[a, b]
        for e in range(pos1.size):
            g_r2[j, th1[e]] = -2.0 * Ar1[pos1[e] // q1, pos1[e] % q1]
            g_a[j, th1[e]] = 2.0 * GL1[pos1[e] // q1, pos1[e] % q1]
        if nested:
            for e in range(pos2.size):
                g_r2[j, th2[e]] = -2.0 * Ar2[pos2[e] // q2, pos2[e] % q2]
                g_a[j, th2[e]] = 2.0 * GL2[pos2[e] // q2, pos2[e] % q2]
        if nrho == 0:
            continue
        # ---- the rho gradient (module docstring of alliance.mixed.nested): per residual
        # level l, sums over the levels of <coefficient, statistic of level l>; the
        # coefficients (C*a for log|M| + log|X'V^-1X|, C*r for r2) are built once per point
        for i in range(n1):
            _av(V1[i], dvec, v1[i])
            _ab(lam1, Mii[i], t1)
            _abt(t1, lam1, Ca11[i])  # Lambda_1 (M^-1)_ii Lambda_1'
            for a in range(q1):
                for b in range(k1):
                    Cr1X[i, a, b] = -2.0 * v1[i, a] * dvec[b]
                for b in range(q1):
                    Cr11[i, a, b] = v1[i, a] * v1[i, b]
            if reml:
                _xs(V1[i], Sinv, p, Y1[i])
                _abt_p(Y1[i], V1[i], p, YV1)
                for a in range(q1):
                    for b in range(q1):
                        Ca11[i, a, b] += YV1[a, b]
                    for b in range(k1):
                        Ca1X[i, a, b] = -2.0 * Y1[i, a, b]
        if nested:
            for t in range(n2):
                _av(V2[t], dvec, v2[t])
                _ab(lam2, Stt[t], t22)
                _abt(t22, lam2, Ca22[t])  # Lambda_2 S_t^-1 Lambda_2'
                for a in range(q2):
                    for b in range(k1):
                        Cr2X[t, a, b] = -2.0 * v2[t, a] * dvec[b]
                    for b in range(q2):
                        Cr22[t, a, b] = v2[t, a] * v2[t, b]
                if reml:
                    _xs(V2[t], Sinv, p, Y2)
                    _abt_p(Y2, V2[t], p, YV2)
                    for a in range(q2):
                        for b in range(q2):
                            Ca22[t, a, b] += YV2[a, b]
                        for b in range(k1):
                            Ca2X[t, a, b] = -2.0 * Y2[a, b]
            for i in range(n1):
                t = parent[i]
                _ab(lam1, Mit[i], t12b)
                _abt(t12b, lam2, lMl12)
                for a in range(q1):
                    for b in range(q2):
                        Ca12[i, a, b] = 2.0 * lMl12[a, b]
                        Cr12[i, a, b] = 2.0 * v1[i, a] * v2[t, b]
                if reml:
                    _abt_p(Y1[i], V2[t], p, YV12)
                    for a in range(q1):
                        for b in range(q2):
                            Ca12[i, a, b] += 2.0 * YV12[a, b]
        for l in range(1, L):
            ga = _dot(Ca11, F11[l]) + _dot(Ca1X, F1X[l])
            gr = _dot(Cr11, F11[l]) + _dot(Cr1X, F1X[l]) + _quad(dvec, XY_lv[l], dvec)
            if nested:
                ga += _dot(Ca12, F12[l]) + _dot(Ca22, H22[l]) + _dot(Ca2X, H2X[l])
                gr += _dot(Cr12, F12[l]) + _dot(Cr22, H22[l]) + _dot(Cr2X, H2X[l])
            if reml:
                ga += _inner(Sinv, XY_lv[l, :p, :p])
            chain = -2.0 * w[l]
            g_a[j, ntheta + l - 1] = chain * ga + 2.0 * level_n[l]
            g_r2[j, ntheta + l - 1] = chain * gr
    return (dev, r2o, logdeto, logdetXo, ok, delta_o, XVX_o, RX_o, g_a, g_r2, v1o, v2o)
