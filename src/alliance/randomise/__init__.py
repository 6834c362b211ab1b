"""The randomised design: balance, ICCs and design effects, randomisation inference.

The unit of randomisation is the **therapist**. Chapter 2 of the book computes, one job
per module:

* :mod:`~alliance.randomise.balance`: :func:`balance` compares the arms on therapist-
  and patient-level variables with standardised differences, each at its own level;
  :func:`median_strata` gives the strata of a stratified allocation;
* :mod:`~alliance.randomise.icc`: :func:`icc` estimates intraclass correlations at the
  therapist and patient level from a three-level random-intercept model, with the
  design effect and effective sample size they imply (:func:`design_effect`);
* :mod:`~alliance.randomise.permutation`: :func:`permutation_test` is randomisation
  inference: it re-runs the allocation procedure (:func:`alliance.allocation.allocate`,
  also here as :func:`allocate`) on the therapists, never on patients, and recomputes
  any statistic on the relabelled data.
"""

from __future__ import annotations

from alliance.allocation import allocate
from alliance.randomise.balance import BALANCE_DEFAULT, BalanceResult, balance, median_strata
from alliance.randomise.icc import IccResult, design_effect, icc, icc_summary
from alliance.randomise.permutation import PermutationResult, permutation_test

__all__ = [
    "BALANCE_DEFAULT",
    "BalanceResult",
    "IccResult",
    "PermutationResult",
    "allocate",
    "balance",
    "design_effect",
    "icc",
    "icc_summary",
    "median_strata",
    "permutation_test",
]
