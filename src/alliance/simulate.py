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

from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from alliance.randomise import allocate
from alliance.schema import INSTRUMENTS

__all__ = ["SimulationParams", "simulate", "describe_parameters", "EXAMPLE_SEED"]

#: Seed of the shipped data set: the paper's online-first date (2022-11-10),
#: fixed before any analysis was run on the draw.
EXAMPLE_SEED = 20221110


def _p(value, doc: str, source: str):
    return field(default=value, metadata={"doc": doc, "source": source})


@dataclass(frozen=True)
class SimulationParams:
    """Parameters of the synthetic trial; each field documents its value and source.

    ``describe_parameters()`` lists them as a table (the codebook in
    ``data/README.md`` is generated from it).
    """

    # --- design -------------------------------------------------------------
    n_therapists: int = _p(40, "therapists, randomised 1:1", "published: Tasca et al. (2023) abstract")
    n_patients: int = _p(117, "patients in all", "published: Tasca et al. (2023) abstract")
    n_sessions: int = _p(6, "consecutive early sessions rated", "published: Tasca et al. (2023) abstract")
    min_caseload: int = _p(1, "fewest patients per therapist", "assumption: every randomised therapist treated at least one patient")
    max_caseload: int = _p(6, "most patients per therapist", "assumption: community practice caseloads in a recruitment window")
    caseload_shape: float = _p(1.5, "Gamma shape of therapists' recruitment propensity (lower = more uneven caseloads)", "assumption: uneven caseloads as in practice research networks")
    # --- latent alliance and patient ratings (WAI-SR item mean, 1-5) --------
    mu_patient: float = _p(3.90, "mean patient-rated alliance at session 1", "assumption: typical of WAI-SR patient means early in therapy (Hatcher & Gillaspy 2006 report means near 4 on the 1-5 item scale)")
    sd_therapist_alliance: float = _p(0.15, "SD of therapists' effect on their patients' alliance (u_j)", "assumption: therapist effects of a few per cent of alliance variance (Baldwin, Wampold & Imel 2007)")
    sd_patient_alliance: float = _p(0.45, "SD of patients' alliance level (v_i)", "assumption: between-patient SD of WAI-SR means about 0.5")
    growth_patient: float = _p(0.04, "patient-rated alliance growth per session, both arms (gamma_P)", "assumption: slow early growth; finding 1 says training did not change it")
    sd_growth_patient: float = _p(0.04, "SD of patients' growth rates (w_i)", "assumption")
    sd_fluctuation: float = _p(0.30, "SD of session-to-session fluctuation of the latent alliance (xi; ruptures and repairs)", "assumption: within-patient SD of session alliance about 0.3")
    sd_error_patient: float = _p(0.15, "SD of patient-rating error (epsilon^P)", "assumption: reliability of the within-patient deviations about 0.8")
    # --- therapist ratings -------------------------------------------------
    mu_therapist: float = _p(3.55, "mean therapist-rated alliance at session 1", "assumption: therapists rate the alliance lower than patients (Tryon, Blackwell & Hammel 2007), giving negative directional bias")
    sd_therapist_leniency: float = _p(0.25, "SD of therapists' rating leniency (u^T_j)", "assumption")
    sd_patient_therapist_view: float = _p(0.30, "SD of the therapist's patient-specific view (v^T_i)", "assumption")
    level_accuracy: float = _p(0.30, "weight of the patient's true alliance level in the therapist's rating (beta_L)", "assumption: patient-therapist agreement on alliance level is modest (r about .3; Tryon et al. 2007)")
    growth_therapist_control: float = _p(0.02, "therapist-rated alliance growth per session, control arm (gamma_T)", "assumption")
    growth_therapist_training_effect: float = _p(0.04, "extra therapist-rated growth per session under training (delta_T)", "assumption encoding finding 1 (faster therapist-rated growth under training; chosen so a trial of this size detects it most of the time: chapter 7 estimates how often)")
    tracking_control: float = _p(0.20, "weight of the patient's session fluctuation in the therapist's rating, control (lambda_0)", "assumption")
    tracking_training: float = _p(0.40, "same under training (lambda_1)", "assumption encoding finding 2 (greater temporal congruence under training; chapter 7 estimates how often a trial of this size detects it)")
    sd_error_therapist: float = _p(0.20, "SD of therapist-rating error (epsilon^T)", "assumption")
    # --- well-being (ORS total, 0-40) ---------------------------------------
    mu_wellbeing: float = _p(21.0, "mean well-being at session 1", "assumption: clinical samples start below the ORS cut-off of 25 (Miller et al. 2003)")
    sd_therapist_wellbeing: float = _p(1.5, "SD of therapist effects on well-being (u^W_j)", "assumption: small therapist effects on outcome")
    sd_patient_wellbeing: float = _p(5.5, "SD of patients' well-being level (v^W_i)", "assumption")
    growth_wellbeing: float = _p(0.6, "well-being gain per session (gamma_W)", "assumption: early improvement of a few ORS points")
    sd_wellbeing_residual: float = _p(3.0, "SD of session well-being innovations (nu)", "assumption")
    ar_wellbeing: float = _p(0.4, "autocorrelation of session well-being residuals (rho)", "assumption")
    surface_center: float = _p(3.75, "centre c of the lagged surface (between the raters' means)", "assumption")
    b1_therapist: float = _p(1.5, "lagged surface, training arm: linear term of therapist-rated alliance (b1)", "assumption encoding finding 3")
    b2_patient: float = _p(1.5, "linear term of patient-rated alliance (b2)", "assumption encoding finding 3 (a1 = b1 + b2 = 3 ORS points per alliance point, about 0.2 SD of well-being per SD of alliance)")
    b3_therapist_sq: float = _p(-0.6, "squared therapist term (b3)", "assumption encoding finding 3 (a4 = b3 - b4 + b5 < 0)")
    b4_product: float = _p(1.2, "product term (b4)", "assumption: with b3 = b5 = -b4/2 the surface is -0.6 (x - y)^2 off the line of congruence")
    b5_patient_sq: float = _p(-0.6, "squared patient term (b5)", "assumption")
    # --- missingness --------------------------------------------------------
    dropout_hazard: float = _p(0.04, "probability of leaving after each of sessions 1-5", "assumption: about one in six patients gone by session 6, typical early attrition")
    p_missing_patient: float = _p(0.04, "probability a patient alliance rating is missing", "assumption: MCAR missed forms")
    p_missing_therapist: float = _p(0.06, "probability a therapist alliance rating is missing", "assumption: MCAR missed forms")
    p_missing_wellbeing: float = _p(0.03, "probability a well-being rating is missing", "assumption: MCAR missed forms")
    # --- covariates (no effect on any outcome) ------------------------------
    experience_median: float = _p(10.0, "median therapist experience in years (log-normal)", "assumption; carried as a balance covariate, no effect")
    age_mean: float = _p(38.0, "mean patient age in years", "assumption; balance covariate, no effect")
    p_female: float = _p(0.70, "share of women among patients", "assumption: typical of outpatient psychotherapy; balance covariate, no effect")

    def __post_init__(self):
        if self.n_therapists * self.max_caseload < self.n_patients:
            raise ValueError("n_patients exceeds n_therapists * max_caseload")
        if self.n_therapists * self.min_caseload > self.n_patients:
            raise ValueError("n_patients below n_therapists * min_caseload")
        if self.n_sessions < 2:
            raise ValueError("n_sessions must be at least 2")

    def truth(self) -> dict[str, float]:
        """The surface parameters a1-a5 of the training arm and the other encoded effects."""
        b1, b2, b3, b4, b5 = (self.b1_therapist, self.b2_patient, self.b3_therapist_sq,
                              self.b4_product, self.b5_patient_sq)
        return {
            "a1": b1 + b2, "a2": b3 + b4 + b5, "a3": b1 - b2, "a4": b3 - b4 + b5, "a5": b3 - b5,
            "growth_difference_therapist": self.growth_therapist_training_effect,
            "growth_difference_patient": 0.0,
            "tracking_difference": self.tracking_training - self.tracking_control,
        }


def describe_parameters(params: SimulationParams | None = None) -> pd.DataFrame:
    """Every parameter of the generative model with its value, meaning and source."""
    params = params or SimulationParams()
    return pd.DataFrame(
        [
            {"parameter": f.name, "value": getattr(params, f.name),
             "meaning": f.metadata["doc"], "source": f.metadata["source"]}
            for f in fields(params)
        ]
    )


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
    >>> from alliance.simulate import simulate
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
