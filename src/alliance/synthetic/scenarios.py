"""Named scenarios of the generative model: the default, null models and realism checks.

A scenario is a documented set of changes to :class:`SimulationParams`: each
changed parameter carries its new value and the reason for it (a published
figure or an assumption), exactly as the parameters themselves do. The
``default`` scenario is the book's model (the shipped data are one draw of it);
``null`` removes every training effect and keeps everything else of the default
(its therapist random slopes and its between-patient alliance-outcome
association included), so the share of draws in which a finding comes out is a
false-positive rate; ``null_therapist_slopes`` is ``null`` with both raters'
therapist random-slope SD fixed at 0.03 points per session whatever the
default's values. The realism scenarios each push one feature beyond the
default model, so chapter 7 can show how the verdicts and their error rates
move when the model is less tidy:

=========================  =================================================================
``ceiling``                patient ratings near the top of the scale (a quarter at 5, skewed)
``rupture_dropout``        patients leave after a rupture (missing not at random)
``therapist_slopes``       therapists differ twice as much in alliance growth as in the default
``control_association``    alliance predicts next-session well-being within patients in the
                           control arm too
``confounded_level``       a stable alliance level much more strongly confounded with well-being
                           than in the default (the lagged surface unchanged)
``realistic``              all five at once
=========================  =================================================================

Use ``alliance simulate --scenario NAME --seed N --out FILE`` or
``simulate(scenario_params(NAME), seed=N)``. :func:`scale_effects` multiplies every
training effect (chapter 9's effect-size axis).

Examples
--------
>>> from alliance.synthetic.scenarios import scenario_params, SCENARIOS
>>> sorted(SCENARIOS)[:3]
['ceiling', 'confounded_level', 'control_association']
>>> scenario_params("null").truth()["a1"]
0.0
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pandas as pd

from alliance.synthetic.params import SimulationParams

__all__ = ["SCENARIOS", "Scenario", "describe_scenarios", "scale_effects", "scenario_params"]


@dataclass(frozen=True)
class Scenario:
    """One named scenario: what it represents and each parameter it changes, with the reason."""

    name: str
    title: str
    description: str
    changes: dict = field(default_factory=dict)  # parameter -> (value, reason/source)

    def params(self, base: SimulationParams | None = None, **overrides) -> SimulationParams:
        """The scenario's parameters (on ``base``, default the book's), then ``overrides``."""
        values = {k: v for k, (v, _why) in self.changes.items()}
        values.update(overrides)
        return dataclasses.replace(base or SimulationParams(), **values)


_REALISM = {
    "ceiling": Scenario(
        "ceiling", "Ceiling and skew in patient ratings",
        "Patients rate the alliance near the top of the WAI-SR: with a higher mean and a wider "
        "spread the scale's ceiling censors about a quarter of patient ratings at 5 and skews "
        "them (skewness about -0.7; the default model has 6% at 5 and skewness -0.3). The "
        "surface centre stays at 3.75, so the lagged surface is seen from higher up.",
        {"mu_patient": (4.45, ("assumption: WAI-SR patient item means above 4 with a heavy ceiling "
                              "are typical of outpatient samples (Hatcher & Gillaspy 2006)")),
         "sd_patient_alliance": (0.55, ("assumption: a wider between-patient spread that reaches "
                                       "the ceiling"))}),
    "rupture_dropout": Scenario(
        "rupture_dropout", "Dropout after a rupture",
        "A session whose latent alliance falls one SD below the patient's course is a rupture; "
        "the odds of leaving after it are four times the usual ones. Dropout then depends on "
        "the alliance (missing not at random given the observed ratings of that session).",
        {"dropout_rupture_odds": (4.0, ("assumption: ruptures that are not repaired predict "
                                       "unilateral termination (Safran, Muran & Eubanks-Carter "
                                       "2011); an odds ratio of 4 is a strong but plausible "
                                       "dependence"))}),
    "therapist_slopes": Scenario(
        "therapist_slopes", "Therapists differ strongly in alliance growth",
        "Therapists' random slopes twice the default's in both raters' alliance: SD 0.06 points "
        "per session in patient ratings and 0.067 in therapist ratings (the default: 0.03 and "
        "0.034), so one therapist's patients can gain 0.3 points more or less over five sessions "
        "than another's. Growth models without a therapist random slope then understate the SE "
        "of the arm difference in growth badly; with one they should hold their level.",
        {"sd_therapist_growth_patient": (0.06, ("assumption: twice the default's 0.03, a stress "
                                               "value beyond what therapist effects of about 5% "
                                               "of outcome variance suggest (Baldwin & Imel "
                                               "2013)")),
         "sd_therapist_growth_therapist": (0.06, ("assumption: twice the default's 0.03; with "
                                                 "growth_accuracy 0.5 the therapist-rated "
                                                 "therapist slope has SD sqrt(0.5^2 0.06^2 + "
                                                 "0.06^2) = 0.067, twice the default's"))}),
    "control_association": Scenario(
        "control_association", "An alliance-outcome association without training",
        "Alliance in the previous session predicts well-being within patients in the control "
        "arm too, with half the training arm's slope along the line of congruence (a1 = 1.5 "
        "against 3). The default's control arm has only the between-patient association "
        "(level_wellbeing_corr); this scenario drops finding 4's premise.",
        {"control_a1": (1.5, ("assumption: the alliance-outcome correlation averages r = .28 "
                             "across treatments (Fluckiger et al. 2018), so a within-patient "
                             "effect without training is plausible; half the training arm's a1"))}),
    "confounded_level": Scenario(
        "confounded_level", "A stable alliance level strongly confounded with well-being",
        "A patient's stable alliance level (the latent alliance's therapist and patient "
        "intercepts, u_j + v_i, which both raters see) correlates .6 with the patient's "
        "well-being level v^W_i (the default: .34, which reproduces the literature's r of about "
        ".28): patients who form a good alliance are much better off in every session, whatever "
        "happened in the last one. The lagged surface is that of the default model, so this "
        "between-patient association is no effect of last session's alliance: the raw lagged "
        "surface mistakes it for one, the within-patient surface (patient means at level 2) "
        "should not (chapter 5).",
        {"level_wellbeing_corr": (0.6, ("assumption: trait-like alliance and outcome covary "
                                       "between patients (Zilcha-Mano 2017); a confound "
                                       "stronger than the literature's average, to stress "
                                       "the within-patient specification"))}),
}

_NULL = {
    "growth_therapist_training_effect": (0.0, "null: no training effect on growth"),
    "tracking_training": (0.20, "null: tracking as in the control arm"),
    "b1_therapist": (0.0, "null: no lagged surface"),
    "b2_patient": (0.0, "null: no lagged surface"),
    "b3_therapist_sq": (0.0, "null: no lagged surface"),
    "b4_product": (0.0, "null: no lagged surface"),
    "b5_patient_sq": (0.0, "null: no lagged surface"),
}

SCENARIOS: dict[str, Scenario] = {
    "default": Scenario(
        "default", "The book's model",
        "Every parameter at its documented value; the shipped data are one draw of it.", {}),
    "null": Scenario(
        "null", "No training effect anywhere",
        "Training changes nothing: the same therapist-rated growth and tracking in both arms and "
        "no lagged surface in either arm. Everything else is the default's, its therapist random "
        "slopes and between-patient alliance-outcome association included. The share of draws "
        "in which a finding comes out is then its false-positive rate.",
        _NULL),
    "null_therapist_slopes": Scenario(
        "null_therapist_slopes", "No training effect; therapist slopes of SD 0.03",
        "As null, with both raters' therapist random-slope SD set to 0.03 points per session "
        "(issue 18's check of finding 1's primary test). Under the current default it differs "
        "from null only in the therapist-rated slope SD (0.030 against the default's 0.034); it "
        "pins the value so the check does not move when the default does.",
        {**_NULL,
         "sd_therapist_growth_patient": (0.03, ("null_therapist_slopes: therapist random slope "
                                               "SD 0.03 in patient ratings")),
         "sd_therapist_growth_therapist": (0.026, ("null_therapist_slopes: with growth_accuracy "
                                                  "0.5 the therapist-rated therapist slope has "
                                                  "SD sqrt(0.5^2 0.03^2 + 0.026^2) = 0.030"))}),
    **_REALISM,
    "realistic": Scenario(
        "realistic", "All realism features at once",
        "The five realism scenarios combined: ceiling, rupture-dependent dropout, therapist "
        "slopes, a control-arm association and a confounded alliance level.",
        {k: v for s in _REALISM.values() for k, v in s.changes.items()}),
}

#: The parameters a training effect is made of (scaled together by :func:`scale_effects`).
TRAINING_EFFECTS = ("growth_therapist_training_effect", "b1_therapist", "b2_patient",
                    "b3_therapist_sq", "b4_product", "b5_patient_sq")


def scenario_params(name: str = "default", **overrides) -> SimulationParams:
    """The parameters of scenario ``name`` (see :data:`SCENARIOS`), then ``overrides``.

    Raises
    ------
    ValueError
        For an unknown scenario name (the message lists the known ones).
    """
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    return SCENARIOS[name].params(**overrides)


def scale_effects(params: SimulationParams, factor: float) -> SimulationParams:
    """Multiply every training effect by ``factor`` (1: unchanged, 0: the null model).

    Scaled together: the extra therapist-rated growth under training, the extra
    tracking (``tracking_training - tracking_control``) and the training arm's
    lagged surface (b1-b5). The control arm and everything else are unchanged.

    Examples
    --------
    >>> from alliance.synthetic.scenarios import scale_effects, scenario_params
    >>> half = scale_effects(scenario_params("default"), 0.5)
    >>> round(half.truth()["a1"], 2), round(half.truth()["tracking_difference"], 3)
    (1.5, 0.07)
    """
    values = {k: getattr(params, k) * factor for k in TRAINING_EFFECTS}
    values["tracking_training"] = (params.tracking_control
                                   + factor * (params.tracking_training - params.tracking_control))
    return dataclasses.replace(params, **values)


def describe_scenarios() -> pd.DataFrame:
    """Every scenario and each parameter it changes: value, default, meaning and reason.

    The default scenario has one row with no parameter. The meaning of each
    parameter is that of :func:`alliance.describe_parameters`.
    """
    default = SimulationParams()
    meaning = {f.name: f.metadata["doc"] for f in dataclasses.fields(SimulationParams)}
    rows = []
    for s in SCENARIOS.values():
        if not s.changes:
            rows.append({"scenario": s.name, "title": s.title, "parameter": "", "value": None,
                         "default": None, "meaning": "", "source": s.description})
        for k, (v, why) in s.changes.items():
            rows.append({"scenario": s.name, "title": s.title, "parameter": k, "value": v,
                         "default": getattr(default, k), "meaning": meaning[k], "source": why})
    return pd.DataFrame(rows)
