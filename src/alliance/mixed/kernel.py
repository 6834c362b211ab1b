r"""The nested layout's criterion, gradient and modes as one compiled loop (numba).

:class:`~alliance.mixed.nested.NestedLayout` holds the sufficient statistics per level;
:func:`nested_core` runs the block elimination of that module's docstring over them (the
criterion, its exact gradient in theta and in the residual-variance parameters, and the
conditional modes) for a batch of parameter points: one pass over the fine levels (patients),
one over the coarse levels (therapists), and back.

Why compiled: at the book's size an evaluation works on 117 levels of 2 x 2 or 4 x 4
matrices, and in NumPy its cost was the 380-odd calls into NumPy per evaluation (0.33 ms),
not the arithmetic. Compiled, an evaluation with its gradient takes 0.03-0.3 ms at that size
(``benchmarks/bench_peers.py`` times the fits). The function is compiled once per machine
and Python (``cache=True``: numba keeps the machine code beside this file, or in its cache
folder when this folder is not writable; ``make setup`` calls :func:`compile_now`) and then
loads in a fraction of a second.

The levels are the last axis of every array (a stack of q x r matrices is an array
(q, r, levels)), so that each elementary step is a loop over the levels that the compiler
vectorises; the work arrays are allocated once per model (:func:`work_rows`) and reused by
every evaluation (allocating them per call page-faulted fresh memory at every evaluation).
The loops that every step runs many times (:func:`_acc_sc`, :func:`_acc_st`, :func:`_sub_st`,
and the sums :func:`_hsum`, :func:`_dot8`, :func:`_dot8x4`) are inlined where they are called
(``inline="always"``), as the helpers that pick their rows already were: called, each cost a
call with its ten-odd array arguments per row of a step, and at the book's size (loops of 117
levels) those calls, not the arithmetic, were most of an evaluation (issue 23: 28.6 -> 21.4 us
for the patient-rated growth model, 61 -> 42 us for the raw lagged surface, 284 -> 184 us for
the stacked model; unchanged at 100 times that size). Inlining moves no operation, so the
bits are the same; the first compilation takes longer (36 -> 55 s on an AMD EPYC with AVX-512, once:
``make setup`` compiles it).
Each step takes up to four terms per pass over the levels (:func:`_acc_sc`), and every sum
over the levels runs in an order of its own (the products into a work row, vectorised, then
eight interleaved partial sums: :func:`_hsum`), not as one chain of dependent additions. At
100 times the book's size the stacked two-rater model's work arrays (about 90 MB) outgrow the
processor's cache, and an evaluation costs more per level than at 10 times
(``benchmarks/bench_peers.py``). The arithmetic is plain IEEE double precision in the order
written here (no ``fastmath``, no threads), so a point gives the same bits on every call and
in every process.
"""

from __future__ import annotations

import contextlib
import math

import llvmlite.binding as _llvm
import numpy as np
from numba import njit

__all__ = ["compile_now", "ensure_compiled", "fine_sums", "nested_core", "work_rows"]

_CACHE = True
#: Whether this process has compiled (or loaded) the loop under :func:`_loop_options`.
_READY = False


@contextlib.contextmanager
def _loop_options():
    """LLVM's loop vectoriser without interleaving while this module is compiled.

    By default the vectoriser runs four vectors of levels per iteration; the levels left over
    (up to 31 of 117 with 8-wide AVX-512 vectors) then run one at a time, and at the book's
    size that remainder was most of each loop's time. One vector per iteration leaves at most
    7. Measured on AMD EPYC with AVX-512 (issue 23), per evaluation with gradient: the
    therapist-rated growth model with a therapist slope 46 -> 35 us at 1x and 121 -> 113 us
    at 10x, the within-patient lagged surface 65 -> 58 us at 1x, unchanged at 100x (bound by
    memory there). The option changes which loop iterations run together, never an
    operation or its order (no ``fastmath``), so the bits are the same. LLVM's options are
    global to the process: the option is set back to LLVM's default (0, its own choice)
    afterwards, so no other compiled code in the process is affected."""
    _llvm.set_option("", "-force-vector-interleave=1")
    try:
        yield
    finally:
        _llvm.set_option("", "-force-vector-interleave=0")


# ---------------------------------------------------------------- stacks of small matrices
# A stack holds one q x r matrix per level, levels last: S[a, b, i]. Every loop below runs
# over the levels innermost (contiguous, so the compiler vectorises it).
#
# An element of a product, out_i[a, b] = sum_c x_c[i] y_c[i], is summed in the order of c from
# 0.0. The loops take four terms per pass over the levels, in that order (((o + t0) + t1) + t2)
# + t3, and the first pass starts from t0 itself: the same bits as adding one term per pass,
# with a quarter of the passes through memory (at 100 times the book's size the stacks are
# larger than the processor's cache).

@njit(cache=_CACHE, error_model="numpy", inline="always")
def _acc_sc(o, x0, m0, x1, m1, x2, m2, x3, m3, k, first):
    """o (+)= x0 m0 + ... (k of the four terms, in order; ``first``: o starts from them)."""
    n = o.size
    if first:
        if k == 4:
            for i in range(n):
                o[i] = ((x0[i] * m0 + x1[i] * m1) + x2[i] * m2) + x3[i] * m3
        elif k == 3:
            for i in range(n):
                o[i] = (x0[i] * m0 + x1[i] * m1) + x2[i] * m2
        elif k == 2:
            for i in range(n):
                o[i] = x0[i] * m0 + x1[i] * m1
        else:
            for i in range(n):
                o[i] = x0[i] * m0
    else:
        if k == 4:
            for i in range(n):
                o[i] = (((o[i] + x0[i] * m0) + x1[i] * m1) + x2[i] * m2) + x3[i] * m3
        elif k == 3:
            for i in range(n):
                o[i] = ((o[i] + x0[i] * m0) + x1[i] * m1) + x2[i] * m2
        elif k == 2:
            for i in range(n):
                o[i] = (o[i] + x0[i] * m0) + x1[i] * m1
        else:
            for i in range(n):
                o[i] = o[i] + x0[i] * m0


