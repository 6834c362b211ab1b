"""Response surface analysis (single level, multilevel, lagged, moderated) and its figures.

``alliance fit rsa``: response surface analysis of an outcome on two commensurable predictors.
"""

from __future__ import annotations

from alliance.rsa.cli import cli_arguments, cli_run  # ``alliance fit rsa``
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
    "cli_arguments",
    "cli_run",
    "congruence_checklist",
    "fit_rsa",
    "regions_of_significance",
    "surface_parameters",
    "surface_quantities",
]

from alliance.rsa.plots import (
    InteractiveSurface,
    explorer,
    interactive_surface,
    plot_contour,
    plot_surface,
)

__all__ += ["InteractiveSurface", "explorer", "interactive_surface", "plot_contour", "plot_surface"]
