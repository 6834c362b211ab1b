r"""Randomisation inference: re-randomise therapists with the trial's procedure, recompute a statistic.

Every re-randomisation is one draw of :func:`alliance.draws.run_draws` (draw *i* has its own
generator, ``SeedSequence(seed, spawn_key=(i,))``), like every other resampling of the
package: the result does not depend on the order of the draws or the number of processes.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pandas as pd

from alliance.allocation import allocate
from alliance.data.schema import CONDITIONS
from alliance.data.validate import read_sessions
from alliance.draws.runner import run_draws
from alliance.errors import AllianceWarning, FitError
from alliance.options import MAX_DRAWS, check_count, check_seed
from alliance.results import Result

__all__ = ["PermutationResult", "permutation_test"]


@dataclass(repr=False)
class PermutationResult(Result):
    """Result of :func:`permutation_test`.

    Table ``estimates`` (``test`` until this release, a name still accepted): one row
    (``term`` = the statistic's name, ``estimate`` = observed value, ``se``,
    ``statistic``, ``df``, ``ci_low``, ``ci_high`` NaN, ``p`` = permutation p value,
    ``mc_se`` = its Monte-Carlo standard error, ``n_permutations``, ``n_extreme``); table
    ``distribution``: the statistic under each re-randomisation (column
    ``statistic``). Attributes ``observed``, ``distribution``, ``p_value``,
    ``mc_se``.
    """

    TABLE_ALIASES: ClassVar[dict[str, str]] = {"test": "estimates"}

    @property
    def observed(self) -> float:
        return float(self.estimates["estimate"].iloc[0])

    @property
    def distribution(self) -> np.ndarray:
        return self.tables["distribution"]["statistic"].to_numpy()

    @property
    def p_value(self) -> float:
        return float(self.estimates["p"].iloc[0])

    @property
    def mc_se(self) -> float:
        return float(self.estimates["mc_se"].iloc[0])


def permutation_test(
    data: pd.DataFrame,
    statistic: Callable[[pd.DataFrame], float],
    *,
    n_permutations: int = 999,
    seed: int | np.random.Generator = 1,
    rng: np.random.Generator | None = None,
    block_size: int | None = None,
    strata: Mapping | None = None,
    alternative: str = "two-sided",
    columns=None,
    name: str = "statistic",
    jobs: int = 1,
) -> PermutationResult:
    r"""Randomisation inference: re-randomise therapists, recompute a statistic.

    Under the sharp null hypothesis that training changes no rating, the data
    would have been the same under any allocation the procedure could have
    produced; only the ``condition`` labels would differ. Each permutation
    re-runs :func:`allocate` on the list of therapists (with the trial's
    ``block_size`` and ``strata``), gives every patient and session of a
    therapist that therapist's new arm, and evaluates ``statistic`` on the
    relabelled data. Patients are never re-randomised individually: the
    clustering is kept exactly as in the trial (Gail et al. 1996).

    Two-sided p value, with :math:`T` the observed statistic and :math:`T_b`
    the :math:`B` permuted ones:

    .. math::

        p = \frac{1 + \#\{b : |T_b| \ge |T|\}}{B + 1},\qquad
        \mathrm{SE}_{MC}(p) = \sqrt{p(1 - p)/B}.

    The :math:`+1` counts the observed allocation as one of the possible ones,
    so :math:`p` is never 0 and the test is exact at level :math:`\alpha`
    (Phipson & Smyth 2010). One-sided: ``alternative="greater"`` counts
    :math:`T_b \ge T`, ``"less"`` counts :math:`T_b \le T`.

    Parameters
    ----------
    data : pandas.DataFrame or path
        Long session data, validated by :func:`alliance.read_sessions`.
    statistic : callable
        ``statistic(data) -> float``, e.g. the ``time:training`` estimate of a
        growth model. It receives a relabelled copy of ``data``.
    n_permutations : int
        Number :math:`B` of re-randomisations (drawn with replacement from the
        allocations the procedure can produce).
    seed : int or numpy.random.Generator
        Seed of the re-randomisations (default 1, as every seed of the package):
        re-randomisation *i* uses ``SeedSequence(seed, spawn_key=(i,))``
        (:func:`alliance.draws.run_draws`). A generator (a study running many tests
        from one stream) gives the seed: one whole number drawn from it.
    rng : numpy.random.Generator, optional
        The former name of a generator ``seed`` (accepted for one release).
    block_size, strata : optional
        Passed to :func:`allocate`; use the trial's own procedure.
    alternative : {"two-sided", "greater", "less"}
    columns : mapping, optional
        ``{canonical: yours}`` for columns named differently from the canonical
        schema (as :func:`alliance.read_sessions`).
    name : str
        Label of the statistic in the result table.

    jobs : int
        Worker processes (``statistic`` must then be a module-level function).

    Returns
    -------
    PermutationResult
        ``observed``, ``distribution``, ``p_value``, ``mc_se``; any
        :class:`~alliance.AllianceWarning` raised by the statistic during the
        permutations is counted, recorded in ``warnings`` and emitted once.

    Notes
    -----
    Do not reuse the seed that allocated the trial: ``allocate(units, seed=s)``
    is then the first re-randomisation, which reproduces the observed
    allocation (harmless for validity, but a wasted permutation).
    The statistic is symmetric about 0 under the null only approximately; the
    two-sided p value compares absolute values, which is the usual choice for
    a difference between arms. Tests (``tests/test_randomise.py``) check that
    no permutation ever splits a therapist's patients across arms, that each
    permuted allocation is exactly 1:1, and that p is uniform under a null
    simulation.

    References
    ----------
    Gail, M. H., Mark, S. D., Carroll, R. J., Green, S. B., & Pee, D. (1996).
    On design considerations and randomization-based inference for community
    intervention trials. *Statistics in Medicine*, 15(11), 1069-1092.

    Phipson, B., & Smyth, G. K. (2010). Permutation p-values should never be
    zero: calculating exact p-values when permutations are randomly drawn.
    *Statistical Applications in Genetics and Molecular Biology*, 9(1), 39.

    Examples
    --------
    >>> import alliance
    >>> from alliance.randomise import permutation_test
    >>> data = alliance.load_example()
    >>> def arm_difference(d):
    ...     m = d.groupby("condition")["alliance_therapist"].mean()
    ...     return m["training"] - m["control"]
    >>> res = permutation_test(data, arm_difference, n_permutations=99, seed=1)
    >>> len(res.distribution), 0.01 <= res.p_value <= 1
    (99, True)
    """
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError("permutation_test: alternative must be 'two-sided', 'greater' or 'less'")
    B = check_count(n_permutations, "n_permutations", low=1, high=MAX_DRAWS)
    if rng is not None:  # the former name of a generator seed, for one release
        if seed is not rng and not (isinstance(seed, int) and seed == 1):
            raise ValueError("permutation_test: give seed (a generator is a seed too), not "
                             "both seed and rng, its former name")
        seed = rng
    seed = check_seed(seed, generator=True)
    if isinstance(seed, np.random.Generator):  # the study's seed: one number drawn from it
        seed = int(seed.integers(0, 2**63 - 1))
    return _permutation_test(read_sessions(data, columns), statistic, B, seed=seed,
                             block_size=block_size, strata=strata, alternative=alternative,
                             name=name, jobs=jobs)


def _statistic(statistic: Callable, d: pd.DataFrame) -> tuple[float, list[str]]:
    """The statistic on ``d`` and the AllianceWarnings it raised (others are passed on)."""
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always", AllianceWarning)
        value = float(statistic(d))
    for x in w:
        if not issubclass(x.category, AllianceWarning):
            warnings.warn_explicit(x.message, x.category, x.filename, x.lineno)
    return value, [str(x.message) for x in w if issubclass(x.category, AllianceWarning)]


def _permutation_draw(draw: int, rng: np.random.Generator, data: pd.DataFrame,
                      statistic: Callable, units: list, codes: np.ndarray, block_size,
                      strata) -> dict:
    """One re-randomisation: the trial's allocation procedure on the therapists, every
    patient and session of a therapist given that therapist's new arm, the statistic."""
    alloc = allocate(units, seed=rng, block_size=block_size, strata=strata, arms=CONDITIONS)
    labels = alloc["condition"].to_numpy(dtype=object)
    permuted = data.copy()
    permuted["condition"] = labels[codes]
    value, caught = _statistic(statistic, permuted)
    return {"statistic": value, "n_warnings": len(caught),
            "first_warning": caught[0] if caught else ""}


def _permutation_test(data: pd.DataFrame, statistic: Callable, n_permutations: int = 999, *,
                      seed: int = 1, block_size: int | None = None, strata: Mapping | None = None,
                      alternative: str = "two-sided", name: str = "statistic",
                      jobs: int = 1) -> PermutationResult:
    """:func:`permutation_test` on validated session data."""
    therapist, condition = "therapist", "condition"
    B = n_permutations
    arm_of = data.groupby(therapist, sort=False)[condition].first()
    units = list(arm_of.index)
    if strata is not None:
        strata = {u: strata[u] for u in units} if all(u in strata for u in units) else strata
    codes = pd.Index(units).get_indexer(data[therapist])
    observed, caught = _statistic(statistic, data)
    draws = run_draws(_permutation_draw, B, seed=seed, jobs=jobs,
                      args=(data, statistic, units, codes, block_size, strata))
    failed = draws[draws["error"] != ""]
    if len(failed):
        raise FitError(f"permutation_test: the statistic could not be computed on "
                       f"re-randomisation {int(failed['draw'].iloc[0])} ({failed['error'].iloc[0]}; "
                       f"{len(failed)} of {B} failed) [rule: a permutation test needs the "
                       "statistic on every re-randomisation]")
    dist = draws["statistic"].to_numpy(dtype=float)
    n_observed_warnings = len(caught)
    n_perm_warn = int(draws["n_warnings"].sum())
    first = caught[0] if caught else next((w for w in draws["first_warning"] if w), "")
    if not np.isfinite(observed) or not np.all(np.isfinite(dist)):
        raise ValueError("permutation_test: the statistic returned a non-finite value")
    if alternative == "two-sided":
        tol = 1e-12 * max(1.0, abs(observed))
        extreme = int(np.sum(np.abs(dist) >= abs(observed) - tol))
    elif alternative == "greater":
        extreme = int(np.sum(dist >= observed - 1e-12 * max(1.0, abs(observed))))
    else:
        extreme = int(np.sum(dist <= observed + 1e-12 * max(1.0, abs(observed))))
    p = (1 + extreme) / (B + 1)
    mc_se = math.sqrt(p * (1 - p) / B)
    notes = []
    if n_observed_warnings or n_perm_warn:
        notes.append(
            f"the statistic raised {n_observed_warnings + n_perm_warn} AllianceWarning(s) "
            f"({n_observed_warnings} on the observed data, {n_perm_warn} over {B} permutations); "
            f"first: {first}"
        )
        warnings.warn(notes[-1], AllianceWarning, stacklevel=3)
    test = pd.DataFrame(
        [
            {
                "term": name,
                "estimate": observed,
                "se": np.nan,
                "statistic": np.nan,
                "df": np.nan,
                "p": p,
                "ci_low": np.nan,
                "ci_high": np.nan,
                "mc_se": mc_se,
                "n_permutations": B,
                "n_extreme": extreme,
                "alternative": alternative,
            }
        ]
    )
    return PermutationResult(
        title=f"Randomisation test of {name} (therapists re-randomised {B} times)",
        tables={"estimates": test, "distribution": pd.DataFrame({"statistic": dist})},
        n_obs=len(data),
        n_groups={therapist: len(units)},
        warnings=notes,
        info={
            "n_permutations": B,
            "alternative": alternative,
            "block_size": block_size,
            "stratified": strata is not None,
            "seed": seed,
            "permutation_mean": float(dist.mean()),
            "permutation_sd": float(dist.std(ddof=1)) if B > 1 else float("nan"),
        },
    )
