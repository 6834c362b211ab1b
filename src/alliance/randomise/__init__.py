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
from alliance.randomise.balance import (
    BALANCE_DEFAULT,
    BalanceResult,
    _balance,
    balance,
    median_strata,
)
from alliance.randomise.icc import IccResult, _icc_summary, design_effect, icc, icc_summary
from alliance.randomise.permutation import PermutationResult, permutation_test
from alliance.registry import Analysis, KeyEstimate, Section
from alliance.results import Result

__all__ = [
    "ANALYSIS",
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


def _randomisation(data) -> Result:
    """The report's randomisation section on validated data: the ICCs of every rating and the
    balance of the arms."""
    return Result(title="Randomisation: ICCs and balance",
                  tables={"icc": _icc_summary(data), "balance": _balance(data).estimates})


#: The randomised design (chapter 2): its section of ``alliance report`` (no ``fit`` command:
#: :func:`icc`, :func:`balance` and :func:`permutation_test` are called from Python).
ANALYSIS = Analysis(
    name="randomisation",
    help="balance of the arms, ICCs and design effects, randomisation inference",
    sections=(
        Section("randomisation", "balance of the arms and ICCs / design effects",
                fit=_randomisation,
                tables={"icc": ("icc", "Intraclass correlations and design effects"),
                        "balance": ("balance", "Balance of the arms")}),
    ),
    key_estimates=(KeyEstimate("ICC of therapist-rated alliance at the therapist level",
                               "icc_therapist"),),
    example=lambda data: icc(data, "alliance_therapist"),
    chapter=2,
)
