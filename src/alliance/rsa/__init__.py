"""Response surface analysis: single level, multilevel, lagged, moderated.

:func:`fit_rsa` fits the surface; :mod:`alliance.rsa.surface` holds the surface
algebra (a1-a5, stationary point, principal axes, the congruence checklist);
:mod:`alliance.rsa.models` and :mod:`alliance.rsa.family` the model family of the R
package RSA (second-order and cubic) and its comparison; :mod:`alliance.rsa.cubic`
the cubic surfaces' parameters and range checks; :mod:`alliance.rsa.verdict` the
automatic congruence verdict; :mod:`alliance.rsa.bootstrap` percentile bootstrap CIs
(case or cluster resampling) on the project's runner.
Figures are in :mod:`alliance.plots.rsa`, the command in :mod:`alliance.cli.rsa`.
"""

from __future__ import annotations

from alliance.rsa.bootstrap import BootstrapResult, bootstrap_rsa
from alliance.rsa.cubic import ca_range, cl_range
from alliance.rsa.fit import MODELS, RSAResult, fit_rsa, regions_of_significance, rsa_spec
from alliance.rsa.models import CUBIC_MODELS, DEFAULT_MODELS
from alliance.rsa.spec import RSASpec
from alliance.rsa.surface import (
    COEF_NAMES,
    QUANTITIES,
    SURFACE_L,
    congruence_checklist,
    surface_parameters,
    surface_quantities,
)
from alliance.rsa.verdict import OUTCOMES, Verdict, congruence_verdict

__all__ = [
    "COEF_NAMES",
    "CUBIC_MODELS",
    "DEFAULT_MODELS",
    "MODELS",
    "OUTCOMES",
    "QUANTITIES",
    "SURFACE_L",
    "BootstrapResult",
    "RSAResult",
    "RSASpec",
    "Verdict",
    "bootstrap_rsa",
    "ca_range",
    "cl_range",
    "congruence_checklist",
    "congruence_verdict",
    "fit_rsa",
    "regions_of_significance",
    "rsa_spec",
    "surface_parameters",
    "surface_quantities",
]
