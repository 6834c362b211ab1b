"""The curvature behind every df: its arithmetic on the stacked difference points equals the
point-by-point definition, bit for bit (issue 23: the stacked form saves the per-point NumPy
calls, about a third of the curvature's time at the book's size)."""

from __future__ import annotations

import importlib.util
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import alliance
import alliance.mixed.fit as fit_module
from alliance.errors import AllianceWarning
from alliance.growth import fit_growth
from alliance.mixed import fit_lmm
from alliance.mixed.inference import _steps, cho_inverse, curvature

_spec = importlib.util.spec_from_file_location("mixed_cases", Path(__file__).with_name("mixed_cases.py"))
mixed_cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mixed_cases)


def _point_by_point(model, x, Rinv):
    """The curvature as it was computed before the stacked form: one difference point at a
    time (the definition the stacked form must equal)."""
    c0 = model._core(x, want_grad=True)
    dfr, r2 = c0["dfr"], c0["r2"]
    s2 = r2 / dfr
    sigma = math.sqrt(s2)
    npar, p = x.size, model.p

    def phi_of(c):
        return Rinv @ cho_inverse(c["RX"]) @ Rinv.T

    Hp = np.empty((npar, npar))
    Hd = np.empty((npar + 1, npar + 1))
    dphi = np.empty((npar + 1, p, p))
    h = _steps(x)
    steps = np.diag(h)
    pts = model.core_batch(np.concatenate([x + steps, x - steps]), want_grad=True)
    for i in range(npar):
        cu, cd = pts[i], pts[npar + i]
        gpu = cu["g_a"] + dfr / cu["r2"] * cu["g_r2"]
        gpd = cd["g_a"] + dfr / cd["r2"] * cd["g_r2"]
        Hp[:, i] = (gpu - gpd) / (2 * h[i])
        gdu = cu["g_a"] + cu["g_r2"] / s2
        gdd = cd["g_a"] + cd["g_r2"] / s2
        Hd[:npar, i] = (gdu - gdd) / (2 * h[i])
        dphi[i] = s2 * (phi_of(cu) - phi_of(cd)) / (2 * h[i])
    Hd[:npar, npar] = Hd[npar, :npar] = -2.0 * c0["g_r2"] / sigma**3
    Hd[npar, npar] = -2.0 * dfr / s2 + 6.0 * r2 / s2**2
    phi = s2 * phi_of(c0)
    dphi[npar] = 2.0 * phi / sigma
    Hp = (Hp + Hp.T) / 2.0
    Hd[:npar, :npar] = (Hd[:npar, :npar] + Hd[:npar, :npar].T) / 2.0
    return {"grad": c0["g_a"] + dfr / r2 * c0["g_r2"], "hess_profiled": Hp,
            "hess_deviance": Hd, "dphi": dphi, "phi": phi}


def _stacked_growth():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AllianceWarning)
        fit_growth(alliance.load_example(), "both", therapist_effects="intercept+slope")


def _case(name):
    def run():
        ours, _theirs, _var = mixed_cases.CASES[name]()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AllianceWarning)
            fit_lmm(*ours)
    return run


# the reference cases (nested and crossed factors: both layouts of the engine) and the stacked
# two-rater growth model (a residual variance per rater: the rho parameters)
RUNS = {**{n: _case(n) for n in sorted(mixed_cases.CASES)}, "growth_both_slope": _stacked_growth}


@pytest.mark.parametrize("name", list(RUNS))
def test_stacked_curvature_equals_point_by_point(name, monkeypatch):
    seen = []

    def spy(model, x, Rinv):
        seen.append((model, np.array(x, dtype=float), Rinv))
        return curvature(model, x, Rinv)

    monkeypatch.setattr(fit_module, "curvature", spy)
    RUNS[name]()
    assert seen, "the fit computed no curvature"
    model, x, Rinv = seen[-1]
    model._last = None  # both computed from scratch
    got = curvature(model, x, Rinv)
    model._last = None
    want = _point_by_point(model, x, Rinv)
    for field, value in want.items():
        assert np.array_equal(getattr(got, field), value), field
