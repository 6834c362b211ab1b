"""Optimising the profiled criterion over theta: starting values, optimizers, checks, restarts."""

from __future__ import annotations

import numpy as np
from scipy import optimize

from alliance.mixed.model import BOUNDARY_TOL, Model, Term

__all__ = ["OPTIMIZERS", "bounds_of", "check", "restart_off_boundary", "run", "theta0"]


#: Optimizers tried in order; the first valid fit is kept unless a later one is better.
OPTIMIZERS = ("L-BFGS-B", "Nelder-Mead", "Powell")


def bounds_of(terms: list[Term]) -> list[tuple[float | None, float | None]]:
    out = []
    for t in terms:
        out += [(0.0, None) if r == c else (None, None) for r, c in t.template]
    return out


def theta0(terms: list[Term]) -> np.ndarray:
    return np.concatenate([[1.0 if r == c else 0.0 for r, c in t.template] for t in terms])


def run(model: Model, name: str, x0: np.ndarray, bounds) -> optimize.OptimizeResult:
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


def restart_off_boundary(model: Model, res, name: str, bounds):
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
            cand = run(model, name, x0, bounds)
        except (FloatingPointError, np.linalg.LinAlgError):
            continue
        ok, _ = check(model, cand)
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
                cand = run(model, name, theta0(model.terms) * scale, bounds)
            except (FloatingPointError, np.linalg.LinAlgError):
                continue
            if check(model, cand)[0] and cand.fun < best.fun - 1e-8:
                best, best_name = cand, f"{name} (multi-start)"
    return best, best_name


def check(model: Model, res) -> tuple[bool, str]:
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
