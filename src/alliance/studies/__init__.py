"""Studies: Monte Carlo computations built on one runner (local processes or a Dask cluster)."""

from __future__ import annotations

from alliance.studies.runner import draw_rng, read_store, run_draws

__all__ = ["draw_rng", "read_store", "run_draws"]
