"""The verdict rules of the four findings: Holm, equivalence and every branch of `judge`."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from alliance.findings import (
    PRIMARY,
    PRIMARY_TESTS,
    SESOI,
    VERDICTS,
    analysis_plan,
    equivalence,
    holm,
    judge,
)


def _rec(**tests):
    """A record as primary_tests gives it: key -> (estimate, se, df, p)."""
    out = {}
    for key, (est, se, df, p) in tests.items():
        out.update({f"est_{key}": est, f"se_{key}": se, f"df_{key}": df, f"p_{key}": p})
    return out


STRONG = (1.0, 0.1, 40.0, 1e-6)     # significant upwards whatever the adjustment
NULL = (0.01, 0.1, 40.0, 0.9)       # nowhere near
NEGATIVE = (-1.0, 0.1, 40.0, 1e-6)  # significant the other way


def test_holm_equals_statsmodels_and_keeps_the_family_size():
    rng = np.random.default_rng(3)
    for _ in range(50):
        p = rng.uniform(0, 0.2, size=4)
        assert np.allclose(holm(p), multipletests(p, method="holm")[1], rtol=0, atol=1e-15)
    # a missing test counts as p = 1: the others are still multiplied by 4, 3, ...
    assert np.allclose(holm([0.01, np.nan, 0.02, 0.5]),
                       multipletests([0.01, 1.0, 0.02, 0.5], method="holm")[1])


def test_equivalence_is_the_90_percent_ci_inside_the_bounds():
    for est, se, df in ((0.0, 0.01, 30.0), (0.02, 0.01, 30.0), (0.03, 0.01, np.inf),
                        (-0.025, 0.012, 100.0)):
        t = stats.t(df) if np.isfinite(df) else stats.norm
        inside = abs(est) + t.ppf(0.95) * se < 0.04
        assert (equivalence(est, se, df, 0.04, 0.05) < 0.05) == inside, (est, se, df)
    # at the boundary the TOST p is one-sided 0.5
    assert equivalence(0.04, 0.01, 30.0, 0.04) == pytest.approx(0.5)


def test_every_claim_is_contradicted_or_not_replicated_by_its_primary_test():
    for claim, key in PRIMARY.items():
        assert judge(_rec(**{key: NEGATIVE}))[claim][0] == "contradicted"
        assert judge(_rec(**{key: NULL}))[claim][0] == "not replicated"
    assert set(PRIMARY) == {1, 2, 3, 4}
    assert {PRIMARY_TESTS[k].role for k in PRIMARY.values()} == {"primary"}


def test_holm_decides_a_primary_test_that_passes_only_unadjusted():
    # p = 0.02 alone, three other primaries at p = 0.9: Holm multiplies by 4 -> 0.08
    rec = _rec(tc_diff=(0.2, 0.08, 35.0, 0.02), g_ther=NULL, a1_training=NULL, a1_difference=NULL)
    assert judge(rec)[2][0] == "not replicated"
    assert "Holm-adjusted p 0.08" in judge(rec)[2][1]
    # if every primary is strong, 0.02 is the largest and stays 0.02
    rec.update(_rec(g_ther=STRONG, a1_training=STRONG, a1_difference=STRONG))
    assert judge(rec)[2][0] == "replicated"


def test_finding_1_needs_the_rater_contrast_and_equivalence_for_patients():
    equivalent = (0.0, 0.01, 100.0, 0.99)          # 90% CI about +/-0.017, inside +/-0.04
    vague = (0.0, 0.05, 100.0, 0.99)               # 90% CI about +/-0.083: not equivalent
    base = dict(g_ther=STRONG, tc_diff=STRONG, a1_training=STRONG, a1_difference=STRONG)
    ok = judge(_rec(**base, g_rater=STRONG, g_pat=equivalent))[1]
    assert ok[0] == "replicated"
    no_contrast = judge(_rec(**base, g_rater=NULL, g_pat=equivalent))[1]
    assert no_contrast[0] == "inconclusive" and "rater x condition x time" in no_contrast[1]
    no_equiv = judge(_rec(**base, g_rater=STRONG, g_pat=vague))[1]
    assert no_equiv[0] == "inconclusive" and "no effect for patients is not shown" in no_equiv[1]
    # "not significant for patients" alone is not "no effect for patients"
    assert vague[3] > 0.05 and no_equiv[0] != "replicated"
    assert SESOI["g_pat"] == pytest.approx(0.04)


def test_finding_3_needs_the_congruence_pattern():
    base = _rec(g_ther=STRONG, tc_diff=STRONG, a1_training=STRONG, a1_difference=STRONG)
    assert judge({**base, "congruence_training": 1})[3][0] == "replicated"
    got = judge({**base, "congruence_training": 0})[3]
    assert got[0] == "inconclusive" and "congruence pattern" in got[1]


def test_finding_4_is_never_replicated_by_a_non_significant_control_arm_alone():
    base = _rec(g_ther=STRONG, tc_diff=STRONG, a1_training=STRONG)
    # the control arm shows nothing, but the arms do not differ either
    got = judge({**base, **_rec(a1_difference=NULL, a1_control=NULL)})[4]
    assert got[0] == "not replicated"
    # the arms differ and control is flat: replicated
    assert judge({**base, **_rec(a1_difference=STRONG, a1_control=NULL)})[4][0] == "replicated"
    # the arms differ but control has the association too: inconclusive
    got = judge({**base, **_rec(a1_difference=STRONG, a1_control=STRONG)})[4]
    assert got[0] == "inconclusive" and "control arm too" in got[1]


def test_the_plan_lists_every_test_a_verdict_uses_and_no_context_test():
    plan = analysis_plan()
    used = {k for k, t in PRIMARY_TESTS.items() if t.role != "context"}
    assert set(plan["test"]) == used
    assert set(plan.loc[plan["role"] == "primary", "claim"]) == {1, 2, 3, 4}
    assert VERDICTS == ("replicated", "inconclusive", "not replicated", "contradicted")
