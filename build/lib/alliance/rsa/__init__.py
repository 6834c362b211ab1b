"""Response surface analysis: single level, multilevel, lagged, moderated.

:func:`fit_rsa` fits the surface; :mod:`alliance.rsa.surface` holds the surface
algebra (a1-a5, stationary point, principal axes, the congruence checklist).
Figures are in :mod:`alliance.plots.rsa`, the command in :mod:`alliance.cli.rsa`.
"""

from __future__ import annotations

from alliance.rsa.fit import MODELS, RSAResult, fit_rsa, regions_of_significance
from alliance.rsa.surface import (
    COEF_NAMES,
    QUANTITIES,
    SURFACE_L,
    congruence_checklist,
    surface_parameters,
    surface_quantities,
)

__all__ = [
    "COEF_NAMES",
    "MODELS",
    "QUANTITIES",
    "SURFACE_L",
    "RSAResult",
    "congruence_checklist",
    "fit_rsa",
    "regions_of_significance",
    "surface_parameters",
    "surface_quantities",
]
