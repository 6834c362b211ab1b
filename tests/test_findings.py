"""The verdict rules of the four findings: Holm, equivalence and every branch of `judge`."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from alliance.findings import (
    PRIMARY,
    MARGINS,
    PLAN,
    PRIMARY_TESTS,
    VERDICT_MEANINGS,
    VERDICTS,
    analysis_plan,
    equivalence,
    equivalence_factor,
    equivalence_power,
    holm,
    judge,
    margin_table,
    plan_provenance,
)

#: margins in the estimates' units, as primary_tests records them from a data set
MARGIN = {"margin_g_pat": 0.04, "margin_a1_control": 1.5}


def _rec(**tests):
    """A record as primary_tests gives it: key -> (estimate, se, df, p)."""
    out = {}
    for key, (est, se, df, p) in tests.items():
        out.update({f"est_{key}": est, f"se_{key}": se, f"df_{key}": df, f"p_{key}": p})
    return out


STRONG = (1.0, 0.1, 40.0, 1e-6)     # significant upwards whatever the adjustment
NULL = (0.01, 0.1, 40.0, 0.9)       # nowhere near
NEGATIVE = (-1.0, 0.1, 40.0, 1e-6)  # significant the other way


def test_holm_equals_statsmodels_and_keeps_the_family_size(monkeypatch):
    # statsmodels' Holm runs gc.collect() on every call (0.07 s here, more in a large test
    # process: 8-13 s for this test); collecting garbage changes none of its numbers
    import gc

    monkeypatch.setattr(gc, "collect", lambda *args, **kwargs: 0)
    rng = np.random.default_rng(3)
    for _ in range(50):
        p = rng.uniform(0, 0.2, size=4)
        assert np.allclose(holm(p), multipletests(p, method="holm")[1], rtol=0, atol=1e-15)
    # by hand: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04, made
    # monotone (0.04 -> 0.06) and put back in the input's order
    assert np.allclose(holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02], rtol=0, atol=1e-15)
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
    assert "Holm-adjusted p = .080" in judge(rec)[2][1]
    # if every primary is strong, 0.02 is the largest and stays 0.02
    rec.update(_rec(g_ther=STRONG, a1_training=STRONG, a1_difference=STRONG))
    assert judge(rec)[2][0] == "replicated"


def test_reasons_print_p_values_as_the_tables_do():
    # a contradicted claim (p = 1e-6, Holm x4) and a secondary part that fails (p = .9):
    # "p < .001" and "p = .900" as in the book's tables, never "4e-06" or "0.9"
    rec = _rec(g_ther=STRONG, g_rater=NULL, g_pat=NULL, tc_diff=NEGATIVE,
               a1_training=NULL, a1_difference=NULL) | MARGIN
    verdicts = judge(rec)
    assert verdicts[2][0] == "contradicted"
    assert "Holm-adjusted p < .001" in verdicts[2][1]
    assert verdicts[1][0] == "inconclusive" and "p = .900" in verdicts[1][1]
    for _, reason in verdicts.values():
        assert not re.search(r"\bp \d|\d[eE]-\d", reason), reason


def test_finding_1_needs_the_rater_contrast_and_equivalence_for_patients():
    equivalent = (0.0, 0.01, 100.0, 0.99)          # 90% CI about +/-0.017, inside +/-0.04
    vague = (0.0, 0.05, 100.0, 0.99)               # 90% CI about +/-0.083: not equivalent
    differs = (0.1, 0.01, 100.0, 1e-6)             # patients' growth differs too
    base = dict(g_ther=STRONG, tc_diff=STRONG, a1_training=STRONG, a1_difference=STRONG)
    ok = judge({**_rec(**base, g_rater=STRONG, g_pat=equivalent), **MARGIN})[1]
    assert ok[0] == "replicated"
    no_contrast = judge({**_rec(**base, g_rater=NULL, g_pat=equivalent), **MARGIN})[1]
    assert no_contrast[0] == "inconclusive" and "rater x condition x time" in no_contrast[1]
    no_equiv = judge({**_rec(**base, g_rater=STRONG, g_pat=vague), **MARGIN})[1]
    assert no_equiv[0] == "inconclusive" and "'no effect' (growth difference, patient-rated) is " \
        "not shown" in no_equiv[1]
    # "not significant for patients" alone is not "no effect for patients"
    assert vague[3] > 0.05 and no_equiv[0] != "replicated"
    # the reason says what this trial could show and what it would take
    assert "probability 0%" in no_equiv[1] and "times its size" in no_equiv[1]
    both = judge({**_rec(**base, g_rater=STRONG, g_pat=differs), **MARGIN})[1]
    assert both[0] == "inconclusive" and "differs from 0" in both[1]
    # no margin recorded: the part cannot be judged, so the claim is not replicated
    nomargin = judge(_rec(**base, g_rater=STRONG, g_pat=equivalent))[1]
    assert nomargin[0] == "inconclusive" and "margin" in nomargin[1]
    # the margin's sensitivity: at half of it, the same estimate is no longer equivalent
    half = judge({**_rec(**base, g_rater=STRONG, g_pat=equivalent), **MARGIN},
                 margin_scale=0.25)[1]
    assert half[0] == "inconclusive"


def test_finding_3_needs_a4_below_zero_and_never_uses_a_wide_ci_as_evidence():
    base = _rec(g_ther=STRONG, tc_diff=STRONG, a1_training=STRONG, a1_difference=STRONG)
    a4_neg = _rec(a4_training=(-5.0, 1.0, 300.0, 1e-6))
    a4_vague = _rec(a4_training=(-5.0, 4.0, 300.0, 0.21))
    a4_pos = _rec(a4_training=(5.0, 1.0, 300.0, 1e-6))
    got = judge({**base, **a4_neg, "ridge_consistent_training": 1})[3]
    assert got[0] == "replicated" and "consistent with the line of congruence" in got[1]
    # the checklist's "CI includes the value" conditions cannot make or break the verdict
    assert judge({**base, **a4_neg, "ridge_consistent_training": 0})[3][0] == "replicated"
    assert judge({**base, **a4_neg, "congruence_training": 0})[3][0] == "replicated"
    for a4 in (a4_vague, a4_pos):
        got = judge({**base, **a4, "ridge_consistent_training": 1, "congruence_training": 1})[3]
        assert got[0] == "inconclusive" and "is not < 0" in got[1]


def test_finding_4_needs_equivalence_in_the_control_arm():
    base = _rec(g_ther=STRONG, tc_diff=STRONG, a1_training=STRONG)
    # the control arm shows nothing, but the arms do not differ either
    got = judge({**base, **_rec(a1_difference=NULL, a1_control=NULL), **MARGIN})[4]
    assert got[0] == "not replicated"
    # the arms differ and control is flat but imprecise: not significant is not enough
    flat_vague = (0.1, 1.2, 300.0, 0.93)
    got = judge({**base, **_rec(a1_difference=STRONG, a1_control=flat_vague), **MARGIN})[4]
    assert got[0] == "inconclusive" and "'no effect'" in got[1]
    # the arms differ and the control arm's a1 is shown inside +/-1.5
    flat_precise = (0.1, 0.3, 300.0, 0.74)
    got = judge({**base, **_rec(a1_difference=STRONG, a1_control=flat_precise), **MARGIN})[4]
    assert got[0] == "replicated"
    # the arms differ but control has the association too: inconclusive
    big = (3.0, 0.3, 300.0, 1e-6)
    got = judge({**base, **_rec(a1_difference=STRONG, a1_control=big), **MARGIN})[4]
    assert got[0] == "inconclusive" and "differs from 0" in got[1]
    # significant but inside the margin: negligible by the plan's margin, so equivalent
    small = (0.5, 0.1, 300.0, 1e-6)
    got = judge({**base, **_rec(a1_difference=STRONG, a1_control=small), **MARGIN})[4]
    assert got[0] == "replicated"


def test_equivalence_power_and_size_factor():
    # bound 3 SE: q = 3 - 1.645, power = 2 Phi(1.355) - 1
    assert equivalence_power(1.0, np.inf, 3.0) == pytest.approx(2 * stats.norm.cdf(
        3 - stats.norm.ppf(0.95)) - 1)
    assert equivalence_power(1.0, np.inf, 1.0) == 0.0
    # at the factor's size (SE / sqrt(k)) the power is the target
    k = equivalence_factor(1.0, np.inf, 1.0)
    assert equivalence_power(1.0 / np.sqrt(k), np.inf, 1.0) == pytest.approx(0.8, abs=1e-9)
    # the power is what a simulation of estimates N(0, se^2) gives (seeded)
    rng = np.random.default_rng(11)
    est = rng.normal(0, 0.5, 20000)
    sim = np.mean([equivalence(e, 0.5, np.inf, 1.5) < 0.05 for e in est])
    assert sim == pytest.approx(equivalence_power(0.5, np.inf, 1.5), abs=0.01)  # MC SE 0.0035


def test_the_plan_lists_every_test_a_verdict_uses_and_no_context_test():
    plan = analysis_plan()
    used = {k for k, t in PRIMARY_TESTS.items() if t.role != "context"}
    assert set(plan["test"]) == used
    assert set(plan.loc[plan["role"] == "primary", "claim"]) == {1, 2, 3, 4}
    assert VERDICTS == ("replicated", "inconclusive", "not replicated", "contradicted")
    assert set(VERDICT_MEANINGS) == set(VERDICTS)
    # every equivalence part has a margin with its source and arithmetic
    eq = {k for k, t in PRIMARY_TESTS.items() if t.role == "equivalence"}
    assert eq == {"g_pat", "a1_control"}
    assert {PRIMARY_TESTS[k].margin for k in eq} == set(MARGINS)
    m = margin_table()
    assert set(m["test"]) == eq and m["source"].str.len().min() > 40
    assert PLAN["models"]["growth_therapist_effects"] == "intercept+slope"


def test_plan_provenance_names_the_plan_file_and_its_checksum():
    got = plan_provenance()
    assert got["version"] == PLAN["plan"]["version"] and len(got["sha256"]) == 64
    assert got["plan_precedes_data"] in (True, False, None)
