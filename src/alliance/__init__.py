"""alliance: session-by-session therapeutic alliance analysis.

Growth models, the truth-and-bias model of rater congruence, (multilevel)
response surface analysis and lagged outcomes for long data with one row per
patient x session. See the book for a worked replication.

The package is layered; each layer imports only the ones below it:

====================  ==============================================================
``errors``,           exceptions and warnings; the one result shape and row log;
``results``,          moderated effects (an effect per arm and the arm difference);
``moderation``,       outputs written whole or not at all; the one check of every
``outputs``,          common argument (levels, seeds, counts, values picked on the
``options``           data), shared by the functions and the command line
``data``              the data model, the one validation path (files and DataFrames),
                      lags, data summaries, the shipped example data
``allocation``        cluster randomisation as code
``synthetic``         the documented generative model and what it implies
``mixed``             the mixed-model engine
``randomise``,        the analyses
``growth``,
``truth_bias``,
``lagged``, ``rsa``
``plots``             every figure (reads results, never refits)
``findings``,         the paper's four findings; every analysis on one file
``report``
``cli``               the command line (the only place argparse lives)
====================  ==============================================================

Names are imported lazily: ``import alliance`` is cheap, and ``alliance.fit_growth``
loads the growth module (and the engine) on first use.
"""

from __future__ import annotations

import importlib

__version__ = "0.2.0"

#: Public name -> module that defines it.
_EXPORTS = {
    "AllianceError": "alliance.errors",
    "AllianceWarning": "alliance.errors",
    "DataError": "alliance.errors",
    "FitError": "alliance.errors",
    "Result": "alliance.results",
    "read_sessions": "alliance.data.validate",
    "read_table": "alliance.data.validate",
    "lag": "alliance.data.lags",
    "example_path": "alliance.data.example",
    "load_example": "alliance.data.example",
    "write_sessions": "alliance.data.example",
    "allocate": "alliance.allocation",
    "SimulationParams": "alliance.synthetic.params",
    "describe_parameters": "alliance.synthetic.params",
    "simulate": "alliance.synthetic.simulate",
    "fit_lmm": "alliance.mixed",
    "lrt": "alliance.mixed",
    "balance": "alliance.randomise",
    "design_effect": "alliance.randomise",
    "icc": "alliance.randomise",
    "icc_summary": "alliance.randomise",
    "median_strata": "alliance.randomise",
    "permutation_test": "alliance.randomise",
    "GrowthResult": "alliance.growth",
    "fit_growth": "alliance.growth",
    "TruthBiasResult": "alliance.truth_bias",
    "fit_truth_bias": "alliance.truth_bias",
    "fit_truth_bias_cross": "alliance.truth_bias",
    "LaggedResult": "alliance.lagged",
    "fit_lagged": "alliance.lagged",
    "nickell_simulation": "alliance.lagged",
    "congruence_checklist": "alliance.rsa",
    "fit_rsa": "alliance.rsa",
    "surface_parameters": "alliance.rsa",
    "evaluate_findings": ("alliance.findings", "evaluate"),
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    target = _EXPORTS.get(name)
    if target is None:
        try:  # a subpackage or module: alliance.growth, alliance.plots, ...
            return importlib.import_module(f"alliance.{name}")
        except ModuleNotFoundError:
            raise AttributeError(f"module 'alliance' has no attribute {name!r}") from None
    module, attr = target if isinstance(target, tuple) else (target, name)
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
