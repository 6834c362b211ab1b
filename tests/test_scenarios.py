"""Scenarios of the generative model: documented, the default unchanged, each feature does what it says."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import alliance
from alliance.synthetic import (
    SCENARIOS,
    SimulationParams,
    describe_scenarios,
    scale_effects,
    scenario_params,
    simulate,
)


def test_every_scenario_is_documented_with_reasons():
    table = describe_scenarios()
    assert set(table["scenario"]) == set(SCENARIOS)
    changed = table[table["parameter"] != ""]
    assert changed["source"].str.match(r"^(assumption|null)").all()
    assert changed["meaning"].str.len().gt(10).all()
    fields = {f.name for f in dataclasses.fields(SimulationParams)}
    assert set(changed["parameter"]) <= fields
    # a scenario really changes what it documents
    for row in changed.itertuples():
        assert getattr(scenario_params(row.scenario), row.parameter) == row.value


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_draws_valid_data(name):
    data = simulate(scenario_params(name), seed=4)
    pd.testing.assert_frame_equal(alliance.read_sessions(data), data, check_dtype=False)


def test_default_scenario_is_the_books_model_and_unknown_names_are_refused():
    assert scenario_params("default") == SimulationParams()
    with pytest.raises(ValueError, match="unknown scenario 'nope'.*default"):
        scenario_params("nope")


def test_shipped_data_are_a_draw_of_the_default_scenario():
    pd.testing.assert_frame_equal(simulate(scenario_params("default"), seed=20221110),
                                  alliance.load_example(), check_dtype=False)


def test_experience_is_bounded_without_consuming_random_numbers():
    wide = SimulationParams(experience_max=1e9)
    for seed in range(5):
        bounded, free = simulate(seed=seed), simulate(wide, seed=seed)
        assert bounded["therapist_experience"].max() <= 40.0
        others = [c for c in bounded.columns if c != "therapist_experience"]
        pd.testing.assert_frame_equal(bounded[others], free[others])
        assert (bounded["therapist_experience"]
                == free["therapist_experience"].clip(upper=40.0)).all()


def test_realism_features_share_every_other_value_of_a_draw():
    base = simulate(seed=8)
    for name in ("control_association", "confounded_level", "therapist_slopes",
                 "null_therapist_slopes", "null"):
        other = simulate(scenario_params(name), seed=8)
        same = ["therapist", "patient", "condition", "session", "therapist_experience",
                "patient_age", "patient_female"]
        pd.testing.assert_frame_equal(base[same], other[same])
    # the control association changes only control-arm well-being
    ctrl = simulate(scenario_params("control_association"), seed=8)
    tr = base["condition"] == "training"
    pd.testing.assert_series_equal(base.loc[tr, "wellbeing"], ctrl.loc[tr, "wellbeing"])
    assert not base.loc[~tr, "wellbeing"].equals(ctrl.loc[~tr, "wellbeing"])
    # therapist slopes (child generator) change the alliance ratings, nothing drawn after them:
    # without a lagged effect in the control arm, its well-being is the default's
    slopes = simulate(scenario_params("therapist_slopes"), seed=8)
    assert not base["alliance_patient"].equals(slopes["alliance_patient"])
    pd.testing.assert_series_equal(base.loc[~tr, "wellbeing"], slopes.loc[~tr, "wellbeing"])
    # the patient-specific growth of therapist ratings leaves patient ratings unchanged
    view = simulate(SimulationParams(sd_growth_therapist_view=0.0, growth_accuracy=0.0), seed=8)
    pd.testing.assert_series_equal(base["alliance_patient"], view["alliance_patient"])
    assert not base["alliance_therapist"].equals(view["alliance_therapist"])


def test_ceiling_scenario_has_a_ceiling_and_skew():
    big = {"n_therapists": 200, "n_patients": 585}
    default = simulate(scenario_params("default", **big), seed=2)["alliance_patient"].dropna()
    ceiling = simulate(scenario_params("ceiling", **big), seed=2)["alliance_patient"].dropna()
    assert (ceiling == 5).mean() > 0.2 > (default == 5).mean()
    assert ceiling.skew() < -0.5 < default.skew()


def test_rupture_dropout_depends_on_the_alliance():
    # 1,000 therapists: about 500 patients leave early, so the mean dip of their last session
    # has a Monte Carlo SE of about 0.015 (expected difference about 0.08). Growth is switched
    # off: with it, a patient's last session lies above the patient's mean even under MCAR.
    big = {"n_therapists": 1000, "n_patients": 2925, "growth_patient": 0.0,
           "sd_growth_patient": 0.0, "sd_therapist_growth_patient": 0.0}

    def last_session_dip(name):
        d = simulate(scenario_params(name, **big), seed=6)
        last = d.groupby("patient")["session"].transform("max")
        dev = d["alliance_patient"] - d.groupby("patient")["alliance_patient"].transform("mean")
        left = (last < 6) & (d["session"] == last)  # the session after which a patient left
        return (last.groupby(d["patient"]).first() < 6).mean(), dev[left].mean()

    share_mcar, dip_mcar = last_session_dip("default")
    share_rupt, dip_rupt = last_session_dip("rupture_dropout")
    assert share_rupt > share_mcar + 0.03
    # under MCAR the last session before leaving is an ordinary one; after a rupture it is low
    assert abs(dip_mcar) < 0.03 and dip_rupt < dip_mcar - 0.03  # 0.03: half the expected gap


def test_therapist_slopes_vary_growth_between_therapists():
    big = {"n_therapists": 200, "n_patients": 1000, "max_caseload": 10}
    def slope_sd(name):
        d = simulate(scenario_params(name, **big), seed=9).dropna(subset=["alliance_therapist"])
        slopes = d.groupby("therapist").apply(
            lambda g: np.polyfit(g["session"], g["alliance_therapist"], 1)[0]
            if g["session"].nunique() > 2 else np.nan, include_groups=False)
        return slopes.std()
    assert slope_sd("therapist_slopes") > slope_sd("default") + 0.01


def test_confounded_level_correlates_alliance_and_wellbeing_levels():
    big = {"n_therapists": 200, "n_patients": 1000, "max_caseload": 10}
    def level_corr(name):
        m = simulate(scenario_params(name, **big), seed=5).groupby("patient")[
            ["alliance_patient", "wellbeing"]].mean()
        return m.corr().iloc[0, 1]
    default = level_corr("default")
    assert 0.2 < default and level_corr("confounded_level") > default + 0.15


def test_null_and_scaled_effects():
    t = scenario_params("null").truth()
    assert t["a1"] == 0 and t["growth_difference_therapist"] == 0 and t["tracking_difference"] == 0
    assert all(v == 0 for v in t.values())
    p = SimulationParams()
    assert scale_effects(p, 1.0) == p
    z = scale_effects(p, 0.0).truth()
    assert z["a1"] == 0 and z["tracking_difference"] == 0
    assert scale_effects(p, 2.0).truth()["a1"] == 2 * p.truth()["a1"]


def _therapist_slope_sds(p: SimulationParams) -> tuple[float, float]:
    """SD of the therapist random slope in patient and in therapist ratings."""
    return (p.sd_therapist_growth_patient,
            float(np.hypot(p.growth_accuracy * p.sd_therapist_growth_patient,
                           p.sd_therapist_growth_therapist)))


def test_null_keeps_the_default_and_null_therapist_slopes_pins_the_slopes():
    """null = the default without any training effect (its therapist slopes and between-patient
    association included); null_therapist_slopes = null with both raters' therapist random-slope
    SD at 0.03 points per session (issue 18); they differ in nothing else."""
    default, null, nts = (scenario_params(n) for n in
                          ("default", "null", "null_therapist_slopes"))
    assert null == scale_effects(default, 0.0)
    assert all(v == 0 for v in nts.truth().values())
    assert _therapist_slope_sds(nts) == pytest.approx((0.03, 0.03), abs=2e-4)
    assert _therapist_slope_sds(default)[0] > 0 and _therapist_slope_sds(default)[1] > 0
    differ = {f.name for f in dataclasses.fields(SimulationParams)
              if getattr(null, f.name) != getattr(nts, f.name)}
    assert differ <= {"sd_therapist_growth_patient", "sd_therapist_growth_therapist"}
    # therapist_slopes doubles the default's slopes in both raters
    assert _therapist_slope_sds(scenario_params("therapist_slopes")) == pytest.approx(
        tuple(2 * v for v in _therapist_slope_sds(default)), abs=0.002)


def test_default_has_the_literatures_association_and_confounded_level_more():
    """The default correlates the stable alliance level with well-being (r = .28 observed in
    the control arm); confounded_level makes the confound stronger, the lagged truth unchanged."""
    default, conf = scenario_params("default"), scenario_params("confounded_level")
    assert 0 < default.level_wellbeing_corr < conf.level_wellbeing_corr
    assert conf.truth() == default.truth()
