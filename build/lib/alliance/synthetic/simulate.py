r"""The synthetic trial: a documented generative model with the trial's design.

The trial's data are clinical and not public. :func:`simulate` generates data
with the design of Tasca et al. (2023) -- therapists cluster-randomised 1:1,
patients nested in therapists, six early sessions, patient- and
therapist-rated alliance and well-being, early dropout and missed ratings --
from an explicit model whose every parameter is a field of
:class:`SimulationParams` with its value and its source. The model encodes the
paper's four findings with effects of a size plausible for this literature.

Generative model (session :math:`s = 1..6`, time :math:`t = s - 1`, therapist
:math:`j`, patient :math:`i`, arm :math:`a_j = 1` for training):

.. math::

   \eta_{is} &= \mu_P + u_j + v_i + (\gamma_P + w_i)\,t + \xi_{is}
       && \text{patient's latent alliance}\\
   P_{is} &= \eta_{is} + \varepsilon^P_{is}
       && \text{patient rating}\\
   R_{is} &= \mu_T + u^T_j + v^T_i + \beta_L (u_j + v_i)
       + (\gamma_T + \delta_T a_j)\,t + \lambda_{a_j}\,\xi_{is} + \varepsilon^T_{is}
       && \text{therapist rating}\\
   W_{is} &= \mu_W + u^W_j + v^W_i + \gamma_W t
       + a_j\,f(R_{i,s-1} - c,\; P_{i,s-1} - c) + e_{is},\quad
       e_{is} = \rho\, e_{i,s-1} + \nu_{is}
       && \text{well-being}

with :math:`f(x, y) = b_1 x + b_2 y + b_3 x^2 + b_4 xy + b_5 y^2` (the lagged
response surface, active in the training arm only; :math:`x` therapist-,
:math:`y` patient-rated alliance in the previous session, centred at
:math:`c`). The four findings map onto :math:`\delta_T > 0` with no arm
difference in patient-rated growth (finding 1), :math:`\lambda_1 > \lambda_0`
(finding 2, temporal congruence), and :math:`f` with :math:`a_1 = b_1 + b_2 > 0`
and :math:`a_4 = b_3 - b_4 + b_5 < 0` in training only (findings 3 and 4).

Ratings are rounded to the instruments' resolution (WAI-SR item means are
multiples of 1/12; ORS totals are read to 0.1) and kept within range.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alliance.allocation import allocate
from alliance.data.schema import INSTRUMENTS
from alliance.synthetic.params import EXAMPLE_SEED, SimulationParams

__all__ = ["simulate"]


def _caseloads(p: SimulationParams, rng: np.random.Generator) -> np.ndarray:
    counts = np.full(p.n_therapists, p.min_caseload)
    propensity = rng.gamma(p.caseload_shape, 1.0, size=p.n_therapists)
    for _ in range(p.n_patients - counts.sum()):
        open_ = counts < p.max_caseload
        w = np.where(open_, propensity, 0.0)
        counts[rng.choice(p.n_therapists, p=w / w.sum())] += 1
    return counts


def _round_to(x: np.ndarray, step: float, low: float, high: float) -> np.ndarray:
    return np.clip(np.round(x / step) * step, low, high)


def simulate(params: SimulationParams | None = None, seed: int = EXAMPLE_SEED) -> pd.DataFrame:
    """Draw one synthetic trial from the generative model.

    Parameters
    ----------
    params : SimulationParams, optional
        Model parameters (defaults: the documented values).
    seed : int
        Seed of the :class:`numpy.random.Generator` that drives every draw.

    Returns
    -------
    pandas.DataFrame
        Long data in the canonical schema (one row per patient x attended
        session; missed ratings are NaN; sessions after dropout are absent),
        plus covariates ``therapist_experience``, ``patient_age`` and
        ``patient_female``. Values are rounded exactly as written to CSV, so
        ``simulate(seed=s)`` equals ``read_sessions`` of the written file.

    Examples
    --------
    >>> from alliance.synthetic import simulate
    >>> df = simulate(seed=1)
    >>> df["therapist"].nunique(), df["patient"].nunique()
    (40, 117)
    """
    p = params or SimulationParams()
    rng = np.random.default_rng(seed)
    J, n, S = p.n_therapists, p.n_patients, p.n_sessions
    therapists = [f"T{j + 1:0{max(2, len(str(J)))}d}" for j in range(J)]
    alloc = allocate(therapists, rng=rng)
    arm = (alloc["condition"] == "training").to_numpy().astype(float)
    caseload = _caseloads(p, rng)
    ther_of = np.repeat(np.arange(J), caseload)
    patients = [f"P{i + 1:0{max(3, len(str(n)))}d}" for i in range(n)]

    # therapist-level draws
    u = rng.normal(0, p.sd_therapist_alliance, J)
    uT = rng.normal(0, p.sd_therapist_leniency, J)
    uW = rng.normal(0, p.sd_therapist_wellbeing, J)
    experience = np.round(p.experience_median * np.exp(rng.normal(0, 0.6, J)), 1)
    # patient-level draws
    v = rng.normal(0, p.sd_patient_alliance, n)
    w = rng.normal(0, p.sd_growth_patient, n)
    vT = rng.normal(0, p.sd_patient_therapist_view, n)
    vW = rng.normal(0, p.sd_patient_wellbeing, n)
    age = np.clip(np.round(rng.normal(p.age_mean, 12.0, n)), 18, 80)
    female = (rng.random(n) < p.p_female).astype(float)
    # session-level draws, shape (n, S)
    t = np.arange(S, dtype=float)[None, :]
    xi = rng.normal(0, p.sd_fluctuation, (n, S))
    eP = rng.normal(0, p.sd_error_patient, (n, S))
    eT = rng.normal(0, p.sd_error_therapist, (n, S))
    nu = rng.normal(0, p.sd_wellbeing_residual, (n, S))

    a = arm[ther_of][:, None]
    level = (u[ther_of] + v)[:, None]
    eta = p.mu_patient + level + (p.growth_patient + w[:, None]) * t + xi
    step = 1.0 / 12.0
    pat = _round_to(eta + eP, step, 1.0, 5.0)
    tracking = np.where(a == 1, p.tracking_training, p.tracking_control)
    ther = (p.mu_therapist + uT[ther_of][:, None] + vT[:, None] + p.level_accuracy * level
            + (p.growth_therapist_control + p.growth_therapist_training_effect * a) * t
            + tracking * xi + eT)
    ther = _round_to(ther, step, 1.0, 5.0)

    e = np.empty((n, S))
    e[:, 0] = nu[:, 0] / np.sqrt(1 - p.ar_wellbeing**2)
    for s in range(1, S):
        e[:, s] = p.ar_wellbeing * e[:, s - 1] + nu[:, s]
    x_lag = np.full((n, S), 0.0)
    y_lag = np.full((n, S), 0.0)
    x_lag[:, 1:] = ther[:, :-1] - p.surface_center
    y_lag[:, 1:] = pat[:, :-1] - p.surface_center
    surface = (p.b1_therapist * x_lag + p.b2_patient * y_lag + p.b3_therapist_sq * x_lag**2
               + p.b4_product * x_lag * y_lag + p.b5_patient_sq * y_lag**2)
    surface[:, 0] = 0.0
    ors = INSTRUMENTS["wellbeing"]
    wb = (p.mu_wellbeing + uW[ther_of][:, None] + vW[:, None] + p.growth_wellbeing * t
          + a * surface + e)
    wb = _round_to(wb, 0.1, ors.low, ors.high)

    # missingness: dropout after sessions 1..S-1, then missed forms (MCAR)
    leave = rng.random((n, S - 1)) < p.dropout_hazard
    last = np.where(leave.any(axis=1), leave.argmax(axis=1) + 1, S)  # sessions attended
    attended = np.arange(1, S + 1)[None, :] <= last[:, None]
    pat = np.where(rng.random((n, S)) < p.p_missing_patient, np.nan, pat)
    ther = np.where(rng.random((n, S)) < p.p_missing_therapist, np.nan, ther)
    wb = np.where(rng.random((n, S)) < p.p_missing_wellbeing, np.nan, wb)

    ii, ss = np.nonzero(attended)
    df = pd.DataFrame({
        "therapist": np.asarray(therapists, dtype=object)[ther_of[ii]],
        "patient": np.asarray(patients, dtype=object)[ii],
        "condition": np.asarray(alloc["condition"], dtype=object)[ther_of[ii]],
        "session": (ss + 1).astype("int64"),
        "alliance_patient": np.round(pat[ii, ss], 4),
        "alliance_therapist": np.round(ther[ii, ss], 4),
        "wellbeing": np.round(wb[ii, ss], 1),
        "therapist_experience": experience[ther_of[ii]],
        "patient_age": age[ii],
        "patient_female": female[ii],
    })
    for col in ("therapist", "patient", "condition"):
        df[col] = df[col].astype(str)
    df.attrs["source"] = f"simulate(seed={seed})"
    return df