@njit(cache=_CACHE, error_model="numpy", inline="always")
def _acc_st(o, x0, y0, x1, y1, x2, y2, x3, y3, k, first):
    """o (+)= x0 y0 + ... elementwise (k of the four terms, in order; as :func:`_acc_sc`)."""
    n = o.size
    if first:
        if k == 4:
            for i in range(n):
                o[i] = ((x0[i] * y0[i] + x1[i] * y1[i]) + x2[i] * y2[i]) + x3[i] * y3[i]
        elif k == 3:
            for i in range(n):
                o[i] = (x0[i] * y0[i] + x1[i] * y1[i]) + x2[i] * y2[i]
        elif k == 2:
            for i in range(n):
                o[i] = x0[i] * y0[i] + x1[i] * y1[i]
        else:
            for i in range(n):
                o[i] = x0[i] * y0[i]
    else:
        if k == 4:
            for i in range(n):
                o[i] = (((o[i] + x0[i] * y0[i]) + x1[i] * y1[i]) + x2[i] * y2[i]) + x3[i] * y3[i]
        elif k == 3:
            for i in range(n):
                o[i] = ((o[i] + x0[i] * y0[i]) + x1[i] * y1[i]) + x2[i] * y2[i]
        elif k == 2:
            for i in range(n):
                o[i] = (o[i] + x0[i] * y0[i]) + x1[i] * y1[i]
        else:
            for i in range(n):
                o[i] = o[i] + x0[i] * y0[i]


@njit(cache=_CACHE, error_model="numpy", inline="always")
def _sub_st(o, base, x0, y0, x1, y1, x2, y2, x3, y3, k):
    """o = base - (x0 y0 + ...) elementwise (k of the four terms, summed as
    :func:`_acc_st` with ``first``; ``o`` may be ``base``)."""
    n = o.size
    if k == 4:
        for i in range(n):
            o[i] = base[i] - (((x0[i] * y0[i] + x1[i] * y1[i]) + x2[i] * y2[i]) + x3[i] * y3[i])
    elif k == 3:
        for i in range(n):
            o[i] = base[i] - ((x0[i] * y0[i] + x1[i] * y1[i]) + x2[i] * y2[i])
    elif k == 2:
        for i in range(n):
            o[i] = base[i] - (x0[i] * y0[i] + x1[i] * y1[i])
    else:
        for i in range(n):
            o[i] = base[i] - x0[i] * y0[i]


@njit(cache=_CACHE, error_model="numpy")
def _ss_from(base, A, B, out):
    """out_i = base_i - A_i B_i (``out`` may be ``base``)."""
    a_, c_, n = A.shape
    b_ = B.shape[1]
    if c_ > 4 or c_ == 0:  # the product first, then the difference
        _ss(A, B, out)  # out is not base here: see the callers
        for a in range(a_):
            for b in range(b_):
                o = out[a, b]
                r = base[a, b]
                for i in range(n):
                    o[i] = r[i] - o[i]
        return
    for a in range(a_):
        for b in range(b_):
            c1, c2, c3 = min(1, c_ - 1), min(2, c_ - 1), min(3, c_ - 1)
            _sub_st(out[a, b], base[a, b], A[a, 0], B[0, b], A[a, c1], B[c1, b], A[a, c2],
                    B[c2, b], A[a, c3], B[c3, b], c_)


@njit(cache=_CACHE, error_model="numpy", inline="always")
def _row(A, mode, r, s, c):
    """The level row of term ``c`` of a product's element (r, s) from the stack ``A``: A[r, c]
    (mode 0), A[c, r] (1), A[c, s] (2) or A[s, c] (3)."""
    if mode == 0:
        return A[r, c]
    if mode == 1:
        return A[c, r]
    if mode == 2:
        return A[c, s]
    return A[s, c]


@njit(cache=_CACHE, error_model="numpy", inline="always")
def _coef(M, mode, r, s, c):
    """The coefficient of term ``c`` of element (r, s) from the matrix ``M``: M[c, s] (mode 0),
    M[r, c] (1) or M[c, r] (2)."""
    if mode == 0:
        return M[c, s]
    if mode == 1:
        return M[r, c]
    return M[c, r]


@njit(cache=_CACHE, error_model="numpy", inline="always")
def _elem_sc(o, S, smode, M, mmode, cc, r, s):
    """o = element (r, s) of a stack times a matrix: the sum over c < cc of the level row of S
    times the coefficient of M (:func:`_row`, :func:`_coef`), four terms per pass."""
    if cc == 0:
        o[:] = 0.0
    for c in range(0, cc, 4):
        c1, c2, c3 = min(c + 1, cc - 1), min(c + 2, cc - 1), min(c + 3, cc - 1)
        _acc_sc(o, _row(S, smode, r, s, c), _coef(M, mmode, r, s, c),
                _row(S, smode, r, s, c1), _coef(M, mmode, r, s, c1),
                _row(S, smode, r, s, c2), _coef(M, mmode, r, s, c2),
                _row(S, smode, r, s, c3), _coef(M, mmode, r, s, c3), min(4, cc - c), c == 0)


@njit(cache=_CACHE, error_model="numpy", inline="always")
def _elem_st(o, A, amode, B, bmode, cc, r, s):
    """o = element (r, s) of a product of two stacks, level by level: the sum over c < cc of
    the level rows of A and B (:func:`_row`), four terms per pass."""
    if cc == 0:
        o[:] = 0.0
    for c in range(0, cc, 4):
        c1, c2, c3 = min(c + 1, cc - 1), min(c + 2, cc - 1), min(c + 3, cc - 1)
        _acc_st(o, _row(A, amode, r, s, c), _row(B, bmode, r, s, c),
                _row(A, amode, r, s, c1), _row(B, bmode, r, s, c1),
                _row(A, amode, r, s, c2), _row(B, bmode, r, s, c2),
                _row(A, amode, r, s, c3), _row(B, bmode, r, s, c3), min(4, cc - c), c == 0)


@njit(cache=_CACHE, error_model="numpy", inline="always")
def _prod_sc(S, smode, M, mmode, cc, out):
    """Every element of a stack times a matrix (:func:`_elem_sc`)."""
    for a in range(out.shape[0]):
        for b in range(out.shape[1]):
            _elem_sc(out[a, b], S, smode, M, mmode, cc, a, b)


@njit(cache=_CACHE, error_model="numpy", inline="always")
def _prod_st(A, amode, B, bmode, cc, out):
    """Every element of a product of two stacks (:func:`_elem_st`)."""
    for a in range(out.shape[0]):
        for b in range(out.shape[1]):
            _elem_st(out[a, b], A, amode, B, bmode, cc, a, b)


@njit(cache=_CACHE, error_model="numpy")
def _sm(S, M, out):
    """out_i = S_i M (M one matrix)."""
    _prod_sc(S, 0, M, 0, S.shape[1], out)


@njit(cache=_CACHE, error_model="numpy")
def _ms(M, S, out):
    """out_i = M S_i."""
    _prod_sc(S, 2, M, 1, S.shape[0], out)


@njit(cache=_CACHE, error_model="numpy")
def _mts(M, S, out):
    """out_i = M' S_i."""
    _prod_sc(S, 2, M, 2, S.shape[0], out)


