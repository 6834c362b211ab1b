"""Studies: Monte Carlo computations built on one runner (local processes or a Dask cluster).

Two layers live here. :mod:`~alliance.studies.runner` (draws, seeds, the chunk
store) and :mod:`~alliance.studies.rates` (shares with binomial intervals) import
nothing of the package above :mod:`alliance.results`, so every analysis may use
them. :mod:`~alliance.studies.power` (power curves for the next trial) and
:mod:`~alliance.studies.frozen` (studies frozen in ``data/studies`` with their
provenance) sit at the top beside :mod:`alliance.findings`, whose per-draw
function they run. Names are imported lazily, so importing the runner never loads
the analyses.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "draw_rng": "alliance.studies.runner",
    "read_store": "alliance.studies.runner",
    "run_draws": "alliance.studies.runner",
    "binomial_ci": "alliance.studies.rates",
    "StudyResult": "alliance.studies.rates",
    "power_draw": "alliance.studies.power",
    "power_study": "alliance.studies.power",
    "therapists_needed": "alliance.studies.power",
    "load_study": "alliance.studies.frozen",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'alliance.studies' has no attribute {name!r}")
