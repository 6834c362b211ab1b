"""Studies: Monte Carlo computations over whole analyses, run by :mod:`alliance.draws`.

:mod:`~alliance.studies.power` (power curves for the next trial),
:mod:`~alliance.studies.bootstrap` (the cluster bootstrap of any model) and
:mod:`~alliance.studies.frozen` (studies frozen in ``data/studies`` with their
provenance) sit above the analyses and :mod:`alliance.findings`, whose per-draw
functions they run; the runner and the rates they use live one layer down in
:mod:`alliance.draws`. Names are imported lazily, so importing one study never
loads the others.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "power_draw": "alliance.studies.power",
    "power_study": "alliance.studies.power",
    "therapists_needed": "alliance.studies.power",
    "load_study": "alliance.studies.frozen",
    "cluster_bootstrap": "alliance.studies.bootstrap",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'alliance.studies' has no attribute {name!r}")