@njit(cache=_CACHE, error_model="numpy")
def _ss(A, B, out):
    """out_i = A_i B_i."""
    _prod_st(A, 0, B, 2, A.shape[1], out)


@njit(cache=_CACHE, error_model="numpy")
def _sts(A, B, out):
    """out_i = A_i' B_i."""
    _prod_st(A, 1, B, 2, A.shape[0], out)


@njit(cache=_CACHE, error_model="numpy")
def _sst(A, B, ncol, out):
    """out_i = A_i[:, :ncol] B_i[:, :ncol]'."""
    _prod_st(A, 0, B, 3, ncol, out)


# A sum over the levels (a reduction) is a chain of dependent additions: one at a time it costs
# the latency of an addition per level, and the compiler may not reorder it (no fastmath). The
# sums below therefore have a fixed order of their own: the products of one element summed
# over c into a work row (vectorised, as the products above), then that row in eight
# interleaved partial sums, level i into partial i mod 8, added pairwise at the end
# (:func:`_hsum`). The order is written in the code, so a point gives the same bits on every
# machine and every call.

@njit(cache=_CACHE, error_model="numpy", inline="always")
def _hsum(t):
    """The sum of the row ``t`` in eight interleaved partial sums, added pairwise."""
    n = t.size
    m = n // 8
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    for r in range(m):
        i = r * 8
        s0 += t[i]
        s1 += t[i + 1]
        s2 += t[i + 2]
        s3 += t[i + 3]
        s4 += t[i + 4]
        s5 += t[i + 5]
        s6 += t[i + 6]
        s7 += t[i + 7]
    for i in range(m * 8, n):
        s0 += t[i]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@njit(cache=_CACHE, error_model="numpy", inline="always")
def _dot8(x, y):
    """The sum of x * y (rows of one length) in the order of :func:`_hsum`."""
    n = x.size
    m = n // 8
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    for r in range(m):
        i = r * 8
        s0 += x[i] * y[i]
        s1 += x[i + 1] * y[i + 1]
        s2 += x[i + 2] * y[i + 2]
        s3 += x[i + 3] * y[i + 3]
        s4 += x[i + 4] * y[i + 4]
        s5 += x[i + 5] * y[i + 5]
        s6 += x[i + 6] * y[i + 6]
        s7 += x[i + 7] * y[i + 7]
    for i in range(m * 8, n):
        s0 += x[i] * y[i]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@njit(cache=_CACHE, error_model="numpy", inline="always")
def _dot8x4(x, y0, y1, y2, y3, out, o):
    """out[o + k] = the sum of x * yk (k = 0..3), each in the order of :func:`_dot8`: four
    dot products with one row in common, that row read once."""
    n = x.size
    m = n // 8
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = 0.0
    b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = 0.0
    c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = 0.0
    d0 = d1 = d2 = d3 = d4 = d5 = d6 = d7 = 0.0
    for r in range(m):
        i = r * 8
        x0, x1, x2, x3 = x[i], x[i + 1], x[i + 2], x[i + 3]
        x4, x5, x6, x7 = x[i + 4], x[i + 5], x[i + 6], x[i + 7]
        a0 += x0 * y0[i]
        a1 += x1 * y0[i + 1]
        a2 += x2 * y0[i + 2]
        a3 += x3 * y0[i + 3]
        a4 += x4 * y0[i + 4]
        a5 += x5 * y0[i + 5]
        a6 += x6 * y0[i + 6]
        a7 += x7 * y0[i + 7]
        b0 += x0 * y1[i]
        b1 += x1 * y1[i + 1]
        b2 += x2 * y1[i + 2]
        b3 += x3 * y1[i + 3]
        b4 += x4 * y1[i + 4]
        b5 += x5 * y1[i + 5]
        b6 += x6 * y1[i + 6]
        b7 += x7 * y1[i + 7]
        c0 += x0 * y2[i]
        c1 += x1 * y2[i + 1]
        c2 += x2 * y2[i + 2]
        c3 += x3 * y2[i + 3]
        c4 += x4 * y2[i + 4]
        c5 += x5 * y2[i + 5]
        c6 += x6 * y2[i + 6]
        c7 += x7 * y2[i + 7]
        d0 += x0 * y3[i]
        d1 += x1 * y3[i + 1]
        d2 += x2 * y3[i + 2]
        d3 += x3 * y3[i + 3]
        d4 += x4 * y3[i + 4]
        d5 += x5 * y3[i + 5]
        d6 += x6 * y3[i + 6]
        d7 += x7 * y3[i + 7]
    for i in range(m * 8, n):
        a0 += x[i] * y0[i]
        b0 += x[i] * y1[i]
        c0 += x[i] * y2[i]
        d0 += x[i] * y3[i]
    out[o] = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
    out[o + 1] = ((b0 + b1) + (b2 + b3)) + ((b4 + b5) + (b6 + b7))
    out[o + 2] = ((c0 + c1) + (c2 + c3)) + ((c4 + c5) + (c6 + c7))
    out[o + 3] = ((d0 + d1) + (d2 + d3)) + ((d4 + d5) + (d6 + d7))


@njit(cache=_CACHE, error_model="numpy", inline="always")
def _elem_sum(t, A, amode, B, bmode, cc, r, s):
    """The sum over the levels of element (r, s) of a product of two stacks (:func:`_elem_st`)
    in the order of :func:`_hsum`: through the work row ``t``, or for one term as its dot
    product (the same bits without the row; measured: fusing two to four terms so was slower
    than the row for the stacked model's 4 x 4 blocks)."""
    if cc == 1:
        return _dot8(_row(A, amode, r, s, 0), _row(B, bmode, r, s, 0))
    _elem_st(t, A, amode, B, bmode, cc, r, s)
    return _hsum(t)


