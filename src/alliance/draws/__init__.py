"""Monte Carlo draws: the one runner and the rates its draws give.

:mod:`~alliance.draws.runner` maps a function of one draw over draws that are
reproducible one by one (seeds, a resumable chunk store, local processes or a
Dask cluster); :mod:`~alliance.draws.rates` turns per-draw outcomes into shares
with binomial intervals. Neither imports an analysis, so every analysis may use
them: the RSA bootstrap, the replication rates of :mod:`alliance.findings` and
the studies of :mod:`alliance.studies`.
"""

from alliance.draws.rates import StudyResult, binomial_ci, rate
from alliance.draws.runner import draw_rng, read_store, run_draws

__all__ = ["StudyResult", "binomial_ci", "draw_rng", "rate", "read_store", "run_draws"]
