r"""Optimising the profiled criterion: starting values, optimizers, restarts, convergence checks.

The parameters are ``x = (theta, rho)``: the column-wise lower triangles of the
relative covariance factors :math:`\Lambda_k` (diagonal elements bounded below by
0, as in lme4) and the log SD ratios of a residual variance function (free).

Why a bounded optimum can be false, and how it is recognised
------------------------------------------------------------
The criterion depends on :math:`\Lambda_k` only through :math:`\Lambda_k\Lambda_k^\top`,
which does not change when a whole column of :math:`\Lambda_k` changes sign. At a
point with a diagonal element :math:`\lambda_{jj} = 0`, the column with its
below-diagonal part negated is therefore the *same* covariance matrix, and the
derivative in :math:`\lambda_{jj}` there is the negative of the derivative here.
So a true minimum on the boundary has a zero derivative in every bounded element,
exactly as in the interior; a bounded optimizer, however, stops wherever the
derivative of a bounded element merely points outwards (a Karush-Kuhn-Tucker
point). Nestler et al.'s Example 1 by REML is such a case: L-BFGS-B from the
identity stops with the patient intercept's :math:`\lambda_{11} = 0`, a derivative
of +29 there, and a criterion 29 units above lme4's optimum.
:func:`escape_false_boundary` reflects such a column and continues from the other
side; :func:`diagnose` then requires a (numerically) zero gradient in *every*
element and no negative curvature before a fit is called converged.

The same invariance lets the primary optimizer work *without* bounds: the
criterion is defined (and smooth) for negative diagonal elements, and every point
has an equivalent one with non-negative diagonal (:func:`canonical`), so the
unconstrained minimum is the minimum over covariance matrices. Unbounded L-BFGS-B
never stops at a bound, so it cannot land on the boundary saddles and false
optima that a projected method finds (Orthodont and the patient-rated growth
model from the identity, Nestler et al.'s Example 1); it reaches lme4's optimum
on every reference model directly. When the solution has a (near-)zero diagonal
element, a short bounded run from the point with those elements set to exactly 0
gives the boundary optimum exactly (lme4 reports exact zeros too), and the better
of the two is kept.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from alliance.mixed.model import BOUNDARY_TOL, Model, Term

__all__ = [
    "OPTIMIZERS",
    "RESTARTS",
    "bounds_of",
    "canonical",
    "check",
    "diagnose",
    "escape_false_boundary",
    "minimise",
    "restart_search",
    "run",
    "run_free",
    "theta0",
]


#: Optimizers tried in order; the first valid fit is kept unless a later one is better.
#: ``"L-BFGS-B"`` runs without bounds (:func:`run_free`); ``"L-BFGS-B-bounded"`` (not a
#: default) is the projected method with lme4's bounds, kept to show what it gets wrong.
OPTIMIZERS = ("L-BFGS-B", "Nelder-Mead", "Powell")
KNOWN_OPTIMIZERS = ("L-BFGS-B", "L-BFGS-B-bounded", "Nelder-Mead", "Powell")
#: When :func:`minimise` restarts from other starting points: only when the optimum
#: found is on the boundary (default), always, or never.
RESTARTS = ("boundary", "always", "never")
#: Evaluations in a row without a lower criterion after which a gradient run stops
#: (:class:`_Objective`). The criterion is computed to about 1e-13 of its magnitude
#: (rounding in the log-determinants and the Woodbury subtractions) and the gradient to
#: about 1e-5, so ``gtol`` = 1e-8 is never met: once at the optimum, L-BFGS-B used to spin
#: there until its line searches failed one after another (measured: 30 of the 54
#: evaluations of the 1x therapist-rated growth fit were spent so, none lowering the
#: criterion). The point returned is the same, the lowest criterion seen; whether it is a
#: minimum is decided by :func:`diagnose`, as before. Stopping earlier was tried for issue
#: 23 and measured against every frozen study regenerated (13,050 draws), draw by draw
#: against the stored rows: stopping at a lower point with every derivative below 1e-5 left
#: a fit 2.8e-7 below its optimum; adding "below 1e-4 and a gain of at most 1e-13 of the
#: criterion" left two stacked fits unconverged that had converged; keeping 42 correction
#: pairs for the stacked model's 21 parameters (18% fewer evaluations) ended 10 more fits up to
#: 4e-5 below their optima. Each moved p values of the frozen draws beyond the tolerance that
#: ``tests/test_studies.py`` derives, so none was kept.
STALL_EVALS = 8
#: Largest predicted further decrease of the criterion (deviance units,
#: :math:`\tfrac12 g^\top H^{+} g`) at a converged optimum.
DECREASE_TOL = 1e-6
#: Largest absolute derivative allowed in a direction of (near) zero curvature.
FLAT_GRAD_TOL = 1e-3


def bounds_of(terms: list[Term], nrho: int = 0) -> list[tuple[float | None, float | None]]:
    out = []
    for t in terms:
        out += [(0.0, None) if r == c else (None, None) for r, c in t.template]
    return out + [(None, None)] * nrho


def theta0(terms: list[Term], nrho: int = 0) -> np.ndarray:
    """The identity start for theta (lme4's) and 0 for rho (equal residual variances)."""
    th = np.concatenate([[1.0 if r == c else 0.0 for r, c in t.template] for t in terms])
    return np.concatenate([th, np.zeros(nrho)])


def _columns(terms: list[Term]) -> list[tuple[int, list[int]]]:
    """(index of lambda_jj, indices of the below-diagonal elements of column j) per column."""
    out = []
    for t in terms:
        start = t.theta_slice.start
        for e, (r, c) in enumerate(t.template):
            if r == c:
                below = [start + f for f, (r2, c2) in enumerate(t.template) if c2 == c and r2 > r]
                out.append((start + e, below))
    return out


def _diag_mask(model: Model) -> np.ndarray:
    mask = np.zeros(model.npar, dtype=bool)
    for j, _below in _columns(model.terms):
        mask[j] = True
    return mask


class _Stalled(Exception):
    """Raised by :class:`_Objective` to end a gradient run that no longer makes progress."""


class _Objective:
    """The criterion with its gradient for L-BFGS-B, keeping the lowest point seen and
    stopping the run (:class:`_Stalled`) after :data:`STALL_EVALS` evaluations in a row that
    did not lower it."""

    def __init__(self, model: Model):
        self.model = model
        self.best_f = np.inf
        self.best_x = None
        self.since = 0
        self.nfev = 0

    def __call__(self, x):
        f, g = self.model.evaluate(x, grad=True)
        self.nfev += 1
        if f < self.best_f:
            self.best_f, self.best_x, self.since = float(f), np.array(x, dtype=float), 0
        else:
            self.since += 1
            if self.since >= STALL_EVALS:
                raise _Stalled
        return f, g


try:  # SciPy's L-BFGS-B step (reverse communication), as its own driver calls it
    from scipy.optimize import _lbfgsb as _lbfgsb_ext
    from scipy.optimize._lbfgsb_py import status_messages as _STATUS
    from scipy.optimize._lbfgsb_py import task_messages as _TASK

    _SETULB = _lbfgsb_ext.setulb
except (ImportError, AttributeError):  # pragma: no cover - another SciPy
    _SETULB = None


def lbfgsb(fun, x0, bounds=None, maxcor=20, ftol=1e-14, gtol=1e-8, maxiter=2000,
           maxfun=15000, maxls=20) -> optimize.OptimizeResult:
    """``scipy.optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
    options=...)``, the same run without its wrappers.

    ``fun(x)`` returns the criterion and its gradient. SciPy's driver (``_minimize_lbfgsb``)
    wraps ``fun`` in three objects that copy and compare ``x`` at every step; at the book's
    size that cost about 20 microseconds per evaluation and 0.1 ms per run, as much as a fit's
    criterion. This is the same loop around the same step (``setulb``): ``fun`` is evaluated
    at ``x0`` first and then wherever the step asks for a new point (a point asked for again
    is not re-evaluated), the iterations and evaluations are limited as there, and the result
    has the same ``x``, ``fun``, ``nfev``, ``nit``, ``status``, ``message`` and ``success``
    (tests/test_mixed_optimum.py compares the two). With a SciPy whose step this module
    does not know, it calls ``scipy.optimize.minimize``."""
    options = {"maxcor": maxcor, "ftol": ftol, "gtol": gtol, "maxiter": maxiter,
               "maxfun": maxfun, "maxls": maxls}
    if _SETULB is None:  # pragma: no cover - another SciPy
        return optimize.minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                                 options=options)
    x0 = np.asarray(x0, dtype=np.float64).ravel()
    n = x0.size
    nbd = np.zeros(n, np.int32)
    low = np.zeros(n, np.float64)
    up = np.zeros(n, np.float64)
    if bounds is not None:
        if len(bounds) != n:
            raise ValueError("length of x0 != length of bounds")
        lb = np.array([-np.inf if b[0] is None else b[0] for b in bounds], dtype=float)
        ub = np.array([np.inf if b[1] is None else b[1] for b in bounds], dtype=float)
        if (lb > ub).any():
            raise ValueError("L-BFGS-B: a lower bound is greater than an upper bound")
        x0 = np.clip(x0, lb, ub)
        fin_l, fin_u = np.isfinite(lb), np.isfinite(ub)
        low[fin_l], up[fin_u] = lb[fin_l], ub[fin_u]
        nbd[:] = np.where(fin_l, np.where(fin_u, 2, 1), np.where(fin_u, 3, 0))
    m = maxcor
    factr = ftol / np.finfo(float).eps
    x = np.array(x0, dtype=np.float64)
    at = x0.copy()  # where fun was last evaluated
    f, g = fun(np.copy(at))
    nfev = 1
    wa = np.zeros(2 * m * n + 5 * n + 11 * m * m + 8 * m, np.float64)
    iwa = np.zeros(3 * n, dtype=np.int32)
    task = np.zeros(2, dtype=np.int32)
    ln_task = np.zeros(2, dtype=np.int32)
    lsave = np.zeros(4, dtype=np.int32)
    isave = np.zeros(44, dtype=np.int32)
    dsave = np.zeros(29, dtype=np.float64)
    fx = np.array(0.0, dtype=np.float64)
    gx = np.zeros(n, dtype=np.float64)
    nit = 0
    while True:
        gx = gx.astype(np.float64)
        _SETULB(m, x, low, up, nbd, fx, gx, factr, gtol, wa, iwa, task, lsave, isave, dsave,
                maxls, ln_task)
        if task[0] == 3:  # f and g at x
            if not np.array_equal(x, at):
                at = np.array(x, dtype=np.float64)
                f, g = fun(np.copy(at))
                nfev += 1
            fx, gx = f, g
        elif task[0] == 1:  # a new iteration
            nit += 1
            if nit >= maxiter:
                task[0], task[1] = 5, 504
            elif nfev > maxfun:
                task[0], task[1] = 5, 502
        else:
            break
    status = 0 if task[0] == 4 else (1 if nfev > maxfun or nit >= maxiter else 2)
    return optimize.OptimizeResult(fun=fx, jac=gx, nfev=nfev, njev=nfev, nit=nit,
                                   status=status,
                                   message=_STATUS[task[0]] + ": " + _TASK[task[1]], x=x,
                                   success=(status == 0))