@njit(cache=_CACHE, error_model="numpy")
def _gram_sum(A, trow, out):
    """out += sum_i A_i' A_i (``trow`` a work row of at least as many levels)."""
    c_, b_, n = A.shape
    if c_ == 0:
        return
    t = trow[:n]
    sums = np.empty(b_ + 3)
    for a in range(b_):
        if c_ == 1:  # one term: dot products of the rows, four at a time
            E = A[0]
            for b in range(a, b_ - 3, 4):
                _dot8x4(E[a], E[b], E[b + 1], E[b + 2], E[b + 3], sums, b)
            for b in range(a + ((b_ - a) // 4) * 4, b_):
                sums[b] = _dot8(E[a], E[b])
        else:
            for b in range(a, b_):
                sums[b] = _elem_sum(t, A, 1, A, 2, c_, a, b)
        for b in range(a, b_):
            s = sums[b]
            out[a, b] += s
            if b != a:
                out[b, a] += s


@njit(cache=_CACHE, error_model="numpy")
def _ss_sum(A, B, trow, out, sign):
    """out += sign * sum_i A_i B_i."""
    if A.shape[1] == 0:
        return
    t = trow[: A.shape[2]]
    for a in range(out.shape[0]):
        for b in range(out.shape[1]):
            out[a, b] += sign * _elem_sum(t, A, 0, B, 2, A.shape[1], a, b)


@njit(cache=_CACHE, error_model="numpy")
def _sst_sum(A, B, ncol, trow, out, sign):
    """out += sign * sum_i A_i[:, :ncol] B_i[:, :ncol]'."""
    if ncol == 0:
        return
    t = trow[: A.shape[2]]
    for a in range(out.shape[0]):
        for b in range(out.shape[1]):
            out[a, b] += sign * _elem_sum(t, A, 0, B, 3, ncol, a, b)


@njit(cache=_CACHE, error_model="numpy")
def _rows_dot(u, v, out):
    """out[a, b] = sum_i u[a, i] v[b, i]."""
    for a in range(u.shape[0]):
        for b in range(v.shape[0]):
            out[a, b] = _dot8(u[a], v[b])


@njit(cache=_CACHE, error_model="numpy")
def _sp(S, Sinv, p, out):
    """out_i = S_i [[S^-1, 0], [0, 0]]: the X columns of [X y] times S^-1, the y column 0."""
    for a in range(S.shape[0]):
        for b in range(p):
            _elem_sc(out[a, b], S, 0, Sinv, 0, p, a, b)
        out[a, p, :] = 0.0


@njit(cache=_CACHE, error_model="numpy")
def _sv(S, v, out):
    """out[:, i] = S_i v."""
    vm = v.reshape((v.size, 1))
    for a in range(S.shape[0]):
        _elem_sc(out[a], S, 0, vm, 0, S.shape[1], a, 0)


@njit(cache=_CACHE, error_model="numpy")
def _chol(A, Lf, Li):
    """Cholesky factors ``Lf`` of every matrix of the stack ``A``, their inverses ``Li`` and
    the sum over the stack of log|A_i|; NaN when a matrix is not positive definite."""
    q, _, n = A.shape
    logdet = 0.0
    for j in range(q):
        d = Lf[j, j]
        d[:] = A[j, j]
        for k in range(j):
            x = Lf[j, k]
            for i in range(n):
                d[i] -= x[i] * x[i]
        for i in range(n):
            if not d[i] > 0.0 or not math.isfinite(d[i]):
                return np.nan
        for i in range(n):
            logdet += math.log(d[i])
            d[i] = math.sqrt(d[i])
        for r in range(j + 1, q):
            o = Lf[r, j]
            o[:] = A[r, j]
            for k in range(j):
                x = Lf[r, k]
                y = Lf[j, k]
                for i in range(n):
                    o[i] -= x[i] * y[i]
            for i in range(n):
                o[i] /= d[i]
        for r in range(j):
            Lf[r, j, :] = 0.0
    # L^-1 column by column: (L^-1)_rj = -(sum_{k=j}^{r-1} L_rk (L^-1)_kj) / L_rr
    for j in range(q):
        o = Li[j, j]
        d = Lf[j, j]
        for i in range(n):
            o[i] = 1.0 / d[i]
        for r in range(j):
            Li[r, j, :] = 0.0
        for r in range(j + 1, q):
            o = Li[r, j]
            o[:] = 0.0
            for k in range(j, r):
                x = Lf[r, k]
                y = Li[k, j]
                for i in range(n):
                    o[i] += x[i] * y[i]
            d = Lf[r, r]
            for i in range(n):
                o[i] = -o[i] / d[i]
    return logdet


@njit(cache=_CACHE, error_model="numpy")
def _gather(S, parent, out, sign=1.0):
    """out_i = sign * S_parent(i)."""
    a_, b_, n = out.shape
    for a in range(a_):
        for b in range(b_):
            o = out[a, b]
            s = S[a, b]
            for i in range(n):
                o[i] = sign * s[parent[i]]


@njit(cache=_CACHE, error_model="numpy")
def _segsum(S, parent, out, sign):
    """out_t += sign * sum over the fine levels i of coarse level t of S_i."""
    a_, b_, n = S.shape
    for a in range(a_):
        for b in range(b_):
            o = out[a, b]
            s = S[a, b]
            for i in range(n):
                o[parent[i]] += sign * s[i]


@njit(cache=_CACHE, error_model="numpy")
def _weigh(st, w, out):
    """out = sum_l w_l st[l] (st: (L, ...), out (...), both C-contiguous)."""
    L = st.shape[0]
    s2 = st.reshape(L, -1)
    o = out.reshape(-1)
    if L == 0:
        o[:] = 0.0
    for c in range(0, L, 4):
        k = min(4, L - c)
        c1, c2, c3 = min(c + 1, L - 1), min(c + 2, L - 1), min(c + 3, L - 1)
        _acc_sc(o, s2[c], w[c], s2[c1], w[c1], s2[c2], w[c2], s2[c3], w[c3], k, c == 0)


@njit(cache=_CACHE, error_model="numpy")
def _dot2(A1, A2, B):
    """The sums of the elementwise products A1 * B and A2 * B (C-contiguous arrays of one
    shape), each in the order of :func:`_hsum`."""
    b = B.reshape(-1)
    return _dot8(A1.reshape(-1), b), _dot8(A2.reshape(-1), b)


@njit(cache=_CACHE, error_model="numpy")
def _outer(u, v, scale, out):
    """out_i = scale * u_i v_i' (u: (a, n), v: (b, n))."""
    a_, b_, n = out.shape
    for a in range(a_):
        for b in range(b_):
            o = out[a, b]
            x = u[a]
            y = v[b]
            for i in range(n):
                o[i] = scale * x[i] * y[i]


@njit(cache=_CACHE, error_model="numpy")
def _outer_d(u, d, scale, out):
    """out_i = scale * u_i d' (d one vector)."""
    a_, b_, n = out.shape
    for a in range(a_):
        for b in range(b_):
            o = out[a, b]
            x = u[a]
            m = scale * d[b]
            for i in range(n):
                o[i] = x[i] * m


@njit(cache=_CACHE, error_model="numpy")
def _axpy(out, A, scale):
    """out += scale * A (same shape, C-contiguous)."""
    o = out.reshape(-1)
    a = A.reshape(-1)
    for e in range(o.size):
        o[e] += scale * a[e]


@njit(cache=_CACHE, error_model="numpy")
def _take(W, o, a, b):
    """Rows o .. o + a*b of the work array ``W`` (rows x levels) as an (a, b, levels) stack."""
    return W[o : o + a * b].reshape((a, b, W.shape[1])), o + a * b


@njit(cache=_CACHE, error_model="numpy")
def _carve(W1, W2, q1, q2, k1):
    """The work stacks of :func:`nested_core`, carved from ``W1`` (rows x fine levels) and
    ``W2`` (rows x coarse levels), and the numbers of rows they take (``W1``/``W2`` with no
    columns give those numbers: :func:`work_rows`)."""
    o = 0
    f11, o = _take(W1, o, q1, q1)
    f1x, o = _take(W1, o, q1, k1)
    f12, o = _take(W1, o, q1, q2)
    P1, o = _take(W1, o, q1, q1)
    A, o = _take(W1, o, q1, q1)
    Lf1, o = _take(W1, o, q1, q1)
    L1i, o = _take(W1, o, q1, q1)
    T1x, o = _take(W1, o, q1, k1)
    Ec, o = _take(W1, o, q1, k1)
    Q12, o = _take(W1, o, q1, q2)
    T12, o = _take(W1, o, q1, q2)
    EB, o = _take(W1, o, q1, q2)
    G22, o = _take(W1, o, q2, q2)
    G2x, o = _take(W1, o, q2, k1)
    U1, o = _take(W1, o, q1, k1)
    V1, o = _take(W1, o, q1, k1)
    U2p, o = _take(W1, o, q2, k1)
    V2p, o = _take(W1, o, q2, k1)
    Mii, o = _take(W1, o, q1, q1)
    Mit, o = _take(W1, o, q1, q2)
    AiB, o = _take(W1, o, q1, q2)
    Stp, o = _take(W1, o, q2, q2)
    T11, o = _take(W1, o, q1, q1)
    Gc1, o = _take(W1, o, q1, k1)
    T21, o = _take(W1, o, q2, q1)
    Y1, o = _take(W1, o, q1, k1)
    Ca11, o = _take(W1, o, q1, q1)
    Cr11, o = _take(W1, o, q1, q1)
    Ca1X, o = _take(W1, o, q1, k1)
    Cr1X, o = _take(W1, o, q1, k1)
    Ca12, o = _take(W1, o, q1, q2)
    Cr12, o = _take(W1, o, q1, q2)
    T12b, o = _take(W1, o, q1, q2)
    Tg, o = _take(W1, o, 1, 1)  # a row for the sums over the levels
    vec1 = W1[o : o + 3 * q1 + q2]
    u1, a1, v1 = vec1[:q1], vec1[q1 : 2 * q1], vec1[2 * q1 : 3 * q1]
    v2p = vec1[3 * q1 :]
    o1 = o + 3 * q1 + q2
    o = 0
    h22, o = _take(W2, o, q2, q2)
    h2x, o = _take(W2, o, q2, k1)
    N2, o = _take(W2, o, q2, q2)
    D, o = _take(W2, o, q2, q2)
    Lf2, o = _take(W2, o, q2, q2)
    L2i, o = _take(W2, o, q2, q2)
    T2x, o = _take(W2, o, q2, k1)
    K2, o = _take(W2, o, q2, k1)
    U2, o = _take(W2, o, q2, k1)
    V2, o = _take(W2, o, q2, k1)
    Stt, o = _take(W2, o, q2, q2)
    Gc2, o = _take(W2, o, q2, k1)
    Y2, o = _take(W2, o, q2, k1)
    T2k, o = _take(W2, o, q2, k1)
    T22, o = _take(W2, o, q2, q2)
    Ca22, o = _take(W2, o, q2, q2)
    Cr22, o = _take(W2, o, q2, q2)
    Ca2X, o = _take(W2, o, q2, k1)
    Cr2X, o = _take(W2, o, q2, k1)
    vec2 = W2[o : o + 3 * q2]
    u2, a2, v2 = vec2[:q2], vec2[q2 : 2 * q2], vec2[2 * q2 :]
    o2 = o + 3 * q2
    return ((f11, f1x, f12, P1, A, Lf1, L1i, T1x, Ec, Q12, T12, EB, G22, G2x, U1, V1, U2p, V2p,
             Mii, Mit, AiB, Stp, T11, Gc1, T21, Y1, Ca11, Cr11, Ca1X, Cr1X, Ca12, Cr12, T12b, Tg,
             h22, h2x, N2, D, Lf2, L2i, T2x, K2, U2, V2, Stt, Gc2, Y2, T2k, T22,
             Ca22, Cr22, Ca2X, Cr2X),
            (u1, a1, v1, v2p, u2, a2, v2), o1, o2)


def work_rows(q1: int, q2: int, k1: int) -> tuple[int, int]:
    """Rows of the two work arrays :func:`nested_core` needs (columns: the fine and the
    coarse levels)."""
    _, _, o1, o2 = _carve(np.zeros((1 << 20, 0)), np.zeros((1 << 20, 0)), q1, q2, k1)
    return int(o1), int(o2)


@njit(cache=_CACHE, error_model="numpy")
def nested_core(X, ntheta, reml, n, yty, x_logdet, level_n, XY_lv, F11, F1X, F12, H22, H2X,
                parent, pos1, th1, pos2, th2, nested, want_grad, want_modes, W1, W2):
    r"""The criterion's parts at each row of ``X`` (m, npar) (see ``NestedLayout.core``).

    The statistics have a leading axis of residual-variance levels and the levels of their
    factor last: ``F11`` (L, q1, q1, n1), ``F1X`` (L, q1, k1, n1), ``F12`` (L, q1, q2, n1),
    ``H22`` (L, q2, q2, n2), ``H2X`` (L, q2, k1, n2); ``XY_lv`` (L, k1, k1). ``parent`` (n1,)
    is the coarse level of each fine level; ``pos``/``th`` the flat positions in Lambda of
    each term's free elements and their index in theta; ``W1`` (rows, n1) and ``W2`` (rows,
    n2) the work arrays (:func:`work_rows`), zero when created and then reused as they are
    left: every stack is written before it is read, except the REML parts of the rho
    gradient (``Ca1X``, ``Ca2X``), which a model fitted by ML never writes and reads as the
    zeros they were created with (with work arrays of NaN the stacked model by ML fails
    ``test_nested_layout_equals_the_block_layout``).

    Returns ``dev, r2, logdet, logdetX, ok`` (m,), ``delta`` (m, p), ``XVX`` and ``RX``
    (m, p, p), ``g_a`` and ``g_r2`` (m, npar; zero unless ``want_grad``) and the modes
    ``v1`` (m, n1, q1), ``v2`` (m, n2, q2) (no rows unless ``want_modes``). ``ok`` is False
    where the criterion is not finite (a matrix that is not positive definite, a residual
    sum of squares at rounding level); the other outputs of such a point mean nothing.
    """
    m, npar = X.shape
    L, q1, k1, n1 = F1X.shape
    q2 = H2X.shape[1]
    n2 = H2X.shape[3]
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

    lam1 = np.zeros((q1, q1))
    lam2 = np.zeros((q2, q2))
    lam1T = np.zeros((q1, q1))
    lam2T = np.zeros((q2, q2))
    w = np.ones(L)
    XY = np.zeros((k1, k1))
    quad = np.zeros((k1, k1))
    XVXY = np.zeros((k1, k1))
    RXl = np.zeros((p, p))
    RXi = np.zeros((p, p))
    Sinv = np.zeros((p, p))
    dvec = np.zeros(k1)
    GL1 = np.zeros((q1, q1))
    GL2 = np.zeros((q2, q2))
    Ar1 = np.zeros((q1, q1))
    Ar2 = np.zeros((q2, q2))
    s3, s2, _, _ = _carve(W1, W2, q1, q2, k1)
    (f11, f1x, f12, P1, A, Lf1, L1i, T1x, Ec, Q12, T12, EB, G22, G2x, U1, V1, U2p, V2p, Mii,
     Mit, AiB, Stp, T11, Gc1, T21, Y1, Ca11, Cr11, Ca1X, Cr1X, Ca12, Cr12, T12b, Tg,
     h22, h2x, N2, D, Lf2, L2i, T2x, K2, U2, V2, Stt, Gc2, Y2, T2k, T22,
     Ca22, Cr22, Ca2X, Cr2X) = s3
    (u1, a1, v1, v2p, u2, a2, v2) = s2
    trow = Tg[0, 0]
    if L == 1:  # one residual variance: the statistics themselves
        f11, f1x, f12, h22, h2x = F11[0], F1X[0], F12[0], H22[0], H2X[0]

    for j in range(m):
        # ---- Lambda, the precision weights, the weighted statistics
        lam1[:, :] = 0.0
        for e in range(pos1.size):
            lam1[pos1[e] // q1, pos1[e] % q1] = X[j, th1[e]]
        lam2[:, :] = 0.0
        for e in range(pos2.size):
            lam2[pos2[e] // q2, pos2[e] % q2] = X[j, th2[e]]
        lam1T[:, :] = lam1.T
        lam2T[:, :] = lam2.T
        jac = 0.0
        w[0] = 1.0
        for l in range(1, L):
            rho = X[j, ntheta + l - 1]
            w[l] = math.exp(-2.0 * rho)
            jac += 2.0 * rho * level_n[l]
        _weigh(XY_lv, w, XY)
        if L > 1:
            _weigh(F11, w, f11)
            _weigh(F1X, w, f1x)
            _weigh(F12, w, f12)
            _weigh(H22, w, h22)
            _weigh(H2X, w, h2x)
        # ---- fine levels: A_i = I + L1'(Z1'WZ1)L1, c_i, B_i and their elimination
        _sm(f11, lam1, P1)
        _mts(lam1, P1, A)
        for a in range(q1):
            A[a, a, :] += 1.0
        ld = _chol(A, Lf1, L1i)
        if not math.isfinite(ld):
            continue
        logdet = jac + ld
        _mts(lam1, f1x, T1x)
        _ss(L1i, T1x, Ec)  # L^-1 c_i
        quad[:, :] = 0.0
        _gram_sum(Ec, trow, quad)  # sum_i c_i' A_i^-1 c_i
        if nested:
            _sm(f12, lam2, Q12)
            _mts(lam1, Q12, T12)
            _ss(L1i, T12, EB)  # L^-1 B_i'
            _sts(EB, EB, G22)
            _sts(EB, Ec, G2x)
            # ---- coarse levels: the Schur complements S_t = D_t - sum_i B A^-1 B'
            _sm(h22, lam2, N2)
            _mts(lam2, N2, D)
            _segsum(G22, parent, D, -1.0)
            for a in range(q2):
                D[a, a, :] += 1.0
            _mts(lam2, h2x, T2x)
            _segsum(G2x, parent, T2x, -1.0)
            ld2 = _chol(D, Lf2, L2i)
            if not math.isfinite(ld2):
                continue
            logdet += ld2
            _ss(L2i, T2x, K2)
            _gram_sum(K2, trow, quad)
        # ---- the fixed effects
        for a in range(k1):
            for b in range(k1):
                XVXY[a, b] = XY[a, b] - quad[a, b]
        good = True
        ldx = 0.0
        for a in range(p):  # Cholesky of X'V^-1X
            s = XVXY[a, a]
            for k in range(a):
                s -= RXl[a, k] * RXl[a, k]
            if not s > 0.0 or not math.isfinite(s):
                good = False
                break
            d = math.sqrt(s)
            RXl[a, a] = d
            ldx += math.log(d)
            for r in range(a + 1, p):
                s = XVXY[r, a]
                for k in range(a):
                    s -= RXl[r, k] * RXl[a, k]
                RXl[r, a] = s / d
            for r in range(a):
                RXl[r, a] = 0.0
        if not good:
            continue
        for a in range(p):
            RXi[a, a] = 1.0 / RXl[a, a]
            for r in range(a):
                RXi[r, a] = 0.0
            for r in range(a + 1, p):
                s = 0.0
                for k in range(a, r):
                    s += RXl[r, k] * RXi[k, a]
                RXi[r, a] = -s / RXl[r, r]
        for a in range(p):  # S^-1 = RX^-T RX^-1, one triangle (the products commute: the
            for b in range(a, p):  # other element is the same sum, bit for bit)
                s = 0.0
                for r in range(b, p):
                    s += RXi[r, a] * RXi[r, b]
                Sinv[a, b] = s
                Sinv[b, a] = s
        r2 = XVXY[p, p]
        for a in range(p):
            s = 0.0
            for b in range(p):
                s += Sinv[a, b] * XVXY[b, p]
            delta_o[j, a] = s
            r2 -= s * XVXY[a, p]
        logdetX = 2.0 * ldx + x_logdet if reml else 0.0
        XVX_o[j] = XVXY[:p, :p]
        RX_o[j] = RXl
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
            _sts(L2i, K2, U2)
            _ms(lam2, U2, V2)
            _gather(U2, parent, U2p)
            _gather(V2, parent, V2p)
            _ss_from(Ec, EB, U2p, T1x)  # Ec - EB U2p
            _sts(L1i, T1x, U1)
        else:
            _sts(L1i, Ec, U1)
        _ms(lam1, U1, V1)
        if want_modes:
            _sv(V1, dvec, v1)
            for i in range(n1):
                for a in range(q1):
                    v1o[j, i, a] = v1[a, i]
            if nested:
                _sv(V2, dvec, v2)
                for t in range(n2):
                    for a in range(q2):
                        v2o[j, t, a] = v2[a, t]
        if not want_grad:
            continue
        # ---- selected blocks of M^-1
        _sts(L1i, L1i, Mii)  # A^-1
        if nested:
            _sts(L2i, L2i, Stt)  # S^-1 = (M^-1)_tt
            _sts(L1i, EB, AiB)  # A^-1 B'
            # (M^-1)_it = -A^-1 B' S^-1, as A^-1 B' times -S^-1 (the same bits: IEEE
            # rounding is symmetric in sign)
            _gather(Stt, parent, Stp, -1.0)
            _ss(AiB, Stp, Mit)
            _sst(Mit, AiB, q2, T11)
            _axpy(Mii, T11, -1.0)
        # ---- the theta gradient
        # Z'V^-1 [X y] of each level: Gc1 = F1X - F11 V1 - F12 V2p, Gc2 = H2X - H22 V2 - sum F21 V1
        _ss_from(f1x, f11, V1, Gc1)
        GL1[:, :] = 0.0
        Ar1[:, :] = 0.0
        if nested:
            _ss(f12, V2p, T1x)
            _axpy(Gc1, T1x, -1.0)
            _ss_from(h2x, h22, V2, Gc2)
            _sts(f12, V1, G2x)
            _segsum(G2x, parent, Gc2, -1.0)
        _sv(U1, dvec, u1)
        _sv(Gc1, dvec, a1)
        _rows_dot(a1, u1, Ar1)
        _ss_sum(P1, Mii, trow, GL1, 1.0)
        if nested:
            _sst_sum(Q12, Mit, q2, trow, GL1, 1.0)
            GL2[:, :] = 0.0
            Ar2[:, :] = 0.0
            _f21lam(f12, lam1, T21)
            _ss_sum(T21, Mit, trow, GL2, 1.0)
            _ss_sum(N2, Stt, trow, GL2, 1.0)
            _sv(U2, dvec, u2)
            _sv(Gc2, dvec, a2)
            _rows_dot(a2, u2, Ar2)
        if reml:
            _sp(Gc1, Sinv, p, T1x)
            _sst_sum(T1x, U1, p, trow, GL1, -1.0)
            if nested:
                _sp(Gc2, Sinv, p, T2k)
                _sst_sum(T2k, U2, p, trow, GL2, -1.0)
        for e in range(pos1.size):  # an inner term's theta has one position per slot: summed
            g_r2[j, th1[e]] += -2.0 * Ar1[pos1[e] // q1, pos1[e] % q1]
            g_a[j, th1[e]] += 2.0 * GL1[pos1[e] // q1, pos1[e] % q1]
        if nested:
            for e in range(pos2.size):
                g_r2[j, th2[e]] = -2.0 * Ar2[pos2[e] // q2, pos2[e] % q2]
                g_a[j, th2[e]] = 2.0 * GL2[pos2[e] // q2, pos2[e] % q2]
        if nrho == 0:
            continue
        # ---- the rho gradient (module docstring of alliance.mixed.nested)
        _sv(V1, dvec, v1)
        _ms(lam1, Mii, T11)
        _sm(T11, lam1T, Ca11)  # Lambda_1 (M^-1)_ii Lambda_1'
        _outer(v1, v1, 1.0, Cr11)
        _outer_d(v1, dvec, -2.0, Cr1X)
        if reml:
            _sp(V1, Sinv, p, Y1)
            _sst(Y1, V1, p, T11)
            _axpy(Ca11, T11, 1.0)
            for a in range(q1):
                for b in range(k1):
                    for i in range(n1):
                        Ca1X[a, b, i] = Y1[a, b, i] * -2.0
        if nested:
            _sv(V2, dvec, v2)
            _ms(lam2, Stt, T22)
            _sm(T22, lam2T, Ca22)  # Lambda_2 S_t^-1 Lambda_2'
            _outer(v2, v2, 1.0, Cr22)
            _outer_d(v2, dvec, -2.0, Cr2X)
            if reml:
                _sp(V2, Sinv, p, Y2)
                _sst(Y2, V2, p, T22)
                _axpy(Ca22, T22, 1.0)
                for a in range(q2):
                    for b in range(k1):
                        for t in range(n2):
                            Ca2X[a, b, t] = Y2[a, b, t] * -2.0
            _ms(lam1, Mit, T12b)
            _sm(T12b, lam2T, Ca12)
            for a in range(q2):
                for i in range(n1):
                    v2p[a, i] = v2[a, parent[i]]
            _outer(v1, v2p, 2.0, Cr12)
            if reml:
                _sst(Y1, V2p, p, T12b)
                _axpy(Ca12, T12b, 1.0)
            for a in range(q1):
                for b in range(q2):
                    for i in range(n1):
                        Ca12[a, b, i] *= 2.0
        for l in range(1, L):
            ga11, gr11 = _dot2(Ca11, Cr11, F11[l])
            ga1x, gr1x = _dot2(Ca1X, Cr1X, F1X[l])
            ga = ga11 + ga1x
            gr = gr11 + gr1x
            s = 0.0
            for a in range(k1):
                for b in range(k1):
                    s += dvec[a] * XY_lv[l, a, b] * dvec[b]
            gr += s
            if nested:
                ga12, gr12 = _dot2(Ca12, Cr12, F12[l])
                ga22, gr22 = _dot2(Ca22, Cr22, H22[l])
                ga2x, gr2x = _dot2(Ca2X, Cr2X, H2X[l])
                ga += ga12 + ga22 + ga2x
                gr += gr12 + gr22 + gr2x
            if reml:
                s = 0.0
                for a in range(p):
                    for b in range(p):
                        s += Sinv[a, b] * XY_lv[l, a, b]
                ga += s
            chain = -2.0 * w[l]
            g_a[j, ntheta + l - 1] = chain * ga + 2.0 * level_n[l]
            g_r2[j, ntheta + l - 1] = chain * gr
    return (dev, r2o, logdeto, logdetXo, ok, delta_o, XVX_o, RX_o, g_a, g_r2, v1o, v2o)


@njit(cache=_CACHE, error_model="numpy")
def _f21lam(F12, lam1, out):
    """out_i = F12_i' Lambda_1 (q2 x q1)."""
    _prod_sc(F12, 1, lam1, 0, F12.shape[0], out)


@njit(cache=_CACHE, error_model="numpy")
def _pairwise_leaf(a, s, n):
    """NumPy's pairwise sum of a[s:s + n] for n <= 128: a plain sum from 0.0 below 8 terms,
    else eight interleaved sums added pairwise, then the remainder."""
    if n < 8:
        res = 0.0
        for i in range(s, s + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[s], a[s + 1], a[s + 2], a[s + 3]
    r4, r5, r6, r7 = a[s + 4], a[s + 5], a[s + 6], a[s + 7]
    i = 8
    while i < n - (n % 8):
        r0 += a[s + i]
        r1 += a[s + i + 1]
        r2 += a[s + i + 2]
        r3 += a[s + i + 3]
        r4 += a[s + i + 4]
        r5 += a[s + i + 5]
        r6 += a[s + i + 6]
        r7 += a[s + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[s + i]
        i += 1
    return res


@njit(cache=_CACHE, error_model="numpy")
def _pairwise(a, s, n):
    """NumPy's pairwise sum of a[s:s + n] (``pairwise_sum`` of its add reductions): beyond 128
    terms the sum of the two halves' (the first a multiple of 8 terms), depth first (an
    explicit stack: numba's cache does not keep recursive functions)."""
    if n <= 128:
        return _pairwise_leaf(a, s, n)
    ss = np.empty(64, dtype=np.intp)
    nn = np.empty(64, dtype=np.intp)
    state = np.zeros(64, dtype=np.intp)
    vals = np.empty(64)
    top = 0
    nv = 0
    ss[0], nn[0], state[0] = s, n, 0
    while top >= 0:
        m = nn[top]
        if m <= 128:
            vals[nv] = _pairwise_leaf(a, ss[top], m)
            nv += 1
            top -= 1
            continue
        h = m // 2
        h -= h % 8
        if state[top] == 0:  # the first half
            state[top] = 1
            ss[top + 1], nn[top + 1], state[top + 1] = ss[top], h, 0
            top += 1
        elif state[top] == 1:  # the second half
            state[top] = 2
            ss[top + 1], nn[top + 1], state[top + 1] = ss[top] + h, m - h, 0
            top += 1
        else:
            vals[nv - 2] = vals[nv - 2] + vals[nv - 1]
            nv -= 1
            top -= 1
    return vals[0]


@njit(cache=_CACHE, error_model="numpy")
def fine_sums(M, q1, q2, fcode, lv, L, n1):
    """The statistics of the fine levels: ``F[l, f, a, :]`` = the sum over the rows r of fine
    level f of (Z1[r, a] w_l(r)) M[r, :], and ``H[l, f, b, :]`` = the same of Z2[r, b] times
    ``M[r, q1:]`` (``M`` = [Z1 Z2 X y], ``fcode`` the fine level of each row, ``lv`` its
    residual level; w_l(r) = 1 if ``lv[r]`` is l, else 0, and no factor at all for one level).
    Each sum is ``np.add.reduceat``'s over the products of the rows sorted stably by level (the
    first product plus the pairwise sum of the others), so it has the same bits."""
    n, W = M.shape
    k2 = W - q1
    F = np.zeros((L, n1, q1, W))
    H = np.zeros((L, n1, q2, k2))
    start = np.zeros(n1 + 1, dtype=np.intp)
    for r in range(n):
        start[fcode[r] + 1] += 1
    for f in range(n1):
        start[f + 1] += start[f]
    at = start[:n1].copy()
    rows = np.empty(n, dtype=np.intp)
    for r in range(n):  # each level's rows in their order (a stable counting sort)
        f = fcode[r]
        rows[at[f]] = r
        at[f] += 1
    mmax = 0
    for f in range(n1):
        mmax = max(mmax, start[f + 1] - start[f])
    B = np.empty((mmax, W))  # a level's rows
    za = np.empty(mmax)
    buf = np.empty(mmax)
    for f in range(n1):
        s = start[f]
        m = start[f + 1] - s
        for i in range(m):
            src = M[rows[s + i]]
            for c in range(W):
                B[i, c] = src[c]
        for l in range(L):
            for a in range(q1 + q2):
                for i in range(m):
                    za[i] = B[i, a] if L == 1 else B[i, a] * (1.0 if lv[rows[s + i]] == l else 0.0)
                c0 = 0 if a < q1 else q1
                for c in range(c0, W):
                    for i in range(m):
                        buf[i] = za[i] * B[i, c]
                    v = buf[0]
                    if 1 < m < 9:  # the pairwise sum of fewer than 8 terms: a plain one from 0.0
                        t = 0.0
                        for i in range(1, m):
                            t += buf[i]
                        v = v + t
                    elif m >= 9:
                        v = v + _pairwise(buf, 1, m - 1)
                    if a < q1:
                        F[l, f, a, c] = v
                    else:
                        H[l, f, a - q1, c - q1] = v
    return F, H


def compile_now() -> None:
    """Compile :func:`nested_core` and :func:`fine_sums` (or load them from numba's cache) for
    the one signature every model uses, on a problem of two patients in one therapist.
    ``make setup`` calls it once, so that no test, chapter or worker process compiles it on
    its own. Compiled under :func:`_loop_options`."""
    global _READY
    with _loop_options():
        _warm_up()
    _READY = True


def ensure_compiled() -> None:
    """:func:`compile_now` once per process (a load from numba's cache when ``make setup``
    compiled it): the models compile the loop under :func:`_loop_options` whichever way they
    are first run."""
    if not _READY:
        compile_now()


def _warm_up() -> None:
    """One call of each compiled function on a problem of two patients in one therapist."""
    L, q1, q2, k1, n1, n2 = 1, 1, 1, 2, 2, 1
    F11 = np.ones((L, q1, q1, n1))
    F1X = np.ones((L, q1, k1, n1))
    F12 = np.ones((L, q1, q2, n1))
    H22 = np.full((L, q2, q2, n2), 2.0)
    H2X = np.full((L, q2, k1, n2), 2.0)
    XY = np.array([[[4.0, 1.0], [1.0, 3.0]]])
    r1, r2 = work_rows(q1, q2, k1)
    pos = np.zeros(1, dtype=np.intp)
    nested_core(np.full((1, 2), 0.5), 2, True, 4, 3.0, 0.0, np.array([4.0]), XY, F11, F1X, F12,
                H22, H2X, np.zeros(n1, dtype=np.intp), pos, pos, pos, pos + 1, True, True, True,
                np.zeros((r1, n1)), np.zeros((r2, n2)))
    fine_sums(np.ones((2, 4)), 1, 1, np.zeros(2, dtype=np.intp), np.zeros(2, dtype=np.intp), 1, 1)
