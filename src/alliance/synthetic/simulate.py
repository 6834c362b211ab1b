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

   \eta_{is} &= \mu_P + u_j + v_i + (\gamma_P + w_i + g^P_j)\,t + \xi_{is}
       && \text{patient's latent alliance}\\
   P_{is} &= \eta_{is} + \varepsilon^P_{is}
       && \text{patient rating}\\
   R_{is} &= \mu_T + u^T_j + v^T_i + \beta_L (u_j + v_i)
       + \bigl(\gamma_T + \delta_T a_j + \beta_G (w_i + g^P_j) + w^T_i + g^T_j\bigr)\,t
       + \lambda_{a_j}\,\xi_{is} + \varepsilon^T_{is}
       && \text{therapist rating}\\
   W_{is} &= \mu_W + u^W_j + v^W_i + \gamma_W t
       + a_j\,f(R_{i,s-1} - c,\; P_{i,s-1} - c)
       + (1 - a_j)\,\tfrac{a_1^C}{2}(R_{i,s-1} + P_{i,s-1} - 2c) + e_{is},\quad
       e_{is} = \rho\, e_{i,s-1} + \nu_{is}
       && \text{well-being}

with :math:`f(x, y) = b_1 x + b_2 y + b_3 x^2 + b_4 xy + b_5 y^2` (the lagged
response surface, active in the training arm only; :math:`x` therapist-,
:math:`y` patient-rated alliance in the previous session, centred at
:math:`c`) and :math:`a_1^C` the control arm's lagged slope (``control_a1``, 0 in
the default model). The four findings map onto :math:`\delta_T > 0` with no arm
difference in patient-rated growth (finding 1), :math:`\lambda_1 > \lambda_0`
(finding 2, temporal congruence), and :math:`f` with :math:`a_1 = b_1 + b_2 > 0`
and :math:`a_4 = b_3 - b_4 + b_5 < 0` in training only (findings 3 and 4).

Therapists differ in the alliance their patients build (:math:`u_j`) and in how
fast it grows (:math:`g^P_j`, a therapist random slope); the therapist's rating
sees a share :math:`\beta_L` of the patient's level and :math:`\beta_G` of the
patient's growth, plus a view of its own (:math:`v^T_i`, :math:`w^T_i`) and a
leniency and rated-growth slope of the therapist's own (:math:`u^T_j`,
:math:`g^T_j`). Between patients, well-being and alliance are associated as in
the literature: :math:`v^W_i = r\,\sigma_{vW}(u_j + v_i)/\sigma_{u+v} + \sqrt{1 - r^2}\,z_i`
(``level_wellbeing_corr``: :math:`v^W_i` keeps its SD and correlates :math:`r` with the
stable alliance level :math:`u_j + v_i`, :math:`\sigma_{u+v}^2 = \sigma_u^2 + \sigma_v^2`;
patients of one therapist share the part that comes through :math:`u_j`). This is a
between-patient association, not a lagged effect: :math:`f` and :math:`a_1^C` are
untouched by it, so the within-patient surface of findings 3 and 4 has the same
truth with or without it.

Ratings are rounded to the instruments' resolution (WAI-SR item means are
multiples of 1/12; ORS totals are read to 0.1) and kept within range.

Further realism features, off in the default model and switched on by the named
scenarios of :mod:`alliance.synthetic.scenarios`: the control-arm slope
:math:`a_1^C` (``control_a1``) and dropout whose odds rise by
``dropout_rupture_odds`` after a rupture (:math:`\xi_{is}` below
``rupture_threshold`` SDs); the scenarios also vary the values above.

