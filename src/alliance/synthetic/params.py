"""Parameters of the book's generative model: every value with its meaning and its source.

:class:`SimulationParams` is the single place the synthetic trial's numbers are
set. Each field carries its meaning and where its value comes from (the
paper's abstract, the literature, or an assumption with its reason);
:func:`describe_parameters` lists them, and ``data/README.md`` is generated from
them. The model itself is :func:`alliance.synthetic.simulate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

__all__ = ["EXAMPLE_SEED", "SimulationParams", "describe_parameters"]


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
    sd_therapist_alliance: float = _p(0.15, "SD of therapists' effect on their patients' alliance (u_j)", "assumption: therapists account for 1.7-6.9% of the variance in patient-rated alliance in routine care (Imel, Hubbard, Rutter & Simon 2013, J Consult Clin Psychol 81(1), 154-165); with the therapist slopes below, the therapist ICC of patient-rated alliance is about .085 (mean over 1,000 seeded draws: python tests/test_simulate.py 1000 --no-growth), at the upper end of that range")
    sd_patient_alliance: float = _p(0.45, "SD of patients' alliance level (v_i)", "assumption: between-patient SD of WAI-SR means about 0.5")
    growth_patient: float = _p(0.04, "patient-rated alliance growth per session, both arms (gamma_P)", "assumption: slow early growth; finding 1 says training did not change it")
    sd_growth_patient: float = _p(0.05, "SD of patients' growth rates (w_i)", "assumption: patients differ in the direction of early alliance development, not only its speed (Kivlighan & Shaughnessy 2000, J Couns Psychol 47(3), 362-371; Stiles et al. 2004, J Couns Psychol 51(1), 81-92): with mean 0.04, SD 0.05 and the therapist slopes the latent alliance of about one patient in four declines")
    sd_fluctuation: float = _p(0.25, "SD of session-to-session fluctuation of the latent alliance (xi; ruptures and repairs)", "literature: a single session's alliance rating has a patient-level generalizability coefficient of about .77 (Crits-Christoph, Gibbons, Hamilton, Ring-Kurtz & Gallop 2011, J Consult Clin Psychol 79(3), 267-278); assumption: with the patient level's variance 0.15^2 + 0.45^2, fluctuation 0.25 and rating error 0.12 give .75")
    sd_error_patient: float = _p(0.12, "SD of patient-rating error (epsilon^P)", "assumption: reliability of the within-patient session deviations about 0.8 (0.25^2 / (0.25^2 + 0.12^2)); see sd_fluctuation for the total within-patient variance")
    # --- therapist ratings -------------------------------------------------
    mu_therapist: float = _p(3.55, "mean therapist-rated alliance at session 1", "assumption: therapists rate the alliance lower than patients (Tryon, Blackwell & Hammel 2007), giving negative directional bias")
    sd_therapist_leniency: float = _p(0.15, "SD of therapists' rating leniency (u^T_j)", "assumption: therapists differ more in how they rate the alliance than patients of one therapist agree (Marcus, Kashy & Baldwin 2009, J Couns Psychol 56(4), 537-548); SD 0.15 gives a therapist ICC of therapist-rated alliance of about .16 (mean over 1,000 seeded draws: python tests/test_simulate.py 1000 --no-growth; 0.25 gave .31, above the .05-.20 asked of the model by issue 18)")
    sd_patient_therapist_view: float = _p(0.30, "SD of the therapist's patient-specific view (v^T_i)", "assumption")
    level_accuracy: float = _p(0.30, "weight of the patient's true alliance level in the therapist's rating (beta_L)", "assumption: patient-therapist agreement on alliance level is modest (r about .3; Tryon et al. 2007)")
    growth_therapist_control: float = _p(0.02, "therapist-rated alliance growth per session, control arm (gamma_T)", "assumption")
    growth_therapist_training_effect: float = _p(0.04, "extra therapist-rated growth per session under training (delta_T)", "assumption encoding finding 1 (faster therapist-rated growth under training; chosen so a trial of this size detects it most of the time: chapter 7 estimates how often)")
    tracking_control: float = _p(0.20, "weight of the patient's session fluctuation in the therapist's rating, control (lambda_0)", "assumption")
    tracking_training: float = _p(0.40, "same under training (lambda_1)", "assumption encoding finding 2 (greater temporal congruence under training; chapter 7 estimates how often a trial of this size detects it)")
    growth_accuracy: float = _p(0.5, "weight of the patient's own latent alliance growth (w_i + g^P_j) in the therapist's rated growth (beta_G)", "assumption: therapists perceive part of how their patient's alliance develops (patient and therapist ratings converge over treatment: Laws et al. 2017, Psychotherapy Research 27(4), 410-424); one half makes the two raters' patient-specific growth rates correlate about .6")
    sd_growth_therapist_view: float = _p(0.03, "SD of the therapist's patient-specific view of alliance growth per session (w^T_i)", "assumption: the therapist's own reading of a patient's progress; with beta_G the patient-specific growth rates of therapist ratings have SD 0.039 (patient ratings: 0.05). Without growth of its own, therapist-rated patient-level slope variance was zero and most growth fits of therapist ratings ended at a boundary")
    sd_error_therapist: float = _p(0.15, "SD of therapist-rating error (epsilon^T)", "assumption: about the patient form's (0.12); the therapist's session-specific rating noise")
    # --- well-being (ORS total, 0-40) ---------------------------------------
    mu_wellbeing: float = _p(21.0, "mean well-being at session 1", "assumption: clinical samples start below the ORS cut-off of 25 (Miller et al. 2003)")
    sd_therapist_wellbeing: float = _p(1.8, "SD of therapist effects on well-being (u^W_j)", "literature: therapists account for about 5% of outcome variance (Baldwin & Imel 2013, in Lambert (Ed.), Bergin and Garfield's Handbook, 6th ed.; Johns, Barkham, Kellett & Saxon 2019, Clin Psychol Rev 67, 78-93); assumption: SD 1.8 gives a therapist ICC of session well-being of about .085 (mean over 1,000 seeded draws: python tests/test_simulate.py 1000 --no-growth; levels also carry case mix)")
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
    dropout_rupture_odds: float = _p(1.0, "odds ratio of leaving after a session with a rupture (1: dropout does not depend on the alliance)", "assumption: 1 in the default model (missing completely at random); ruptures predict dropout in the literature (Safran, Muran & Eubanks-Carter 2011), see the scenario rupture_dropout")
    rupture_threshold: float = _p(-1.0, "a session is a rupture when the latent alliance fluctuation xi is below this many SDs of xi", "assumption: about one session in six is a rupture (a one-SD drop)")
    # --- therapist differences in growth; alliance and outcome between patients ---
    sd_therapist_growth_patient: float = _p(0.03, "SD of therapists' effect on their patients' alliance growth per session (g^P_j: a therapist random slope, seen in patient ratings)", "assumption: therapists differ in their patients' outcomes (about 5% of outcome variance; Baldwin & Imel 2013) and in the alliances they build (Imel et al. 2013); 0.03 per session is 0.15 over the five intervals, the order of the training effect. Therapists are the unit of randomisation, so the growth models need a therapist random slope")
    sd_therapist_growth_therapist: float = _p(0.03, "SD of therapists' own rated-growth slopes (g^T_j; the therapist random slope of therapist ratings is beta_G g^P_j + g^T_j, SD 0.034)", "assumption: as sd_therapist_growth_patient; with 0.03 the therapist-rated growth model with a therapist random slope ends at a boundary in about 15% of draws (0.02: about 30%; python tests/test_simulate.py)")
    control_a1: float = _p(0.0, "lagged within-patient effect of alliance on next-session well-being in the control arm along the line of congruence (a1 of a plane f_c = a1 (x + y) / 2)", "assumption: 0 in the default model -- finding 4's premise (an alliance-outcome link only under training), assumed, not derived from the literature; the control arm still has the literature's between-patient association (level_wellbeing_corr). See the scenario control_association for a within-patient effect without training")
    level_wellbeing_corr: float = _p(0.34, "correlation of a patient's stable alliance level (u_j + v_i) with the patient's well-being level (v^W_i)", "literature: the alliance-outcome correlation averages r = .278 (Fluckiger, Del Re, Wampold & Horvath 2018, Psychotherapy 55(4), 316-340); assumption: 0.34 between the latent levels gives r of about .28 between a control-arm patient's mean patient-rated alliance and mean well-being over the six sessions (mean over 1,000 seeded draws: python tests/test_simulate.py 1000 --no-growth); a between-patient association only: no lagged effect")
    # --- covariates (no effect on any outcome) ------------------------------
    experience_median: float = _p(10.0, "median therapist experience in years (log-normal)", "assumption; carried as a balance covariate, no effect")
    experience_max: float = _p(40.0, "most years of experience a therapist can have (larger log-normal draws are set to this bound)", "assumption: a working life of about 40 years (practice from about 25 to 65); an unbounded log-normal produced 87.8 years")
    age_mean: float = _p(38.0, "mean patient age in years", "assumption; balance covariate, no effect")
    p_female: float = _p(0.70, "share of women among patients", "assumption: typical of outpatient psychotherapy; balance covariate, no effect")

    def __post_init__(self):
        if self.n_therapists * self.max_caseload < self.n_patients:
            raise ValueError("n_patients exceeds n_therapists * max_caseload")
        if self.n_therapists * self.min_caseload > self.n_patients:
            raise ValueError("n_patients below n_therapists * min_caseload")
        if self.n_sessions < 2:
            raise ValueError("n_sessions must be at least 2")
        if not -1.0 < self.level_wellbeing_corr < 1.0:
            raise ValueError("level_wellbeing_corr must lie strictly between -1 and 1")
        if self.dropout_rupture_odds <= 0:
            raise ValueError("dropout_rupture_odds must be positive")
        if self.min_caseload > self.max_caseload:
            raise ValueError("min_caseload exceeds max_caseload")

    def truth(self) -> dict[str, float]:
        """The estimands of the book's tests: the values a correct analysis of this model targets.

        Keys: ``a1`` .. ``a5`` (the training arm's within-patient lagged surface),
        ``a1_control`` (the control arm's, 0 unless :attr:`control_a1` is set) and
        ``a1_difference``; ``growth_difference_therapist``, ``growth_difference_patient``
        and ``growth_difference_rater`` (finding 1's growth models);
        ``tracking_difference`` (finding 2: the temporal-congruence difference the
        truth-and-bias model estimates, i.e. ``tracking_training - tracking_control``
        attenuated by the reliability of the patient's observed session deviations,
        :func:`alliance.synthetic.truths.implied_temporal_congruence`).
        :func:`alliance.synthetic.truths.estimand_notes` describes each.
        """
        b1, b2, b3, b4, b5 = (self.b1_therapist, self.b2_patient, self.b3_therapist_sq,
                              self.b4_product, self.b5_patient_sq)
        return {
            "a1": b1 + b2, "a2": b3 + b4 + b5, "a3": b1 - b2, "a4": b3 - b4 + b5, "a5": b3 - b5,
            "growth_difference_therapist": self.growth_therapist_training_effect,
            "growth_difference_patient": 0.0,
            "growth_difference_rater": self.growth_therapist_training_effect,
            "tracking_difference": implied_temporal_congruence(self)["training - control"],
            "a1_control": self.control_a1,
            "a1_difference": b1 + b2 - self.control_a1,
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


#: Resolution of the WAI-SR item mean (12 items): ratings are rounded to multiples of 1/12.
_ALLIANCE_STEP = 1.0 / 12.0


def within_time_variance(params: SimulationParams | None = None) -> float:
    r"""Expected within-patient variance of time per within-patient degree of freedom.

    For a patient who attends :math:`k` consecutive sessions, the deviations of
    :math:`t = 0..k-1` from their mean have sum of squares :math:`k(k^2 - 1)/12` on
    :math:`k - 1` degrees of freedom; dropout after each of sessions
    :math:`1..S-1` with the constant hazard ``dropout_hazard`` weights the
    :math:`k`. The ratio :math:`E[\sum (t - \bar t)^2] / E[k - 1]` is what a patient's
    random growth rate adds to the within-patient variance of a rating (missed forms,
    completely at random, are ignored).

    Examples
    --------
    >>> from alliance.synthetic.truths import within_time_variance
    >>> from alliance.synthetic import SimulationParams
    >>> within_time_variance(SimulationParams(dropout_hazard=0.0))
    3.5
    """
    p = params or SimulationParams()
    S, h = p.n_sessions, p.dropout_hazard
    k = np.arange(1, S + 1, dtype=float)
    prob = np.where(k < S, h * (1 - h) ** (k - 1), (1 - h) ** (S - 1))
    return float(np.sum(prob * k * (k**2 - 1) / 12) / np.sum(prob * (k - 1)))


def implied_temporal_congruence(params=None) -> dict[str, float]:
    r"""Temporal congruence the generative model of :func:`alliance.simulate` implies.

    The simulator's tracking weight :math:`\lambda_a` multiplies the *latent*
    session fluctuation :math:`\xi` of the patient's alliance, but the model
    regresses the therapist's rating on the patient's *observed* rating. Within a
    patient (the arm's session trend controlled) the observed truth varies by
    :math:`\xi + \varepsilon^P + \epsilon_r + s_i (t - \bar t)` and the judgment by
    :math:`\lambda_a \xi + \beta_G s_i (t - \bar t) + \dots`, where
    :math:`s_i = w_i + g^P_j` is the patient's own growth rate (patient and therapist
    parts, variance :math:`\sigma^2_s = \sigma^2_w + \sigma^2_{gP}`) and
    :math:`\epsilon_r` the rounding to 1/12 (variance :math:`1/(12^2 \cdot 12)`). So
    the within-dyad slope is

    .. math::

        \tau_{W,a} = \frac{\lambda_a\,\sigma^2_\xi + \beta_G\,\sigma^2_s V}
            {\sigma^2_\xi + \sigma^2_P + \sigma^2_r + \sigma^2_s V},

    with :math:`V` the within-patient variance of time (:func:`within_time_variance`).
    The arm difference, the estimand of finding 2's test, is
    :math:`(\lambda_1 - \lambda_0)` times ``reliability``
    :math:`= \sigma^2_\xi / (\sigma^2_\xi + \sigma^2_P + \sigma^2_r + \sigma^2_s V)`:
    the shared growth term is the same in both arms and cancels. Clipping at the
    scale's ends is ignored; the tests check the values against a fit to a draw
    50 times the trial's size.

    Returns
    -------
    dict
        ``control``, ``training``, ``training - control`` and ``reliability``
        (the attenuation factor of the difference).

    Examples
    --------
    >>> from alliance.synthetic.truths import implied_temporal_congruence
    >>> round(implied_temporal_congruence()["training - control"], 3)
    0.141
    """
    p = params or SimulationParams()
    growth_var = p.sd_growth_patient**2 + p.sd_therapist_growth_patient**2
    v = within_time_variance(p)
    denom = (p.sd_fluctuation**2 + p.sd_error_patient**2 + _ALLIANCE_STEP**2 / 12
             + growth_var * v)
    k = float(p.sd_fluctuation**2 / denom)
    shared = float(p.growth_accuracy * growth_var * v / denom)
    return {"control": k * p.tracking_control + shared, "training": k * p.tracking_training + shared,
            "training - control": k * (p.tracking_training - p.tracking_control),
            "reliability": k}
