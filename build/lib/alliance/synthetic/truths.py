r"""What the generative model implies: the values a correct analysis should recover.

The effects :func:`alliance.synthetic.simulate` builds in are not always the
numbers an analysis estimates: a tracking weight on the latent alliance is seen
through the patient's noisy rating, a curved surface is seen through a linear
slope. These functions derive, from :class:`~alliance.synthetic.SimulationParams`,
the values the book's analyses estimate on the synthetic data, so chapters and
tests can set estimates beside their truths.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alliance.data.example import load_example
from alliance.data.lags import split_within_between
from alliance.synthetic.params import SimulationParams

__all__ = ["implied_temporal_congruence", "implied_within_slopes", "truth"]


def truth(params: SimulationParams | None = None) -> dict[str, float]:
    """The surface parameters a1-a5 of the training arm and the other encoded effects."""
    return (params or SimulationParams()).truth()


def implied_temporal_congruence(params=None) -> dict[str, float]:
    r"""Temporal congruence the generative model of :func:`alliance.simulate` implies.

    The simulator's tracking weight :math:`\lambda_a` multiplies the *latent*
    session fluctuation :math:`\xi` of the patient's alliance, but the model
    regresses the therapist's rating on the patient's *observed* rating. Within a
    patient (session trend controlled) the observed truth varies by
    :math:`\xi + \varepsilon^P + w_i (t - \bar t)` and the judgment by
    :math:`\lambda_a \xi + \varepsilon^T`, so the observed within-dyad slope is

    .. math::

        \tau_{W,a} = \lambda_a\,
            \frac{\sigma^2_\xi}{\sigma^2_\xi + \sigma^2_P + \sigma^2_w\,\mathrm{Var}(t)},

    :math:`\lambda_a` attenuated by the reliability of the patient's session
    deviations (``sd_fluctuation``, ``sd_error_patient``, ``sd_growth_patient``;
    :math:`\mathrm{Var}(t)` over sessions ``0 .. n_sessions - 1``). Rounding to the
    instrument's resolution and clipping at the scale's ends are ignored; the
    tests check the value against a fit to a draw 100 times the trial's size.

    Returns
    -------
    dict
        ``control``, ``training``, ``training - control`` and ``reliability``
        (the attenuation factor).

    Examples
    --------
    >>> from alliance.synthetic.truths import implied_temporal_congruence
    >>> round(implied_temporal_congruence()["training - control"], 3)
    0.154
    """
    p = params or SimulationParams()
    t = np.arange(p.n_sessions, dtype=float)
    k = p.sd_fluctuation**2 / (p.sd_fluctuation**2 + p.sd_error_patient**2
                               + p.sd_growth_patient**2 * t.var())
    k = float(k)
    return {"control": k * p.tracking_control, "training": k * p.tracking_training,
            "training - control": k * (p.tracking_training - p.tracking_control),
            "reliability": k}


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
