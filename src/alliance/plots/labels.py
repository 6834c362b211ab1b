"""Plain-language names for what tables and figures show: one map, used everywhere.

Results tables keep short machine names (``ci_low``, ``time:training``,
``a1``, ``alliance_patient``): they are stable keys for code and for the files
``alliance report`` writes. A reader sees the names of this module instead:
:func:`column_label` for a column header, :func:`term_label` for a model term
or any other code in a table cell or on a figure axis. The book's one table
function (:func:`alliance.plots.tables.table`) and the figures use them, so a
chapter never types a label by hand and never shows an internal code.

Examples
--------
>>> column_label("ci_low"), column_label("p_holm")
('CI lower', 'p (Holm)')
>>> term_label("time:training")
'Time × training (growth difference)'
>>> term_label("alliance_patient (s-1) within")
'Patient-rated alliance at s−1, within patient'
>>> term_label("a1")
'a1: slope along the line of congruence'
>>> term_label("g_ther")
'growth difference, therapist-rated'
"""

from __future__ import annotations

import re

__all__ = ["COLUMN_LABELS", "TERM_LABELS", "VALUE_LABELS", "column_label", "term_label"]

#: Column headers: machine name -> what a reader sees.
COLUMN_LABELS: dict[str, str] = {
    # tidy estimates
    "term": "Term", "level": "Level", "estimate": "Estimate", "se": "SE",
    "statistic": "Test statistic", "df": "df", "p": "p", "p_holm": "p (Holm)",
    "ci_low": "CI lower", "ci_high": "CI upper", "p_vs": "p (vs. previous model)",
    "std_estimate": "Standardised estimate", "std": "Standardised", "significant": "Significant",
    "method": "Method", "part": "Part", "predictor": "Predictor", "outcome": "Outcome",
    # models and fit
    "model": "Model", "description": "Description", "k": "Parameters", "loglik": "Log-likelihood",
    "aic": "AIC", "aicc": "AICc", "delta_aicc": "ΔAICc", "weight": "Akaike weight",
    "boundary": "Boundary fit", "converged": "Converged", "structure": "Random effects",
    "group": "Group", "term1": "Term", "term2": "With", "variance": "Variance", "sd": "SD",
    "corr": "Correlation", "therapist_level": "Therapist level",
    # design
    "condition": "Arm", "therapists": "Therapists", "patients": "Patients", "rows": "Rows",
    "patients_per_therapist_mean": "Patients per therapist (mean)",
    "patients_per_therapist_min": "Patients per therapist (min)",
    "patients_per_therapist_max": "Patients per therapist (max)",
    "measure": "Measure", "attended": "Sessions attended", "missing": "Ratings missing",
    "missing_share": "Share missing", "absent_sessions": "Sessions absent",
    "column": "Column", "meaning": "Meaning", "parameter": "Parameter", "value": "Value",
    "source": "Source", "session": "Session", "patient": "Patient", "therapist": "Therapist",
    "unit": "Therapist", "stratum": "Stratum", "block": "Block",
    "n_training": "n (training)", "mean_training": "Mean (training)",
    "sd_training": "SD (training)", "n_control": "n (control)", "mean_control": "Mean (control)",
    "sd_control": "SD (control)",
    "var_therapist": "Variance between therapists", "var_patient": "Variance between patients",
    "var_residual": "Residual variance", "icc_therapist": "ICC (therapist)",
    "icc_patient": "ICC (patient)", "patients_per_therapist": "Patients per therapist",
    "cv": "CV of caseload", "design_effect": "Design effect",
    "design_effect_cv": "Design effect (unequal caseloads)", "n_patients": "Patients",
    "n_effective": "Effective n", "design_effect_sessions": "Design effect (sessions)",
    "n_effective_sessions": "Effective n (sessions)", "n_rows": "Rows",
    # permutation and Monte Carlo
    "mc_se": "Monte Carlo SE", "n_permutations": "Permutations", "n_extreme": "As extreme",
    "alternative": "Alternative", "truth": "True value", "bias": "Bias", "emp_sd": "Empirical SD",
    "mean_se": "Mean SE", "coverage": "Coverage", "rejection": "Rejection rate", "n": "n",
    "relative_bias": "Relative bias", "nickell_approx": "Nickell bias (approx.)",
    "boundary_share": "Share boundary fits", "fallback_share": "Share fallback optimiser",
    "implied": "Implied", "estimates": "Estimates", "scenario": "Scenario",
    "specification": "Specification",
    # truth and bias, lagged
    "moderator": "Arm", "judgment_c": "Therapist rating (centred)",
    "truth_c": "Patient rating (centred)", "truth_between": "Patient mean (between)",
    "truth_within": "Patient rating (within)", "session_c": "Session (centred)",
    "y": "Outcome", "rule": "Rule", "reason": "Reason", "test": "Test",
    # findings
    "claim": "Finding", "verdict": "Verdict", "role": "Role", "quantity": "Quantity",
    "requirement": "Requirement", "met": "Met", "rater": "Rater", "difference": "Difference",
    "default": "Default scenario", "null": "Null scenario",
    # benchmarks, status
    "n_obs": "Observations", "speedup": "Speed-up", "version": "Version", "item": "Item",
}