Common random numbers: the therapist slopes :math:`g^P_j`, :math:`g^T_j` and the
therapist's view of growth :math:`w^T_i` are standard normals drawn from a child
generator (``rng.spawn``, which does not advance ``rng``), always in the same order
and then scaled by their SDs; the features that transform values already drawn
(the level correlation, the control-arm slope, rupture dropout, the bound on
experience) consume no extra random numbers. So every scenario shares all other
values of a draw with the default model for the same seed, and differences
between scenarios are not Monte Carlo noise in the other parts of the model.
Therapist experience is bounded at ``experience_max`` by the same kind of
transform.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from alliance.allocation import allocate
from alliance.data.schema import INSTRUMENTS
from alliance.options import check_seed
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
    seed : int or numpy.random.Generator
        Seed of the :class:`numpy.random.Generator` that drives every draw (or the
        generator itself, e.g. a study's per-draw generator). The default is not the
        package's usual 1 but :data:`~alliance.synthetic.params.EXAMPLE_SEED`
        (20221110), on purpose: ``simulate()`` is the draw behind the shipped synthetic
        trial (:func:`alliance.load_example`, written by ``alliance.cli.make_data``). ``alliance simulate`` writes a file and asks
        for its seed (``--seed`` is required).

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
    rng = np.random.default_rng(check_seed(seed, generator=True))
    J, n, S = p.n_therapists, p.n_patients, p.n_sessions
    therapists = [f"T{j + 1:0{max(2, len(str(J)))}d}" for j in range(J)]
    alloc = allocate(therapists, seed=rng)
    arm = (alloc["condition"] == "training").to_numpy().astype(float)
    caseload = _caseloads(p, rng)
    ther_of = np.repeat(np.arange(J), caseload)
    patients = [f"P{i + 1:0{max(3, len(str(n)))}d}" for i in range(n)]

    # therapist-level draws
    u = rng.normal(0, p.sd_therapist_alliance, J)
    uT = rng.normal(0, p.sd_therapist_leniency, J)
    uW = rng.normal(0, p.sd_therapist_wellbeing, J)
    # bounded by a transform of the same draw (no extra random numbers: the rest of the draw
    # is unchanged by the bound)
    experience = np.round(np.minimum(p.experience_median * np.exp(rng.normal(0, 0.6, J)),
                                     p.experience_max), 1)
    # patient-level draws
    v = rng.normal(0, p.sd_patient_alliance, n)
    w = rng.normal(0, p.sd_growth_patient, n)
    vT = rng.normal(0, p.sd_patient_therapist_view, n)
    vW = rng.normal(0, p.sd_patient_wellbeing, n)
    if p.level_wellbeing_corr != 0:  # confounding by a stable alliance level (same draws)
        level_sd = np.sqrt(p.sd_therapist_alliance**2 + p.sd_patient_alliance**2)
        r = p.level_wellbeing_corr
        vW = (r * p.sd_patient_wellbeing * (u[ther_of] + v) / level_sd
              + np.sqrt(1 - r**2) * vW)
    age = np.clip(np.round(rng.normal(p.age_mean, 12.0, n)), 18, 80)
    female = (rng.random(n) < p.p_female).astype(float)
    # session-level draws, shape (n, S)
    t = np.arange(S, dtype=float)[None, :]
    xi = rng.normal(0, p.sd_fluctuation, (n, S))
    eP = rng.normal(0, p.sd_error_patient, (n, S))
    eT = rng.normal(0, p.sd_error_therapist, (n, S))
    nu = rng.normal(0, p.sd_wellbeing_residual, (n, S))

    # draws added to the model after its first version come from a child generator
    # (``rng.spawn`` does not advance ``rng``), always the same standard normals in the same
    # order and scaled by their SDs: the main stream, and so every other value of the draw,
    # is the same in every scenario (common random numbers)
    extra = rng.spawn(1)[0]
    z_slope_P = extra.normal(0, 1, J)
    z_slope_T = extra.normal(0, 1, J)
    z_growth_view = extra.normal(0, 1, n)
    slope_P = z_slope_P * p.sd_therapist_growth_patient  # g^P_j
    # the therapist sees beta_G of the growth the therapist brings about, plus a slope of
    # their own (as levels: beta_L (u_j + v_i) + u^T_j)
    slope_T = p.growth_accuracy * slope_P + z_slope_T * p.sd_therapist_growth_therapist
    wT = z_growth_view * p.sd_growth_therapist_view  # w^T_i

    a = arm[ther_of][:, None]
    level = (u[ther_of] + v)[:, None]
    eta = (p.mu_patient + level + (p.growth_patient + w[:, None] + slope_P[ther_of][:, None]) * t
           + xi)
    step = 1.0 / 12.0
    pat = _round_to(eta + eP, step, 1.0, 5.0)
    tracking = np.where(a == 1, p.tracking_training, p.tracking_control)
    ther = (p.mu_therapist + uT[ther_of][:, None] + vT[:, None] + p.level_accuracy * level
            + (p.growth_therapist_control + p.growth_therapist_training_effect * a
               + p.growth_accuracy * w[:, None] + wT[:, None] + slope_T[ther_of][:, None]) * t
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
    if p.control_a1 != 0:  # a plane along the line of congruence in the control arm
        wb = wb + (1 - a) * (p.control_a1 / 2) * (x_lag + y_lag)
    wb = _round_to(wb, 0.1, ors.low, ors.high)

    # missingness: dropout after sessions 1..S-1, then missed forms (MCAR)
    hazard = p.dropout_hazard
    if p.dropout_rupture_odds != 1:  # leaving after a rupture (alliance-dependent dropout)
        odds = p.dropout_hazard / (1 - p.dropout_hazard) * p.dropout_rupture_odds
        rupture = xi[:, :-1] < p.rupture_threshold * p.sd_fluctuation
        hazard = np.where(rupture, odds / (1 + odds), p.dropout_hazard)
    leave = rng.random((n, S - 1)) < hazard
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
    df.attrs["source"] = (f"simulate(seed={seed})" if not isinstance(seed, np.random.Generator)
                          else "simulate(rng)")
    return df
