"""Response surface analysis: single level, multilevel, lagged, moderated.

:func:`fit_rsa` fits the surface; :mod:`alliance.rsa.surface` holds the surface
algebra (a1-a5, stationary point, principal axes, the congruence checklist);
:mod:`alliance.rsa.models` and :mod:`alliance.rsa.family` the model family of the R
package RSA (second-order and cubic) and its comparison; :mod:`alliance.rsa.cubic`
the cubic surfaces' parameters and range checks; :mod:`alliance.rsa.verdict` the
automatic congruence verdict; :mod:`alliance.rsa.bootstrap` percentile bootstrap CIs
(case or cluster resampling) on the project's runner.
Figures are in :mod:`alliance.plots.rsa`; :data:`ANALYSIS` registers the command ``alliance fit rsa``.
"""

from __future__ import annotations

from alliance.registry import Analysis, Figure, KeyEstimate, Option, Section
from alliance.rsa.bootstrap import BootstrapResult, bootstrap_rsa
from alliance.rsa.cubic import ca_range, cl_range
from alliance.rsa.fit import MODELS, RSAResult, _command, fit_rsa, regions_of_significance, rsa_spec
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
    "ANALYSIS",
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

_CHECKLIST = "Congruence checklist"

#: Response surface analysis (chapter 5): ``alliance fit rsa`` on any long table, and the
#: lagged surfaces of the report (the book's specifications, :data:`alliance.findings.PAPER_MODELS`).
ANALYSIS = Analysis(
    name="rsa",
    help="response surface analysis of an outcome on two predictors",
    fit=fit_rsa,
    command=_command,
    reads="table",
    method="ML",  # the model family is compared by likelihood, which needs ML (Nestler et al.)
    options=(
        Option("outcome", "outcome column (z)", required=True, example="wellbeing"),
        Option("x", "first predictor column (X)", required=True, example="alliance_therapist"),
        Option("y", "second predictor column (Y), same scale as X", example="alliance_patient"),
        Option("y_as_group_mean", "Y = mean of X within the (innermost) --group instead of a "
               "column", kind="flag"),
        Option("group", "grouping column for a random intercept (repeatable, outermost first); "
               "omit for a single-level OLS fit", kind="list", metavar="C"),
        Option("time", "time column (with --lag)"),
        Option("lag", "take X and Y this many sessions earlier (same unit of the innermost "
               "--group; never across gaps)", type=int),
        Option("lag_within", "unit lags stay within (default: the innermost --group); lets a "
               "single-level fit be lagged", metavar="C"),
        Option("prior_outcome", "with --lag: control for the outcome --lag sessions earlier",
               kind="flag"),
        Option("moderator", "binary or numeric moderator column"),
        Option("moderator_levels", "the two levels of a binary moderator (reference first)",
               kind="pair", metavar=("REF", "FOCAL")),
        Option("at", "numeric moderator: value to pick surfaces at (repeatable; default "
               "mean - SD, mean, mean + SD)", type=float, kind="list"),
        Option("covariate", "numeric control variable (repeatable)", kind="list", metavar="C"),
        Option("center", "common centre of X and Y: pooled (mean of both, default), none, "
               "variablewise (warns) or a number such as the scale midpoint", default="pooled"),
        Option("se", "single level: standard errors (default hc0, the RSA package's default)",
               choices=("classical", "hc0", "hc1", "hc3", "ml")),
        Option("model", "model of the surface tables: full (default), or a constrained model of "
               "the family (" + ", ".join(MODELS) + ")", metavar="NAME"),
        Option("compare", "fit and compare the model family (AICc weights, LR tests -- scaled as "
               "lavaan's MLR when the SEs are robust -- every model's estimates); with --cubic "
               "also the cubic models", kind="flag"),
        Option("family", "models to compare: default, cubic, all (also diff, mean and the "
               "piecewise absdiff, absunc), or names separated by commas", metavar="SPEC"),
        Option("cubic", "third-order surface (X^3, X^2Y, XY^2, Y^3; Humberg et al. 2022)",
               kind="flag"),
        Option("verdict", "print only the congruence verdict per surface and its conditions",
               kind="flag"),
        Option("outliers", "single level: drop Bollen & Jackman (1980) outliers, as the RSA "
               "package does by default (reported)", choices=("bj1980",)),
        Option("n_boot", "add percentile bootstrap CIs from N draws (cases; units of the "
               "outermost --group for multilevel fits)", type=int, metavar="N"),
        Option("bootstrap", "the former name of --n-boot (kept for one release)", type=int,
               metavar="N"),
        Option("seed", "seed of the bootstrap, a whole number >= 0 (default 1)", default=1,
               type=int),
        Option("jobs", "bootstrap worker processes", default=1, type=int),
        Option("random", "random intercept only, or also random slopes of the five terms",
               default="intercept", choices=("intercept", "full")),
        Option("level2_means", "add the group means of the five terms at level 2 (Nestler et "
               "al. 2019)", kind="flag"),
    ),
    sections=(
        Section("rsa", "lagged multilevel response surface of well-being (chapter 5)",
                model="rsa",
                tables={"rsa_surface": ("estimates", "Response surface parameters"),
                        "rsa_checklist": ("checklist", _CHECKLIST)},
                figures=(Figure("rsa_surface", "plot_surface",
                                "The lagged response surface of well-being on the previous "
                                "session's therapist- and patient-rated alliance, by arm."),
                         Figure("rsa_contour", "plot_contour",
                                "Contours of the same surfaces, with the line of congruence."))),
        Section("rsa_within", "the same surface within patients: each patient's means of the five "
                "terms and their products with the arm at level 2 (chapters 5, 7)",
                model="rsa_within",
                tables={"rsa_within_surface": ("estimates", ("Within-patient response surface "
                                                             "parameters (patient means x arm at "
                                                             "level 2)")),
                        "rsa_within_checklist": ("checklist", _CHECKLIST + " of the "
                                                 "within-patient surface")}),
    ),
    key_estimates=(KeyEstimate("a1, training arm", "a1", "training"),
                   KeyEstimate("a1, training - control", "a1", "training - control")),
    example=lambda data: fit_rsa(data, "wellbeing", "alliance_therapist", "alliance_patient",
                                 group=["therapist", "patient"], time="session", lag=1,
                                 moderator="condition", covariates=["session"]),
    chapter=5,
)
