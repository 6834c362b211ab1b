r"""The automatic congruence verdict: the decision steps of Humberg et al. (2019, 2022), written out.

A congruence hypothesis says that the outcome is best where the two predictors agree
(:math:`X = Y`). No single coefficient shows it; :func:`congruence_verdict` goes
through the published decision steps for every fitted surface (single level or
multilevel, each level of a moderator) and says in plain language which outcome
the evidence supports and why:

**Step 1 -- the checklist for the second-order surface** (Humberg, Nestler & Back,
2019), on the full second-order polynomial, each condition with its CI:

1. :math:`a_4 < 0` (CI entirely below 0): the surface is curved downward across the
   line of congruence (LOC), so disagreement in either direction costs;
2. :math:`p_{10} = 0` and 3. :math:`p_{11} = 1` (CIs include 0 and 1): the ridge
   (first principal axis) lies on the LOC;
4. :math:`a_3 = 0` (CI includes 0): the ridge is not shifted towards :math:`X > Y`
   or :math:`Y > X`.

Conditions 1-4 together are a **broad** congruence effect (the level of agreement
may matter too); a **strict** congruence effect also needs 5. :math:`a_1 = 0` and
6. :math:`a_2 = 0` (no slope or curvature along the LOC).

**Step 2 -- the cubic extension** (Humberg, Schönbrodt, Back & Nestler, 2022), when
the cubic family was fitted (``fit_rsa(..., family="cubic")``, not for moderated
surfaces). Of the asymmetric-congruence models CA and RRCA the one with the smaller
AICc is checked:

A1. it is not rejected against the full cubic polynomial (LR test, :math:`p \ge \alpha`);
A2. :math:`c_1 < 0` (CI below 0): curvature across the LOC, as congruence needs;
A3. :math:`c_2 \ne 0` (CI excludes 0): the fall-off is asymmetric;
A4. the range check (:func:`alliance.rsa.cubic.ca_range`): at most ``max_bad_share``
    of the observations lie beyond the second extremum line with a significantly
    different prediction (where the congruence reading breaks down).

Of the level-dependent models CL and RRCL the one with the smaller AICc is checked:

L1. not rejected against the full cubic polynomial;
L2. :math:`c_3 \ne 0` (CI excludes 0): the curvature changes with the level;
L3. the curvature across the LOC is significantly negative for at least
    ``min_negative_share`` of the observations (:func:`alliance.rsa.cubic.cl_range`).

**Decision.** If the asymmetric or the level-dependent pattern holds (both: the
model with the smaller AICc), that is the verdict -- *strict* when the chosen model
has no slope along the LOC (CA, CL), *broad* when it has one (RRCA, RRCL). Otherwise
the checklist decides: strict, broad, or **none** (naming the conditions that fail).
Conditions of the form "= value" are *not rejected* conditions: an interval that
contains the value is evidence of agreement only when it is narrow, and the text
says so. ``max_bad_share`` (default 5%) and ``min_negative_share`` (default 50%)
are this package's operationalisations of "the whole range of realistic predictor
combinations" (the papers leave the threshold to the researcher).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["OUTCOMES", "Verdict", "congruence_verdict", "verdict_table"]

#: The possible outcomes, in the order the decision considers them.
OUTCOMES = ("asymmetric", "level-dependent", "strict", "broad", "none")


@dataclass
class Verdict:
    """The verdict for one surface: ``outcome`` (one of :data:`OUTCOMES`), ``text``, ``conditions``."""

    level: str
    outcome: str
    text: str
    conditions: pd.DataFrame = field(default_factory=pd.DataFrame)
    variant: str = ""  # "strict" or "broad" for the cubic patterns

    def __str__(self) -> str:
        return self.text


def _fmt(v):
    return f"{v:.2f}" if np.isfinite(v) else "undefined"


def _ci(row) -> str:
    return f"{_fmt(row['estimate'])} [{_fmt(row['ci_low'])}, {_fmt(row['ci_high'])}]"


def _coef_row(fit, term, z):
    est = float(fit.beta[term])
    se = float(np.sqrt(max(fit.cov.loc[term, term], 0.0)))
    return {"estimate": est, "ci_low": est - z * se, "ci_high": est + z * se}


def _cubic_steps(family: dict, frame: pd.DataFrame, alpha: float, max_bad_share: float,
                 min_negative_share: float):
    """Rows of step 2 and the supported pattern (name, model, aicc) or None, for each pattern."""
    from alliance.rsa.cubic import ca_range_of, cl_range_of

    z = stats.norm.ppf(1 - alpha / 2)
    top = family["cubic"]
    n = top.n
    rows, found = [], []

    def aicc(f):
        return -2 * f.loglik + 2 * f.k + 2 * f.k * (f.k + 1) / (n - f.k - 1)

    for pattern, pair in (("asymmetric", ("CA", "RRCA")), ("level-dependent", ("CL", "RRCL"))):
        fits = [family[m] for m in pair if m in family]
        if not fits:
            continue
        m = min(fits, key=aicc)
        chi2 = max(0.0, 2 * (top.loglik - m.loglik))
        p = float(stats.chi2.sf(chi2, top.k - m.k))
        tag = "A" if pattern == "asymmetric" else "L"
        conds = [{"step": f"{tag}1", "condition": f"{m.name} is not rejected against the full cubic "
                  "model", "requirement": f"LR p >= {alpha:g}", "estimate": p, "ci_low": np.nan,
                  "ci_high": np.nan, "met": p >= alpha}]
        if pattern == "asymmetric":
            c1, c2 = _coef_row(m, "x2", z), _coef_row(m, "x3", z)
            rng = ca_range_of(m, frame, alpha)
            conds += [
                {"step": "A2", "condition": "curvature across the LOC c1 (b3) < 0",
                 "requirement": "CI below 0", **c1, "met": c1["ci_high"] < 0},
                {"step": "A3", "condition": "asymmetry c2 (b6) differs from 0",
                 "requirement": "CI excludes 0", **c2, "met": c2["ci_low"] > 0 or c2["ci_high"] < 0},
                {"step": "A4", "condition": "few observations beyond the second extremum line with a "
                 "different prediction", "requirement": f"share <= {max_bad_share:g}",
                 "estimate": rng["share_bad"], "ci_low": np.nan, "ci_high": np.nan,
                 "met": rng["share_bad"] <= max_bad_share},
            ]
        else:
            c3 = _coef_row(m, "x3", z)
            reg = cl_range_of(m, frame, alpha)
            neg = float(reg.loc[reg["region"] == "negative", "share"].sum())
            conds += [
                {"step": "L2", "condition": "level dependence c3 (b6) differs from 0",
                 "requirement": "CI excludes 0", **c3, "met": c3["ci_low"] > 0 or c3["ci_high"] < 0},
                {"step": "L3", "condition": "curvature across the LOC significantly negative for "
                 "most observations", "requirement": f"share >= {min_negative_share:g}",
                 "estimate": neg, "ci_low": np.nan, "ci_high": np.nan,
                 "met": neg >= min_negative_share},
            ]
        for c in conds:
            c["model"] = m.name
        rows += conds
        if all(c["met"] for c in conds):
            found.append((pattern, m, aicc(m)))
    best = min(found, key=lambda t: t[2]) if found else None
    return rows, best


def congruence_verdict(checklist: pd.DataFrame, *, family: dict | None = None,
                       frame: pd.DataFrame | None = None, level: str = "all", alpha: float = 0.05,
                       max_bad_share: float = 0.05, min_negative_share: float = 0.5) -> Verdict:
    """The verdict for one surface (see the module docstring for the steps).

    Parameters
    ----------
    checklist : pandas.DataFrame
        The checklist of one level (:func:`alliance.rsa.congruence_checklist`, or the
        ``checklist`` table of :func:`alliance.rsa.fit_rsa` restricted to a level).
    family : dict, optional
        Fitted models by name (:class:`alliance.rsa.models.ModelFit`); step 2 runs when it
        holds ``cubic`` and CA/RRCA or CL/RRCL.
    frame : pandas.DataFrame, optional
        The analysis rows (``result.frame``) for the range checks of step 2.
    level : str
        Label used in the text.
    alpha : float
        Level of the tests (1 - the CIs' level).

    Examples
    --------
    >>> import alliance
    >>> from alliance.rsa import fit_rsa, congruence_verdict
    >>> res = fit_rsa(alliance.load_example(), "wellbeing", "alliance_therapist",
    ...               "alliance_patient", group=["therapist", "patient"], time="session",
    ...               lag=1, moderator="condition", covariates=["session"])
    >>> v = congruence_verdict(res.rows("checklist", level="training"), level="training")
    >>> v.outcome in ("strict", "broad", "none")
    True
    """
    ck = checklist.reset_index(drop=True)
    rows = []
    for _, r in ck.iterrows():
        rows.append({"step": str(int(r["condition"])), "model": "full", "condition": r["why"],
                     "requirement": r["requirement"], "estimate": r["estimate"],
                     "ci_low": r["ci_low"], "ci_high": r["ci_high"], "met": bool(r["met"])})
    by = {int(r["condition"]): r for _, r in ck.iterrows()}
    met = {k: bool(v["met"]) for k, v in by.items()}
    broad = all(met[k] for k in (1, 2, 3, 4))
    strict = broad and met[5] and met[6]
    where = "" if level in ("all", None) else f"{level}: "
    cubic_rows, best = [], None
    if family and "cubic" in family and frame is not None:
        cubic_rows, best = _cubic_steps(family, frame, alpha, max_bad_share, min_negative_share)
    rows += cubic_rows
    cond = pd.DataFrame(rows, columns=["step", "model", "condition", "requirement", "estimate",
                                       "ci_low", "ci_high", "met"])
    a4 = by[1]
    evidence = (f"a4 = {_ci(a4)}, p10 = {_ci(by[2])}, p11 = {_ci(by[3])}, a3 = {_ci(by[4])}, "
                f"a1 = {_ci(by[5])}, a2 = {_ci(by[6])}")
    variant = ""
    if best is not None:
        pattern, m, _ = best
        variant = "strict" if m.name in ("CA", "CL") else "broad"
        c = cond[cond["model"] == m.name]
        coef = c[c["step"].isin(["A2", "A3", "L2"])]
        detail = "; ".join(f"{r['condition']}: {_ci(r)}" for _, r in coef.iterrows())
        if pattern == "asymmetric":
            what = ("the outcome is highest where the ratings agree but falls off faster on one side "
                    "of the line of congruence than on the other")
        else:
            what = ("the outcome is highest where the ratings agree, and how much disagreement costs "
                    "depends on the level of the ratings")
        text = (f"{where}{pattern.capitalize()} congruence effect ({variant}; model {m.name}): {what}. "
                f"{m.name} fits as well as the full cubic polynomial and {detail}.")
        return Verdict(level, pattern, text, cond, variant)
    caution = (" Conditions 2-4 (and 5-6) are 'not rejected' conditions: their intervals contain "
               "the required value, which is evidence only as far as the intervals are narrow.")
    if strict:
        text = (f"{where}Strict congruence effect: the outcome is highest where the two ratings agree, "
                f"whatever their level ({evidence}).{caution}")
        outcome = "strict"
    elif broad:
        which = " and ".join(n for n, k in (("a1", 5), ("a2", 6)) if not met[k])
        text = (f"{where}Broad congruence effect: the outcome falls off on both sides of the line of "
                f"congruence and the ridge lies on it, but the level of agreement also matters "
                f"({which} differs from 0) ({evidence}).{caution}")
        outcome = "broad"
    else:
        outcome = "none"
        if not met[1]:
            why = ("a4 is not significantly negative, so the surface does not fall off away from "
                   "agreement")
        else:
            failed = {2: "the ridge does not pass through the origin (p10 differs from 0)",
                      3: "the ridge is not parallel to the line of congruence (p11 differs from 1)",
                      4: "the ridge is shifted off the line of congruence (a3 differs from 0)"}
            why = "a4 < 0, but " + "; ".join(failed[k] for k in (2, 3, 4) if not met[k])
        tried = ""
        if cubic_rows:
            tried = (" The cubic extension (asymmetric or level-dependent congruence) is not "
                     "supported either: "
                     + "; ".join(f"{r['model']} {r['step']} fails" for r in cubic_rows if not r["met"])
                     + ".")
        text = f"{where}No congruence effect: {why} ({evidence}).{tried}"
    return Verdict(level, outcome, text, cond)


def verdict_table(checklist: pd.DataFrame, family: dict, frame: pd.DataFrame,
                  conf_level: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The verdict of every level of a fit, and the conditions behind it.

    Returns ``verdict`` (``level``, ``outcome``, ``variant``, ``verdict``: the text) and
    ``conditions`` (``level``, ``step``, ``model``, ``condition``, ``requirement``,
    ``estimate``, ``ci_low``, ``ci_high``, ``met``).
    """
    alpha = 1 - conf_level
    levels = checklist["level"].unique().tolist() if "level" in checklist else ["all"]
    rows, conds = [], []
    for lv in levels:
        ck = checklist[checklist["level"] == lv] if "level" in checklist else checklist
        v = congruence_verdict(ck, family=family if lv == "all" else None, frame=frame, level=lv,
                               alpha=alpha)
        rows.append({"level": lv, "outcome": v.outcome, "variant": v.variant, "verdict": v.text})
        conds.append(v.conditions.assign(level=lv))
    cond = pd.concat(conds, ignore_index=True)
    cond = cond[["level"] + [c for c in cond.columns if c != "level"]]
    return pd.DataFrame(rows), cond