def _lbfgsb(model: Model, x0, bounds, options) -> optimize.OptimizeResult:
    """L-BFGS-B with the exact gradient; a run that stalls at the optimum (:class:`_Objective`)
    returns the lowest point seen, marked as a line-search end (see :func:`run`)."""
    obj = _Objective(model)
    try:
        return lbfgsb(obj, x0, bounds, **options)
    except _Stalled:
        res = optimize.OptimizeResult(
            x=obj.best_x, fun=obj.best_f, success=False, nfev=obj.nfev, nit=-1,
            message=f"ABNORMAL: no lower criterion in {STALL_EVALS} evaluations (rounding floor)")
        return res


def run(model: Model, name: str, x0: np.ndarray, bounds) -> optimize.OptimizeResult:
    """One optimizer run from ``x0``; ``success`` is the optimizer's own status."""
    if name in ("L-BFGS-B", "L-BFGS-B-bounded"):
        res = _lbfgsb(model, x0, bounds,
                      {"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-8, "maxcor": 20})
        if not res.success and "ABNORMAL" in str(res.message) and np.isfinite(res.fun):
            # L-BFGS-B often ends with a failed line search at an optimum already reached
            # to machine precision; whether it is one is decided by diagnose() from the
            # gradient and the curvature at the point, not by this status.
            res.line_search_end = True
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
        raise ValueError(f"unknown optimizer {name!r}; choose from {KNOWN_OPTIMIZERS}")
    res.optimizer = name
    return res


def check(model: Model, res) -> tuple[bool, str]:
    """Validity of an optimizer result (finite criterion, positive residual variance)."""
    if res is None:
        return False, "no result"
    x = np.asarray(res.x, dtype=float)
    if not np.all(np.isfinite(x)):
        return False, "non-finite theta"
    f = model.evaluate(x, full=True)
    if not np.isfinite(f["dev"]):
        return False, "non-finite criterion"
    s2 = f["r2"] / f["dfr"]
    if not (np.isfinite(s2) and s2 > 0):
        return False, "residual variance not finite and positive"
    return True, ""


def escape_false_boundary(model: Model, res, bounds, gtol: float = 1e-3, max_steps: int = 6):
    """Leave boundary points that are not minima (see the module docstring).

    While some :math:`\\lambda_{jj} = 0` has a derivative of magnitude above ``gtol``:
    if the derivative is positive, negate the below-diagonal part of column ``j``
    (the same covariance matrix, where the derivative is negative); step
    :math:`\\lambda_{jj}` off the bound and re-optimise. A candidate is kept only if
    its criterion is lower.
    """
    name = getattr(res, "optimizer", "L-BFGS-B")
    if name != "L-BFGS-B":
        name = "L-BFGS-B"
    cols = _columns(model.terms)
    for _ in range(max_steps):
        x = np.asarray(res.x, dtype=float)
        _f, g = model.evaluate(x, grad=True)
        if not np.all(np.isfinite(g)):
            return res
        moves = [(j, below) for j, below in cols if x[j] < BOUNDARY_TOL and abs(g[j]) > gtol]
        if not moves:
            return res
        x0 = x.copy()
        for j, below in moves:
            if g[j] > 0:
                x0[below] = -x0[below]
            x0[j] = max(1e-2, 0.1 * float(np.max(np.abs(x0[below]), initial=0.0)))
        try:
            cand = run(model, name, x0, bounds)
        except (FloatingPointError, np.linalg.LinAlgError):
            return res
        if not (check(model, cand)[0] and cand.fun < res.fun - 1e-10):
            return res
        cand.escaped = getattr(res, "escaped", 0) + 1
        res = cand
    return res


def _starts(model: Model, x: np.ndarray, at_bound: np.ndarray) -> list[np.ndarray]:
    """Restart points: the optimum with its zero diagonal elements moved off the bound,
    and a scaled identity."""
    x0 = x.copy()
    diag = _diag_mask(model)
    typical = float(np.median(x[diag & ~at_bound])) if np.any(diag & ~at_bound) else 1.0
    x0[at_bound] = max(0.5 * typical, 0.05)
    x1 = theta0(model.terms, model.nrho) * 0.3
    x1[model.ntheta :] = x[model.ntheta :]
    return [x0, x1]


def canonical(model: Model, x: np.ndarray) -> np.ndarray:
    """The same covariance matrices with every diagonal element of Lambda non-negative
    (a column whose diagonal element is negative changes sign)."""
    x = np.asarray(x, dtype=float).copy()
    for j, below in _columns(model.terms):
        if x[j] < 0:
            x[j] = -x[j]
            x[below] = -x[below]
    return x


def run_free(model: Model, x0: np.ndarray, bounds):
    """L-BFGS-B without bounds on Lambda's diagonal, then :func:`canonical`; at a solution
    with (near-)zero diagonal elements, a bounded polish from those elements set to 0."""
    res = _lbfgsb(model, x0, None, {"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-8, "maxcor": 20})
    res.x = canonical(model, res.x)
    res.optimizer = "L-BFGS-B"
    if not res.success and "ABNORMAL" in str(res.message) and np.isfinite(res.fun):
        res.line_search_end = True
    diag = _diag_mask(model)
    x = np.asarray(res.x, dtype=float)
    scale = max(1.0, float(np.max(x[diag], initial=1.0)))
    near = diag & (x < 1e-3 * scale)
    if near.any() and np.isfinite(res.fun):
        x0b = x.copy()
        x0b[near] = 0.0
        # a minimum with a zero diagonal element has a zero derivative there (module
        # docstring), so setting an element that has converged towards 0 to exactly 0 moves
        # the criterion by second-order terms only: accept it when it does not rise
        f0 = model.evaluate(x0b)
        if np.isfinite(f0) and f0 <= res.fun + 1e-10:
            res.x, res.fun = x0b, min(float(f0), float(res.fun))
            return res
        try:
            pol = run(model, "L-BFGS-B", x0b, bounds)
        except (FloatingPointError, np.linalg.LinAlgError):
            pol = None
        if pol is not None and check(model, pol)[0]:
            pol = escape_false_boundary(model, pol, bounds)
            if pol.fun <= res.fun + 1e-9:
                pol.optimizer = "L-BFGS-B"
                res = pol
    return res


def minimise(model: Model, x0: np.ndarray, bounds, optimizers=OPTIMIZERS):
    """Minimise the criterion: the primary optimizer, then the fallbacks while no
    valid result has been found.

    L-BFGS-B runs unbounded (:func:`run_free`); the derivative-free fallbacks run
    with lme4's bounds. Returns ``(best, failures)``: the best valid optimizer result
    (its ``optimizer`` attribute names the method; None when no run gave a valid
    criterion) and the reasons earlier optimizers were rejected.
    """
    failures: list[str] = []
    best = None
    for name in optimizers:
        try:
            res = run_free(model, x0, bounds) if name == "L-BFGS-B" else run(model, name, x0, bounds)
        except (FloatingPointError, np.linalg.LinAlgError, ValueError) as exc:
            if isinstance(exc, ValueError) and "unknown optimizer" in str(exc):
                raise
            failures.append(f"{name}: {exc}")
            continue
        ok, why = check(model, res)
        if not ok:
            failures.append(f"{name}: {why}")
            continue
        if name == "L-BFGS-B-bounded":
            res = escape_false_boundary(model, res, bounds)
        if best is None or res.fun < best.fun - 1e-10:
            best = res
        if res.success or getattr(res, "line_search_end", False):
            break
        failures.append(f"{name}: optimizer reported failure ({getattr(res, 'message', '')})")
    return best, failures


def restart_search(model: Model, best, bounds, always: bool = False, confirmed: bool = False):
    """Restarts from other starting points and methods; returns ``(better result or None,
    number of screens run)``.

    Each restart is a gradient run to a loose tolerance (a screen) from one of two starts
    (:func:`_starts`): (1) bounded L-BFGS-B from the optimum with its zero diagonal elements
    moved off the bound, (2) unbounded L-BFGS-B from a scaled identity. Only a screen that
    reaches a criterion lower than the current one by more than 1e-6 is continued to full
    precision. Run when the optimum is on the boundary (or always, on request): a boundary
    optimum can be a local one when an interior optimum is better.

    How many screens: both when ``always`` or when the boundary optimum has not passed the
    convergence checks of :func:`diagnose`; only screen (1) when it has (``confirmed``: a
    numerically zero gradient in every element, bounded ones included, and no negative
    curvature, so the point is a minimum over all covariance matrices near it). Evidence for
    that choice (synthetic trials ``alliance.simulate(scenario_params(s), seed)``, seeds
    0-129 of ``default`` and 0-126 of ``null_therapist_slopes``, both screens run on every
    boundary fit): in 256 stacked two-rater growth fits (all but one on the boundary; the
    screens cost about 78 evaluations, as much as the main run), 66 therapist-rated and 140
    patient-rated slope fits on the boundary, neither screen ever reached a criterion lower
    than the boundary optimum (every screen ended above it); screen (1) costs about 30 of
    the 78 evaluations and probes the likelier alternative, an interior
    optimum next to the boundary one. It is kept for confirmed optima too: dropping it (tried
    for issue 23, regenerating every frozen study) left draw 33 of ``power-therapists`` at 60
    therapists with a stacked fit whose log-likelihood was 0.022 below the one screen (1)
    finds.
    """
    x = np.asarray(best.x, dtype=float)
    at_bound = _diag_mask(model) & (x < BOUNDARY_TOL)
    if not (always or at_bound.any()):
        return None, 0
    found = None
    n = 0
    starts = list(zip(_starts(model, x, at_bound), (bounds, None)))
    if confirmed and not always:
        starts = starts[:1]
    for start, bnds in starts:
        n += 1
        try:
            cand = lbfgsb(lambda th: model.evaluate(th, grad=True), start, bnds, maxiter=100,
                          ftol=1e-7, gtol=1e-3, maxcor=20)
            cand.x = canonical(model, cand.x)
        except (FloatingPointError, np.linalg.LinAlgError):
            continue
        if not np.isfinite(cand.fun) or cand.fun >= best.fun - 1e-6:
            continue
        try:
            cand = run(model, "L-BFGS-B", np.asarray(cand.x, dtype=float), bounds)
        except (FloatingPointError, np.linalg.LinAlgError):
            continue
        if not check(model, cand)[0]:
            continue
        cand = escape_false_boundary(model, cand, bounds)
        if cand.fun < (found.fun if found is not None else best.fun) - 1e-8:
            cand.optimizer = "L-BFGS-B (restart)"
            found = cand
    return found, n


def diagnose(grad: np.ndarray, hess: np.ndarray) -> dict:
    r"""Convergence diagnostics from the gradient and Hessian of the criterion at a solution.

    A minimum (interior or on the boundary, see the module docstring) has a zero
    gradient in every parameter and a positive semi-definite Hessian. Reported:
    ``max_grad`` (largest absolute derivative), ``decrease`` (the further decrease a
    Newton step would predict, :math:`\tfrac12 g^\top H^{+} g`, deviance units),
    ``min_eigenvalue`` and ``max_eigenvalue`` of the Hessian, ``flat_grad`` (largest
    derivative along directions of near-zero curvature), and ``converged`` = finite,
    ``decrease`` < :data:`DECREASE_TOL`, no negative curvature beyond numerical noise,
    and ``flat_grad`` < :data:`FLAT_GRAD_TOL`. ``problem`` says what failed.
    """
    g = np.asarray(grad, dtype=float)
    H = np.asarray(hess, dtype=float)
    if g.size == 0:
        return {"converged": True, "max_grad": 0.0, "decrease": 0.0, "min_eigenvalue": np.nan,
                "max_eigenvalue": np.nan, "flat_grad": 0.0, "problem": ""}
    if not (np.all(np.isfinite(g)) and np.all(np.isfinite(H))):
        return {"converged": False, "max_grad": np.nan, "decrease": np.nan,
                "min_eigenvalue": np.nan, "max_eigenvalue": np.nan, "flat_grad": np.nan,
                "problem": "the gradient or Hessian at the solution is not finite"}
    H = (H + H.T) / 2.0
    ev, vec = np.linalg.eigh(H)
    scale = max(1.0, float(np.max(np.abs(ev))))
    tiny = 1e-7 * scale
    pos = ev > tiny
    proj = vec.T @ g
    decrease = 0.5 * float(np.sum(proj[pos] ** 2 / ev[pos]))
    flat = float(np.max(np.abs(proj[~pos]), initial=0.0))
    negative = float(ev[0]) < -1e-5 * scale
    problems = []
    if decrease >= DECREASE_TOL:
        problems.append(f"a Newton step would lower the criterion by {decrease:.2g} more")
    if negative:
        problems.append(f"the Hessian has a negative eigenvalue ({ev[0]:.3g}): a saddle point")
    if flat >= FLAT_GRAD_TOL:
        problems.append(f"the criterion still falls ({flat:.2g} per unit) along a flat direction")
    return {"converged": not problems, "max_grad": float(np.max(np.abs(g))),
            "decrease": decrease, "min_eigenvalue": float(ev[0]),
            "max_eigenvalue": float(ev[-1]), "flat_grad": flat, "problem": "; ".join(problems),
            "negative_direction": vec[:, 0] if negative else None}
