r"""Truth and bias: how closely one rater's judgments follow the other's (West & Kenny 2011).

The truth-and-bias model regresses a *judgment* :math:`J` on the *truth* it is
about, :math:`T`, and optionally on a *bias* variable :math:`B` on the same
scale, all three centred on the mean of the truth :math:`\bar T`:

.. math::

    J - \bar T = b_0 + t\,(T - \bar T) + b\,(B - \bar T) + e .

Because of that centring, the intercept :math:`b_0` is **directional bias** (how
much higher or lower the judge rates than the truth, on average), :math:`t` is
the **truth force** (how strongly judgments follow the truth) and :math:`b` the
**bias force** (how strongly they are pulled towards the bias variable).

For repeated dyadic ratings -- a therapist (judge) and a patient (truth) rating
the alliance of each session -- :func:`fit_truth_bias` separates the truth into
its within-dyad part (the session's deviation from the patient's own mean: its
force is **temporal congruence**, i.e. session-to-session tracking) and its
between-dyad part (the patient's mean: its force is **level accuracy**), and lets
every force differ by arm. :func:`fit_truth_bias_cross` fits the classical
cross-sectional model for one judgment per person with a random intercept per
dyad (used here to reproduce the Acitelli couples example).

Both fit through :func:`alliance.mixed.fit_lmm` and report each force per level
of the moderator and the difference between levels, as linear combinations of
the fixed effects with Wald z tests (:meth:`alliance.mixed.MixedFit.contrast`).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alliance._checks import moderator_levels, numeric_column, require_columns, source_of
from alliance._errors import DataError
from alliance._results import Result, format_table
from alliance.lags import lag, lag_name
from alliance.mixed import MixedFit, RandomTerm, fit_lmm
from alliance.schema import CONDITIONS

__all__ = [
    "FORCES",
    "TruthBiasResult",
    "cli_arguments",
    "cli_run",
    "fit_truth_bias",
    "fit_truth_bias_cross",
    "implied_temporal_congruence",
    "plot_dyads",
    "plot_forces",
    "truth_bias_design",
]

#: Force names of the repeated model, in table order, and the design column each rests on.
FORCES = {
    "directional bias": "Intercept",
    "temporal congruence": "truth_within",
    "level accuracy": "truth_between",
    "bias force": "bias",
}
#: Force names of the cross-sectional model.
CROSS_FORCES = {"directional bias": "Intercept", "truth force": "truth", "bias force": "bias"}

_RATER_WORDS = {
    "alliance_therapist": ("the therapist", "the therapist's rating"),
    "alliance_patient": ("the patient", "the patient's rating"),
}


# --------------------------------------------------------------------------- results


@dataclass
class TruthBiasResult(Result):
    """Result of :func:`fit_truth_bias` or :func:`fit_truth_bias_cross`.

    Attributes
    ----------
    tables : dict
        ``forces`` (term, level, estimate, se, statistic, p, ci_low, ci_high,
        combination): each force per level of the moderator and the difference of
        every level from the reference level (``level`` e.g. ``"training -
        control"``); ``fixed`` (every fixed effect of the mixed model);
        ``variance_components``.
    fit : alliance.mixed.MixedFit
        The underlying mixed-model fit.
    design : pandas.DataFrame
        The analysed rows with the constructed model variables (centred judgment,
        truth parts, bias, moderator indicators, ids), in input order.
    explanations : dict
        ``(term, level) -> sentence`` saying what each estimate means.
    """

    fit: MixedFit | None = field(default=None, repr=False)
    design: pd.DataFrame | None = field(default=None, repr=False)
    explanations: dict = field(default_factory=dict, repr=False)

    @property
    def forces(self) -> pd.DataFrame:
        """The forces table (see the class docstring)."""
        return self.tables["forces"]

    def force(self, term: str, level: str = "all", column: str = "estimate") -> float:
        """One number of the forces table, e.g. ``force("temporal congruence", "training")``."""
        f = self.tables["forces"]
        row = f[(f["term"] == term) & (f["level"] == level)]
        if row.empty:
            pairs = sorted(set(zip(f["term"], f["level"])))
            raise KeyError(f"no force ({term!r}, {level!r}); available: {pairs}")
        return float(row[column].iloc[0])

    def summary(self) -> str:
        """Forces table, what each estimate means in words, variance components and fit facts."""
        lines = [self.title, "=" * len(self.title), ""]
        if "model" in self.info:
            lines += [f"model: {self.info['model']}", ""]
        shown = self.tables["forces"].drop(columns=["combination"], errors="ignore")
        lines += ["forces:", format_table(shown), "", "What the estimates mean:"]
        for (term, level), text in self.explanations.items():
            lines.append(f"- {term} [{level}]: {text}")
        lines += ["", "variance components:", format_table(self.tables["variance_components"])]
        groups = ", ".join(f"{k}: {v}" for k, v in self.n_groups.items())
        lines += ["", f"observations: {self.n_obs}; groups: {groups}",
                  (f"method: {self.info.get('method')}; logLik: {self.info.get('loglik', np.nan):.3f}; "
                  f"converged: {self.converged}; boundary: {self.info.get('boundary')}")]
        for k, v in self.info.get("rows_dropped", {}).items():
            lines.append(f"rows dropped ({k}): {v}")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- helpers










def _indicator_name(moderator: str, level: str) -> str:
    return f"{moderator}[{level}]"


def _words(col: str) -> tuple[str, str]:
    return _RATER_WORDS.get(col, (f"'{col}'", f"'{col}'"))


def _forces_table(fit: MixedFit, forces: dict, moderator, levels) -> pd.DataFrame:
    """Every force per level and each level's difference from the reference, via fit.contrast."""
    names = list(fit.fixed.index)
    L: dict[str, dict[str, float]] = {}
    meta = []
    for term, col in forces.items():
        if col not in names:
            continue
        if moderator is None:
            key = f"{term}|all"
            L[key] = {col: 1.0}
            meta.append((term, "all", col))
            continue
        ref = levels[0]
        inter = {lv: f"{col}:{_indicator_name(moderator, lv)}" if col != "Intercept"
                 else _indicator_name(moderator, lv) for lv in levels[1:]}
        L[f"{term}|{ref}"] = {col: 1.0}
        meta.append((term, ref, col))
        for lv in levels[1:]:
            L[f"{term}|{lv}"] = {col: 1.0, inter[lv]: 1.0}
            meta.append((term, lv, f"{col} + {inter[lv]}"))
        for lv in levels[1:]:
            L[f"{term}|{lv} - {ref}"] = {inter[lv]: 1.0}
            meta.append((term, f"{lv} - {ref}", inter[lv]))
    tab = fit.contrast(L).reset_index(drop=True)
    tab.insert(0, "term", [m[0] for m in meta])
    tab.insert(1, "level", [m[1] for m in meta])
    tab["combination"] = [m[2] for m in meta]
    return tab


def _interact(X: pd.DataFrame, base: list[str], ind: pd.DataFrame) -> pd.DataFrame:
    """Add the moderator indicators and their products with the ``base`` columns."""
    out = X.copy()
    for ic in ind.columns:
        out[ic] = ind[ic].to_numpy()
    for b in base:
        for ic in ind.columns:
            out[f"{b}:{ic}"] = X[b].to_numpy() * ind[ic].to_numpy()
    return out


# --------------------------------------------------------------------------- design


def truth_bias_design(
    data: pd.DataFrame,
    *,
    judgment: str = "alliance_therapist",
    truth: str = "alliance_patient",
    bias: str | None = None,
    moderator: str | None = "condition",
    patient: str = "patient",
    therapist: str | None = "therapist",
    time: str | None = "session",
) -> tuple[pd.DataFrame, dict]:
    r"""The analysed rows of the repeated truth-and-bias model with its constructed variables.

    Parameters are those of :func:`fit_truth_bias` (``time=None`` drops the session
    control; ``bias="anchoring"`` needs ``time``).

    Returns
    -------
    design : pandas.DataFrame
        One row per analysed row (input order kept, original index), with columns
        ``patient``, ``therapist`` (if given), ``moderator`` (if given) and the model
        variables ``judgment_c`` (:math:`J - \bar T`), ``truth_c``
        (:math:`T - \bar T`), ``truth_between`` (patient mean of ``truth_c``),
        ``truth_within`` (``truth_c - truth_between``), ``bias`` (:math:`B - \bar T`,
        if a bias is given), ``session_c`` (time centred on its mean over the
        analysed rows, if ``time``).
    info : dict
        ``truth_mean`` (:math:`\bar T`), ``time_mean``, ``n_input``, ``n_used``,
        ``rows_dropped`` (reason -> count) and, for anchoring, the lag counts of
        :func:`alliance.lags.lag`.

    Notes
    -----
    All centring uses the analysed rows only (rows with judgment, truth, bias,
    moderator and time present), so the within part has mean zero within every
    patient and is orthogonal to the between part in the analysed sample.
    """
    source = source_of(data)
    if not isinstance(data, pd.DataFrame):
        raise TypeError("data must be a pandas DataFrame (read files with alliance.read_sessions)")
    anchoring = bias == "anchoring"
    if anchoring and time is None:
        raise ValueError("bias='anchoring' needs a time column (the previous session)")
    if judgment == truth:
        raise ValueError("judgment and truth must be different columns")
    require_columns(data, [judgment, truth, patient, therapist, moderator, time,
                           None if (bias is None or anchoring) else bias], source,
                    "truth-and-bias model")
    n_input = len(data)
    J = numeric_column(data, judgment, source)
    T = numeric_column(data, truth, source)
    info: dict = {"n_input": int(n_input)}
    if anchoring:
        lagged = lag(data, judgment, group=patient, time=time)
        B = lagged[lag_name(judgment)].to_numpy(dtype=float)
        info["lag"] = dict(lagged.attrs["lag"])
        bias_label = f"{judgment} in the previous session (anchoring)"
    elif bias is not None:
        B = numeric_column(data, bias, source)
        bias_label = bias
    else:
        B = None
        bias_label = None
    ok = np.isfinite(J) & np.isfinite(T)
    dropped = {}
    dropped[f"{judgment} missing"] = int(np.sum(~np.isfinite(J)))
    dropped[f"{truth} missing"] = int(np.sum(np.isfinite(J) & ~np.isfinite(T)))
    if B is not None:
        why = (f"no {judgment} in the previous session of the same patient" if anchoring
               else f"{bias} missing")
        dropped[why] = int(np.sum(ok & ~np.isfinite(B)))
        ok &= np.isfinite(B)
    if time is not None:
        tt = numeric_column(data, time, source)
        dropped[f"{time} missing"] = int(np.sum(ok & ~np.isfinite(tt)))
        ok &= np.isfinite(tt)
    for idcol in [patient, therapist, moderator]:
        if idcol is None:
            continue
        miss = data[idcol].isna().to_numpy()
        dropped[f"{idcol} missing"] = int(np.sum(ok & miss))
        ok &= ~miss
    if therapist is not None:
        sub = data.loc[ok, [patient, therapist]].astype(str)
        n_ther = sub.groupby(patient)[therapist].nunique()
        if (n_ther > 1).any():
            pid = n_ther[n_ther > 1].index[0]
            rows = np.flatnonzero((data[patient].astype(str) == pid).to_numpy())[:8] + 1
            raise DataError(f"{source}: patient {pid!r} appears under several therapists "
                            f"(data rows {list(rows)}) [rule: each patient has one therapist]")
    n_used = int(ok.sum())
    if n_used == 0:
        raise DataError(f"{source}: no row has both '{judgment}' and '{truth}'"
                        + (" and the bias" if B is not None else "") + " [rule: rows to analyse]")
    d = pd.DataFrame(index=data.index[ok])
    d["patient"] = data.loc[ok, patient].astype(str).to_numpy()
    if therapist is not None:
        d["therapist"] = data.loc[ok, therapist].astype(str).to_numpy()
    if moderator is not None:
        d["moderator"] = data.loc[ok, moderator].astype(str).to_numpy()
    mt = float(np.mean(T[ok]))
    d["judgment_c"] = J[ok] - mt
    d["truth_c"] = T[ok] - mt
    d["truth_between"] = d.groupby("patient")["truth_c"].transform("mean").to_numpy()
    d["truth_within"] = d["truth_c"] - d["truth_between"]
    if B is not None:
        d["bias"] = B[ok] - mt
    if time is not None:
        tm = float(np.mean(tt[ok]))
        d["session_c"] = tt[ok] - tm
        info["time_mean"] = tm
    info.update(truth_mean=mt, n_used=n_used, bias_label=bias_label,
                rows_dropped={k: v for k, v in dropped.items() if v})
    d.attrs["source"] = source
    return d, info


# --------------------------------------------------------------------------- repeated model


def _explain_repeated(tab: pd.DataFrame, judgment: str, truth: str, bias_label,
                      time: str | None) -> dict:
    _judge, jrating = _words(judgment)
    who, trating = _words(truth)
    out = {}
    for r in tab.itertuples(index=False):
        est, lv = r.estimate, r.level
        diff = " - " in lv
        if r.term == "directional bias":
            at_mean = "truth and bias are" if bias_label else "truth is"
            text = (f"at an average {time or 'occasion'}, for a dyad whose {at_mean} at the mean of "
                    f"the truth, {jrating} is {abs(est):.3f} points {'above' if est >= 0 else 'below'} "
                    f"{trating}" if not diff else
                    f"directional bias is {est:+.3f} points in '{lv.split(' - ')[0]}' relative to "
                    f"'{lv.split(' - ')[1]}'")
        elif r.term == "temporal congruence":
            text = (f"when {trating} of a session is 1 point above {who}'s own mean, {jrating} of that "
                    f"session is {est:.3f} points above its usual level for that dyad (0 = no "
                    "session-to-session tracking, 1 = full tracking)" if not diff else
                    f"the within-dyad truth force differs by {est:+.3f} (tracking in "
                    f"'{lv.split(' - ')[0]}' minus '{lv.split(' - ')[1]}')")
        elif r.term == "level accuracy":
            text = (f"for a dyad whose mean truth is 1 point higher, {jrating} is on average {est:.3f} "
                    "points higher (between-dyad truth force)" if not diff else
                    f"the between-dyad truth force differs by {est:+.3f} between the levels")
        else:
            text = (f"each point of the bias variable ({bias_label}, centred on the truth mean) moves "
                    f"{jrating} by {est:.3f} points, holding the truth constant" if not diff else
                    f"the bias force differs by {est:+.3f} between the levels")
        out[(r.term, lv)] = text + f" (CI {r.ci_low:.3f} to {r.ci_high:.3f}, p = {r.p:.3g})."
    return out


def fit_truth_bias(
    data: pd.DataFrame,
    *,
    judgment: str = "alliance_therapist",
    truth: str = "alliance_patient",
    bias: str | None = None,
    moderator: str | None = "condition",
    therapist_effects: str = "intercept",
    truth_slope: bool = True,
    method: str = "REML",
    conf_level: float = 0.95,
    patient: str = "patient",
    therapist: str = "therapist",
    time: str | None = "session",
) -> TruthBiasResult:
    r"""Truth-and-bias model of repeated dyadic ratings, moderated by arm.

    Model for session :math:`s` of patient :math:`i` (therapist :math:`j`), arm
    indicator :math:`a` (1 for the moderator level ``training``; one indicator per
    non-reference level in general):

    .. math::

        J^*_{is} &= (\beta_0 + \beta_{0a} a) + (\tau_W + \tau_{Wa} a + w_i)\,T^W_{is}
            + (\tau_B + \tau_{Ba} a)\,T^B_i + (\beta_B + \beta_{Ba} a)\,B^*_{is}\\
            &\quad + (\gamma + \gamma_a a)\,(s - \bar s) + u_i + r_j + e_{is},

    with :math:`J^* = J - \bar T` (``judgment_c``; :math:`J` = ``judgment``),
    :math:`T^* = T - \bar T` (:math:`T` = ``truth``, :math:`\bar T` its mean over the
    analysed rows), :math:`T^B_i` the patient's mean of :math:`T^*`
    (``truth_between``), :math:`T^W_{is} = T^*_{is} - T^B_i` (``truth_within``),
    :math:`B^* = B - \bar T` (``bias``), :math:`s` = ``time``;
    :math:`(u_i, w_i)` a random intercept and within-truth slope per ``patient``
    (unstructured covariance), :math:`r_j` a random intercept per ``therapist``.

    Forces (control arm; training adds the :math:`a` terms): **directional bias**
    :math:`\beta_0`, **temporal congruence** :math:`\tau_W` (within-dyad truth force:
    session-to-session tracking), **level accuracy** :math:`\tau_B` (between-dyad
    truth force), **bias force** :math:`\beta_B`.

    Parameters
    ----------
    data : pandas.DataFrame
        Long session data, one row per patient x session (e.g. from
        :func:`alliance.read_sessions`). Not modified.
    judgment, truth : str
        Columns of the judge's and of the truth rater's rating (same scale). The
        default is the therapist judging the patient; swap them for the reverse
        perspective.
    bias : None, "anchoring" or str
        Optional bias variable: ``"anchoring"`` = the judge's own rating in the
        previous session of the same patient (:func:`alliance.lags.lag`: never
        across patients or a missed session; rows without it are dropped), or the
        name of a column on the scale of the truth.
    moderator : str or None
        Column whose levels moderate every force (default ``"condition"``; with
        ``training``/``control`` the reference is ``control``, otherwise the first
        level in sorted order). ``None`` fits one set of forces.
    therapist_effects : {"intercept", "none"}
        Random intercept per therapist (default, as in the growth models) or none.
    truth_slope : bool
        Random within-truth slope per patient (default True).
    method : {"REML", "ML"}
        Criterion of :func:`alliance.mixed.fit_lmm`.
    conf_level : float
        Level of the Wald confidence intervals.
    patient, therapist, time : str
        Id and time columns (``time=None`` drops the session control).

    Returns
    -------
    TruthBiasResult
        ``forces`` table (term, level, estimate, se, statistic = z, p, ci_low,
        ci_high, combination) with every force per arm and the arm difference;
        ``fixed``; ``variance_components``; ``fit``; ``design``; ``summary()``
        explains each estimate in words.

    Raises
    ------
    DataError
        Missing or non-numeric columns, no analysable rows, a single moderator
        level, a patient under two therapists, or a rank-deficient design (e.g.
        no within-patient variation of the truth).
    FitError
        A degenerate mixed-model fit.

    Warns
    -----
    AllianceWarning
        Boundary fit or fallback optimizer (from :func:`alliance.mixed.fit_lmm`);
        recorded in ``result.warnings``.

    Notes
    -----
    The truth is split into within- and between-patient parts (Curran & Bauer
    2011) so that temporal congruence is not confounded with agreement on level.
    Session (centred) and its interaction with the moderator are controls: the
    patient's rating trend would otherwise lend the within-truth force part of an
    arm difference in the judge's growth. The anchoring bias is a lagged judgment
    in a model with a random intercept, which is biased in short series (Nickell
    1981); read its force as descriptive. Forces and differences are
    :math:`L\hat\beta` with :math:`\mathrm{Var} = L\hat V L^\top`, :math:`\hat V`
    the GLS covariance; Wald z tests and CIs.

    Validated (``tests/test_truth_bias.py``) against lme4 1.1.31 run by
    ``tests/r/truth_bias_reference.R`` on ``data/sessions.csv`` (therapist and
    patient perspective, with and without the therapist intercept, with
    anchoring; the R script builds every variable itself), and by parameter
    recovery on data simulated from the model with known forces.

    References
    ----------
    West, T. V., & Kenny, D. A. (2011). The truth and bias model of judgment.
    *Psychological Review, 118*(2), 357-378.

    Examples
    --------
    >>> import alliance
    >>> from alliance.truth_bias import fit_truth_bias
    >>> res = fit_truth_bias(alliance.load_example())
    >>> res.forces[["term", "level"]].head(3).to_numpy().tolist()
    [['directional bias', 'control'], ['directional bias', 'training'], ['directional bias', 'training - control']]
    >>> res.force("temporal congruence", "training") > res.force("temporal congruence", "control")
    True
    """
    if therapist_effects not in ("intercept", "none"):
        raise ValueError(f"therapist_effects must be 'intercept' or 'none'; got {therapist_effects!r}")
    use_ther = therapist if therapist_effects == "intercept" else None
    d, info = truth_bias_design(data, judgment=judgment, truth=truth, bias=bias,
                                moderator=moderator, patient=patient, therapist=use_ther,
                                time=time)
    source = d.attrs["source"]
    base = ["truth_within", "truth_between"] + (["bias"] if "bias" in d else []) \
        + (["session_c"] if time is not None else [])
    X = pd.DataFrame({"Intercept": 1.0}, index=d.index)
    for b in base:
        X[b] = d[b].to_numpy()
    levels = None
    if moderator is not None:
        levels = moderator_levels(d["moderator"], moderator, source, what="a force")
        ind = pd.DataFrame({_indicator_name(moderator, lv): (d["moderator"] == lv).astype(float)
                            for lv in levels[1:]}, index=d.index)
        X = _interact(X, base, ind)
    zcols = ["Intercept", "truth_within"] if truth_slope else ["Intercept"]
    Zp = pd.DataFrame({"Intercept": 1.0, "truth_within": d["truth_within"].to_numpy()},
                      index=d.index)[zcols]
    random = [RandomTerm(patient, d["patient"].to_numpy(), Zp)]
    if use_ther is not None:
        random.append(RandomTerm(therapist, d["therapist"].to_numpy()))
    fit = fit_lmm(d["judgment_c"].to_numpy(), X, random, method=method, source=source,
                  conf_level=conf_level)
    forces = _forces_table(fit, FORCES, moderator, levels)
    mod_txt = f"{moderator} * " if moderator else ""
    parts = " + ".join(["T_within", "T_between"] + (["B"] if "bias" in d else [])
                       + ([f"{time}_c"] if time else []))
    rnd = f"(1{' + T_within' if truth_slope else ''} | {patient})" + (
        f" + (1 | {therapist})" if use_ther else "")
    info.update(
        model=f"J* ~ {mod_txt}({parts}) + {rnd}",
        judgment=judgment, truth=truth, bias=bias, moderator=moderator,
        levels=levels, therapist_effects=therapist_effects, method=fit.method,
        loglik=fit.loglik, aic=fit.aic, bic=fit.bic, boundary=fit.boundary,
        optimizer=fit.optimizer,
    )
    return TruthBiasResult(
        title=f"Truth and bias: {judgment} (judgment) on {truth} (truth)",
        tables={"forces": forces, "fixed": fit.fixed.reset_index(),
                "variance_components": fit.variance_components},
        n_obs=fit.n_obs, n_groups=dict(fit.n_groups), converged=fit.converged,
        warnings=list(fit.warnings), info=info, fit=fit, design=d,
        explanations=_explain_repeated(forces, judgment, truth, info["bias_label"], time),
    )


# --------------------------------------------------------------------------- cross-sectional


def fit_truth_bias_cross(
    data: pd.DataFrame,
    *,
    judgment: str,
    truth: str,
    bias: str | None = None,
    group: str,
    moderator: str | None = None,
    method: str = "REML",
    conf_level: float = 0.95,
) -> TruthBiasResult:
    r"""Cross-sectional truth-and-bias model with a random intercept per dyad (or group).

    .. math::

        J^*_{k} = (b_0 + b_{0a} a_k) + (t + t_a a_k)\,T^*_k + (b + b_a a_k)\,B^*_k
            + u_{g(k)} + e_k,

    for person :math:`k` in dyad :math:`g(k)`: :math:`J^* = J - \bar T` with
    :math:`J` = ``judgment``, :math:`T^* = T - \bar T` with :math:`T` = ``truth``,
    :math:`B^* = B - \bar T` with :math:`B` = ``bias``, :math:`\bar T` the mean of
    the truth over the analysed rows, :math:`a` the indicator(s) of ``moderator``,
    :math:`u_g` a random intercept per ``group`` (the dyad's shared part; in the
    pairwise layout of indistinguishable dyads this is the intraclass correlation
    of the two members' residuals, when positive). Forces: **directional bias**
    :math:`b_0`, **truth force** :math:`t`, **bias force** :math:`b`.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per judge (pairwise layout for dyads: ``truth`` is the partner's
        value on the judge's row).
    judgment, truth, bias : str
        Column names (``bias`` optional).
    group : str
        Dyad or group id (random intercept).
    moderator : str, optional
        Column whose levels moderate every force (e.g. gender for distinguishable
        dyads).
    method, conf_level
        As in :func:`fit_truth_bias`.

    Returns
    -------
    TruthBiasResult
        As :func:`fit_truth_bias`, with forces ``directional bias``, ``truth force``,
        ``bias force``.

    Notes
    -----
    Validated (``tests/test_truth_bias.py``) against lme4 1.1.31 on the Acitelli
    (1997) couples data (``tests/r/truth_bias_reference.R``), without and with a
    gender moderator.

    References
    ----------
    West, T. V., & Kenny, D. A. (2011). The truth and bias model of judgment.
    *Psychological Review, 118*(2), 357-378.

    Examples
    --------
    Session-1 ratings of the bundled data, patients grouped by therapist:

    >>> import alliance
    >>> from alliance.truth_bias import fit_truth_bias_cross
    >>> first = alliance.load_example().query("session == 1")
    >>> res = fit_truth_bias_cross(first, judgment="alliance_therapist",
    ...                            truth="alliance_patient", group="therapist")
    >>> res.forces["term"].tolist()
    ['directional bias', 'truth force']
    """
    source = source_of(data)
    if not isinstance(data, pd.DataFrame):
        raise TypeError("data must be a pandas DataFrame (read files with alliance.read_table)")
    if judgment == truth:
        raise ValueError("judgment and truth must be different columns")
    require_columns(data, [judgment, truth, bias, group, moderator], source, "truth-and-bias model")
    J = numeric_column(data, judgment, source)
    T = numeric_column(data, truth, source)
    B = numeric_column(data, bias, source) if bias is not None else None
    ok = np.isfinite(J) & np.isfinite(T)
    dropped = {f"{judgment} missing": int(np.sum(~np.isfinite(J))),
               f"{truth} missing": int(np.sum(np.isfinite(J) & ~np.isfinite(T)))}
    if B is not None:
        dropped[f"{bias} missing"] = int(np.sum(ok & ~np.isfinite(B)))
        ok &= np.isfinite(B)
    for c in [group, moderator]:
        if c is not None:
            miss = data[c].isna().to_numpy()
            dropped[f"{c} missing"] = int(np.sum(ok & miss))
            ok &= ~miss
    if not ok.any():
        raise DataError(f"{source}: no row has both '{judgment}' and '{truth}' [rule: rows to analyse]")
    mt = float(np.mean(T[ok]))
    d = pd.DataFrame(index=data.index[ok])
    d["group"] = data.loc[ok, group].astype(str).to_numpy()
    d["judgment_c"] = J[ok] - mt
    d["truth"] = T[ok] - mt
    base = ["truth"]
    if B is not None:
        d["bias"] = B[ok] - mt
        base.append("bias")
    X = pd.DataFrame({"Intercept": 1.0}, index=d.index)
    for b in base:
        X[b] = d[b].to_numpy()
    levels = None
    if moderator is not None:
        d["moderator"] = data.loc[ok, moderator].astype(str).to_numpy()
        levels = moderator_levels(d["moderator"], moderator, source, what="a force")
        ind = pd.DataFrame({_indicator_name(moderator, lv): (d["moderator"] == lv).astype(float)
                            for lv in levels[1:]}, index=d.index)
        X = _interact(X, base, ind)
    fit = fit_lmm(d["judgment_c"].to_numpy(), X, [RandomTerm(group, d["group"].to_numpy())],
                  method=method, source=source, conf_level=conf_level)
    forces = _forces_table(fit, CROSS_FORCES, moderator, levels)
    jw, tw = f"'{judgment}'", f"'{truth}'"
    expl = {}
    for r in forces.itertuples(index=False):
        what = {"directional bias": f"predicted {jw} minus the mean of {tw} when the truth"
                                    + (" and the bias are" if B is not None else " is")
                                    + " at the truth's mean",
                "truth force": f"change in {jw} per point of {tw}"
                               + (", holding the bias constant" if B is not None else ""),
                "bias force": f"change in {jw} per point of '{bias}', holding the truth constant"}
        expl[(r.term, r.level)] = f"{what[r.term]}: {r.estimate:.3f} (p = {r.p:.3g})."
    parts = " + ".join(["T"] + (["B"] if B is not None else []))
    info = {
        "model": f"J* ~ {moderator + ' * ' if moderator else ''}({parts}) + (1 | {group})",
        "truth_mean": mt, "n_input": len(data), "n_used": int(ok.sum()),
        "rows_dropped": {k: v for k, v in dropped.items() if v},
        "judgment": judgment, "truth": truth, "bias": bias, "moderator": moderator,
        "levels": levels, "method": fit.method, "loglik": fit.loglik, "aic": fit.aic,
        "bic": fit.bic, "boundary": fit.boundary, "optimizer": fit.optimizer,
    }
    d.attrs["source"] = source
    return TruthBiasResult(
        title=f"Truth and bias (cross-sectional): {judgment} on {truth}",
        tables={"forces": forces, "fixed": fit.fixed.reset_index(),
                "variance_components": fit.variance_components},
        n_obs=fit.n_obs, n_groups=dict(fit.n_groups), converged=fit.converged,
        warnings=list(fit.warnings), info=info, fit=fit, design=d, explanations=expl,
    )


def implied_temporal_congruence(params=None) -> dict[str, float]:
    r"""Temporal congruence the generative model of :func:`alliance.simulate` implies.

    The simulator's tracking weight :math:`\lambda_a` multiplies the *latent*
    session fluctuation :math:`\xi` of the patient's alliance, but the model
    regresses the therapist's rating on the patient's *observed* rating. Within a
    patient (session trend controlled) the observed truth varies by
    :math:`\xi + \varepsilon^P + w_i (t - \bar t)` and the judgment by
    :math:`\lambda_a \xi + \varepsilon^T`, so the observed within-dyad slope is

    .. math::

        \tau_{W,a} = \lambda_a\,
            \frac{\sigma^2_\xi}{\sigma^2_\xi + \sigma^2_P + \sigma^2_w\,\mathrm{Var}(t)},

    :math:`\lambda_a` attenuated by the reliability of the patient's session
    deviations (``sd_fluctuation``, ``sd_error_patient``, ``sd_growth_patient``;
    :math:`\mathrm{Var}(t)` over sessions ``0 .. n_sessions - 1``). Rounding to the
    instrument's resolution and clipping at the scale's ends are ignored; the
    tests check the value against a fit to a draw 100 times the trial's size.

    Returns
    -------
    dict
        ``control``, ``training``, ``training - control`` and ``reliability``
        (the attenuation factor).

    Examples
    --------
    >>> from alliance.truth_bias import implied_temporal_congruence
    >>> round(implied_temporal_congruence()["training - control"], 3)
    0.154
    """
    from alliance.simulate import SimulationParams

    p = params or SimulationParams()
    t = np.arange(p.n_sessions, dtype=float)
    k = p.sd_fluctuation**2 / (p.sd_fluctuation**2 + p.sd_error_patient**2
                               + p.sd_growth_patient**2 * t.var())
    k = float(k)
    return {"control": k * p.tracking_control, "training": k * p.tracking_training,
            "training - control": k * (p.tracking_training - p.tracking_control),
            "reliability": k}


# --------------------------------------------------------------------------- figures


def plot_dyads(data: pd.DataFrame, n_per_arm: int = 3, *, judgment: str = "alliance_therapist",
               truth: str = "alliance_patient", seed: int = 4, patients=None):
    """Both raters' ratings across sessions for a few dyads per arm (one panel per dyad).

    Dyads are drawn at random (``seed``) among patients with both ratings in at
    least five sessions, unless ``patients`` lists them. Returns the Figure.
    """
    import matplotlib.pyplot as plt

    from alliance.design import RATER_LABELS
    from alliance.plotting import ARM_COLORS, ARM_LABELS, RATER_COLORS

    arms = [c for c in CONDITIONS if c in set(data["condition"])]
    both = data.dropna(subset=[judgment, truth])
    if patients is None:
        rng = np.random.default_rng(seed)
        chosen = {}
        for arm in arms:
            counts = both[both["condition"] == arm].groupby("patient").size()
            pool = sorted(counts[counts >= min(5, counts.max())].index)
            k = min(n_per_arm, len(pool))
            chosen[arm] = list(rng.choice(pool, size=k, replace=False)) if k else []
    else:
        chosen = {arm: [p for p in patients
                        if (data.loc[data["patient"] == p, "condition"] == arm).any()]
                  for arm in arms}
    ncol = max(len(v) for v in chosen.values())
    fig, axes = plt.subplots(len(arms), ncol, figsize=(2.6 * ncol + 0.6, 2.3 * len(arms)),
                             sharex=True, sharey=True, squeeze=False)
    lo = np.nanmin(data[[judgment, truth]].to_numpy())
    hi = np.nanmax(data[[judgment, truth]].to_numpy())
    for r, arm in enumerate(arms):
        for c in range(ncol):
            ax = axes[r][c]
            if c >= len(chosen[arm]):
                ax.set_visible(False)
                continue
            pid = chosen[arm][c]
            p = data[data["patient"] == pid].sort_values("session")
            for col in (truth, judgment):
                ax.plot(p["session"], p[col], marker="o", ms=3.5,
                        color=RATER_COLORS.get(col, "grey"), label=RATER_LABELS.get(col, col))
            ax.text(0.0, 1.02, f"{pid} ({ARM_LABELS.get(arm, arm).split(' (')[0].lower()})",
                    transform=ax.transAxes, va="bottom", fontsize=8,
                    color=ARM_COLORS.get(arm, "black"))
            ax.set_ylim(lo - 0.1, hi + 0.1)
            if r == len(arms) - 1:
                ax.set_xlabel("session")
            if c == 0:
                ax.set_ylabel("alliance")
    axes[0][0].legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    return fig


def plot_forces(result: TruthBiasResult, terms=None):
    """Forest plot of the forces by level (left) and the level differences (right).

    Points are estimates, bars the Wald confidence intervals of the result.
    Returns the Figure.
    """
    import matplotlib.pyplot as plt

    from alliance.plotting import ARM_COLORS, ARM_LABELS

    f = result.tables["forces"]
    terms = list(terms) if terms is not None else list(dict.fromkeys(f["term"]))
    levels = [lv for lv in dict.fromkeys(f["level"]) if " - " not in lv]
    diffs = [lv for lv in dict.fromkeys(f["level"]) if " - " in lv]
    ncols = 2 if diffs else 1
    fig, axes = plt.subplots(1, ncols, figsize=(4.2 * ncols + 1.0, 0.75 * len(terms) + 1.4),
                             sharey=True, squeeze=False)
    y0 = np.arange(len(terms))[::-1]
    palette = ["#E69F00", "#0072B2", "#009E73", "#CC79A7", "#56B4E9"]

    def draw(ax, lvls, colors, labels):
        off = np.linspace(-0.18, 0.18, len(lvls)) if len(lvls) > 1 else [0.0]
        for k, lv in enumerate(lvls):
            sub = f[f["level"] == lv].set_index("term")
            ys, xs, lo, hi = [], [], [], []
            for yy, t in zip(y0, terms):
                if t in sub.index:
                    ys.append(yy + off[k])
                    xs.append(sub.loc[t, "estimate"])
                    lo.append(sub.loc[t, "estimate"] - sub.loc[t, "ci_low"])
                    hi.append(sub.loc[t, "ci_high"] - sub.loc[t, "estimate"])
            ax.errorbar(xs, ys, xerr=[lo, hi], fmt="o", color=colors[k], capsize=3,
                        label=labels[k])
        ax.axvline(0, color="black", lw=0.8)
        ax.legend(loc="lower left", fontsize=8)

    cols = [ARM_COLORS.get(lv, palette[k % len(palette)]) for k, lv in enumerate(levels)]
    draw(axes[0][0], levels, cols, [ARM_LABELS.get(lv, lv) for lv in levels])
    axes[0][0].set_xlabel("estimate (rating points)")
    axes[0][0].set_yticks(y0)
    axes[0][0].set_yticklabels(terms)
    if diffs:
        draw(axes[0][1], diffs, ["#333333"] * len(diffs), diffs)
        axes[0][1].set_xlabel("difference between levels")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- CLI


def cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``alliance fit truth-bias FILE``."""
    from alliance.cli import add_column_option

    add_column_option(parser)
    parser.add_argument("--perspective", choices=["therapist", "patient"], default="therapist",
                        help="who judges: the therapist (truth = patient rating, default) or the "
                             "patient (truth = therapist rating)")
    parser.add_argument("--bias", default=None,
                        help="bias variable: 'anchoring' (the judge's own rating in the previous "
                             "session) or a column name on the truth's scale")
    parser.add_argument("--therapist-effects", choices=["intercept", "none"], default="intercept",
                        help="random intercept per therapist (default) or none")
    parser.add_argument("--no-moderator", action="store_true",
                        help="one set of forces instead of forces per arm")
    parser.add_argument("--method", choices=["REML", "ML"], default="REML")
    parser.add_argument("--conf-level", type=float, default=0.95)
    g = parser.add_argument_group(
        "cross-sectional form (any file: one judgment per row, a dyad/group id)",
        "give --judgment, --truth and --group to fit the cross-sectional model on any CSV")
    g.add_argument("--judgment", help="column of the judgment")
    g.add_argument("--truth", help="column of the truth")
    g.add_argument("--group", help="dyad or group id column (random intercept)")
    g.add_argument("--moderator", help="column moderating every force (cross-sectional form)")


def cli_run(args) -> TruthBiasResult:
    """Run the fit requested on the command line (see :func:`cli_arguments`)."""
    from alliance.cli import parse_columns
    from alliance.io import read_sessions, read_table

    generic = any(getattr(args, k, None) for k in ("judgment", "truth", "group"))
    if generic:
        if not (args.judgment and args.truth and args.group):
            raise SystemExit("alliance: the cross-sectional form needs --judgment, --truth and --group")
        if args.bias == "anchoring":
            raise SystemExit("alliance: --bias anchoring needs session data (drop --judgment/--truth)")
        numeric = [args.judgment, args.truth] + ([args.bias] if args.bias else [])
        required = [args.group] + ([args.moderator] if args.moderator else [])
        data = read_table(args.file, numeric=numeric, required=required)
        return fit_truth_bias_cross(data, judgment=args.judgment, truth=args.truth, bias=args.bias,
                                    group=args.group, moderator=args.moderator,
                                    method=args.method, conf_level=args.conf_level)
    data = read_sessions(args.file, columns=parse_columns(args.column))
    judgment, truth = ("alliance_therapist", "alliance_patient")
    if args.perspective == "patient":
        judgment, truth = truth, judgment
    return fit_truth_bias(data, judgment=judgment, truth=truth, bias=args.bias,
                          moderator=None if args.no_moderator else "condition",
                          therapist_effects=args.therapist_effects, method=args.method,
                          conf_level=args.conf_level)
