r"""What the generative model implies: the values a correct analysis should recover.

The effects :func:`alliance.synthetic.simulate` builds in are not always the
numbers an analysis estimates: a tracking weight on the latent alliance is seen
through the patient's noisy rating, a curved surface is seen through a linear
slope. These functions derive, from :class:`~alliance.synthetic.SimulationParams`,
the values the book's analyses estimate on the synthetic data -- the *estimands* --
so chapters and tests set estimates beside their truths. :func:`truth` (the same as
:meth:`SimulationParams.truth`) is the one place the book's printed truths come from;
:func:`estimand_notes` says, for each, which estimate targets it and why it has the
value it has.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alliance.data.example import load_example
from alliance.data.lags import split_within_between
from alliance.synthetic.params import (  # defined beside the parameters they derive from
    SimulationParams,
    implied_temporal_congruence,
    within_time_variance,
)

__all__ = ["estimand_notes", "implied_temporal_congruence", "implied_within_slopes", "truth",
           "within_time_variance"]

def truth(params: SimulationParams | None = None) -> dict[str, float]:
    """The estimands of the book's tests (:meth:`SimulationParams.truth`; see :func:`estimand_notes`).

    Examples
    --------
    >>> from alliance.synthetic.truths import truth
    >>> t = truth()
    >>> t["a1"], t["growth_difference_therapist"], round(t["tracking_difference"], 3)
    (3.0, 0.04, 0.141)
    """
    return (params or SimulationParams()).truth()


def estimand_notes() -> dict[str, str]:
    """What each key of :func:`truth` is: the estimate that targets it and how its value follows.

    Examples
    --------
    >>> from alliance.synthetic.truths import estimand_notes, truth
    >>> sorted(estimand_notes()) == sorted(truth())
    True
    """
    surface = ("of the within-patient lagged surface (Nestler et al. 2019: patient means at level "
               "2), training arm; the surface f of the generative model is a polynomial in the "
               "observed (rounded) ratings of the previous session, so its within-patient "
               "coefficients are exactly the b's: ")
    return {
        "a1": surface + "a1 = b1 + b2 (slope along the line of congruence)",
        "a2": surface + "a2 = b3 + b4 + b5 (curvature along the line of congruence)",
        "a3": surface + "a3 = b1 - b2 (slope along the line of incongruence)",
        "a4": surface + "a4 = b3 - b4 + b5 (curvature along the line of incongruence)",
        "a5": surface + "a5 = b3 - b5",
        "growth_difference_therapist": (
            "time:training of the therapist-rated growth model: delta_T. The therapist random "
            "slopes and patient-specific growth have mean zero in both arms, so they widen the "
            "estimate's SE, not its target; rounding and the scale's bounds change it by far "
            "less than its SE (tests/test_simulate.py)"),
        "growth_difference_patient": (
            "time:training of the patient-rated growth model: 0 (patient-rated growth is the same "
            "in both arms)"),
        "growth_difference_rater": (
            "time:training:therapist_rater of the stacked growth model: delta_T - 0"),
        "tracking_difference": (
            "temporal congruence, training - control, of the truth-and-bias model: "
            "(lambda_1 - lambda_0) attenuated by the reliability of the patient's observed session "
            "deviations (implied_temporal_congruence), not lambda_1 - lambda_0"),
        "a1_control": (
            "a1 of the within-patient surface, control arm: control_a1 (0 in the default model). "
            "The control arm's between-patient alliance-outcome association (level_wellbeing_corr) "
            "is not part of it: a specification that lets between-patient association into an "
            "arm's a1 is biased for it"),
        "a1_difference": "a1, training - control, of the within-patient surface: b1 + b2 - control_a1",
    }


def implied_within_slopes(params=None, data: pd.DataFrame | None = None) -> pd.DataFrame:
    r"""The lagged within-patient slopes the book's generative model encodes, per arm.

    In :func:`alliance.simulate`, well-being in the training arm contains the lagged
    surface :math:`f(x, y) = b_1x + b_2y + b_3x^2 + b_4xy + b_5y^2` of the previous
    session's therapist (:math:`x`) and patient (:math:`y`) ratings, centred at
    :math:`c`; the control arm has none. A linear within-patient slope captures the
    surface's local slope at the patient's own ratings: :math:`\partial f/\partial x
    = b_1 + 2b_3\bar x_i + b_4\bar y_i` and :math:`\partial f/\partial y = b_2 +
    b_4\bar x_i + 2b_5\bar y_i`, averaged here over the training-arm rows of
    ``data`` (patient means of each rating minus :math:`c`; default the shipped
    data). This is the first-order value the within effects of
    :func:`fit_lagged` estimate (rating error attenuates them somewhat).

    Returns
    -------
    pandas.DataFrame
        ``predictor``, ``level`` (``control``, ``training``, ``training - control``),
        ``implied``.
    """
    p = params or SimulationParams()
    data = load_example() if data is None else data
    tr = data[data["condition"] == "training"]
    pid = tr["patient"].astype(str).to_numpy()
    xb, _ = split_within_between(tr["alliance_therapist"], pid)
    yb, _ = split_within_between(tr["alliance_patient"], pid)
    xb, yb = xb - p.surface_center, yb - p.surface_center
    fx = float(np.nanmean(p.b1_therapist + 2 * p.b3_therapist_sq * xb + p.b4_product * yb))
    fy = float(np.nanmean(p.b2_patient + p.b4_product * xb + 2 * p.b5_patient_sq * yb))
    rows = []
    for pred, v in (("alliance_therapist", fx), ("alliance_patient", fy)):
        rows += [{"predictor": pred, "level": "control", "implied": 0.0},
                 {"predictor": pred, "level": "training", "implied": v},
                 {"predictor": pred, "level": "training - control", "implied": v}]
    return pd.DataFrame(rows)