#: Codes that appear inside cells (model terms, test keys, variable names) -> plain names.
TERM_LABELS: dict[str, str] = {
    "Intercept": "Intercept",
    "time": "Time (per session)",
    "training": "Training (vs. control)",
    "time:training": "Time × training (growth difference)",
    "therapist_rater": "Therapist rater (vs. patient)",
    "time:therapist_rater": "Time × therapist rater",
    "training:therapist_rater": "Training × therapist rater",
    "time:training:therapist_rater": "Time × training × therapist rater",
    "session": "Session",
    "d_growth": "d, growth part (β₃·t_max / SD)",
    "d_last_session": "d at the last session",
    "b0": "b0: intercept of the surface",
    "b1": "b1: therapist-rated alliance (linear)",
    "b2": "b2: patient-rated alliance (linear)",
    "b3": "b3: therapist-rated alliance squared",
    "b4": "b4: therapist × patient rating",
    "b5": "b5: patient-rated alliance squared",
    "alliance_patient": "Patient-rated alliance",
    "alliance_therapist": "Therapist-rated alliance",
    "wellbeing": "Well-being",
    "patient_age": "Patient age",
    "patient_female": "Patient female",
    "therapist_experience": "Therapist experience",
    "condition": "Arm",
    "prior": "Prior rating",
    # the models behind the findings (alliance.findings.PAPER_MODELS)
    "growth_therapist": "Growth model, therapist-rated",
    "growth_patient": "Growth model, patient-rated",
    "growth_both": "Stacked growth model, both raters",
    "truth_bias": "Truth-and-bias model",
    "rsa": "Raw lagged response surface",
    "rsa_within": "Within-patient lagged response surface",
}

#: Values of grouping columns (arms, levels) -> plain names.
VALUE_LABELS: dict[str, str] = {
    "training": "Training", "control": "Control", "difference": "Training − control",
    "training - control": "Training − control", "patient": "Patient", "therapist": "Therapist",
    "both": "Both raters", "all": "All",
}

_PHRASES = (  # codes inside longer labels, replaced word by word
    ("alliance_patient", "Patient-rated alliance"), ("alliance_therapist", "Therapist-rated alliance"),
    ("wellbeing", "Well-being"), ("therapist_rater", "therapist rater"), ("(s-1)", "at s−1,"),
    ("patient_age", "patient age"), ("patient_female", "patient female"),
    ("therapist_experience", "therapist experience"),
)


def _extra_terms() -> dict[str, str]:
    """Labels the analyses define themselves (surface quantities, the findings' tests)."""
    out: dict[str, str] = {}
    try:
        from alliance.rsa.surface import MEANING
        symbols = {"lambda1": "λ1", "lambda2": "λ2", "loic_shift": "LOIC shift",
                   "pa1_shift": "PA1 shift"}
        out.update({k: f"{symbols.get(k, k)}: {v.split(' (')[0] if k[0] in 'al' else v}"
                    for k, v in MEANING.items()})
    except ImportError:  # pragma: no cover - the package always has it
        pass
    try:
        from alliance.findings import PRIMARY_TESTS
        out.update({k: t.label for k, t in PRIMARY_TESTS.items()})
    except ImportError:  # pragma: no cover
        pass
    return out


_EXTRA: dict[str, str] | None = None


def term_label(code) -> str:
    """A model term, test key or variable name as a reader should see it (unknown: unchanged)."""
    global _EXTRA
    if not isinstance(code, str):
        return code
    if code in TERM_LABELS:
        return TERM_LABELS[code]
    if _EXTRA is None:
        _EXTRA = _extra_terms()
    if code in _EXTRA:
        return _EXTRA[code]
    text = code
    for raw, nice in _PHRASES:
        text = text.replace(raw, nice)
    text = re.sub(r",\s*within$", ", within patient", text)
    text = re.sub(r",\s*between$", ", between patients", text)
    text = re.sub(r",\s*prior$", " (prior)", text)
    return text.strip()


def column_label(name) -> str:
    """A column header as a reader should see it (unknown names: underscores become spaces)."""
    name = str(name)
    if name in COLUMN_LABELS:
        return COLUMN_LABELS[name]
    if name in VALUE_LABELS:
        return VALUE_LABELS[name]
    return name.replace("_", " ") if "_" in name else name
