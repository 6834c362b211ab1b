"""alliance: session-by-session therapeutic alliance analysis.

Growth models, the truth-and-bias model of rater congruence, (multilevel)
response surface analysis and lagged outcomes for long data with one row per
patient x session. See the book for a worked replication.
"""

from __future__ import annotations

from alliance._errors import AllianceError, AllianceWarning, DataError, FitError
from alliance.datasets import example_path, load_example, write_sessions
from alliance.growth import GrowthResult, fit_growth
from alliance.io import read_sessions, read_table
from alliance.lagged import LaggedResult, fit_lagged, nickell_simulation
from alliance.mixed import fit_lmm, lrt
from alliance.lags import lag
from alliance.randomise import (
    allocate,
    balance,
    design_effect,
    icc,
    icc_summary,
    median_strata,
    permutation_test,
)
from alliance.rsa import congruence_checklist, fit_rsa, surface_parameters
from alliance.truth_bias import TruthBiasResult, fit_truth_bias, fit_truth_bias_cross
from alliance.simulate import SimulationParams, describe_parameters, simulate
from alliance.findings import evaluate as evaluate_findings

__version__ = "0.1.0"

__all__ = [
    "AllianceError",
    "AllianceWarning",
    "DataError",
    "FitError",
    "SimulationParams",
    "allocate",
    "balance",
    "congruence_checklist",
    "design_effect",
    "fit_rsa",
    "icc",
    "icc_summary",
    "lag",
    "median_strata",
    "permutation_test",
    "surface_parameters",
    "describe_parameters",
    "example_path",
    "fit_growth",
    "GrowthResult",
    "fit_lagged",
    "LaggedResult",
    "nickell_simulation",
    "fit_lmm",
    "lrt",
    "load_example",
    "read_sessions",
    "read_table",
    "simulate",
    "evaluate_findings",
    "fit_truth_bias",
    "fit_truth_bias_cross",
    "TruthBiasResult",
    "write_sessions",
    "__version__",
]
