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
of the moderator and the difference between levels (or, for a numeric moderator,
at chosen values and per unit), as linear combinations of the fixed effects with
t tests on Satterthwaite degrees of freedom by default
(:meth:`alliance.mixed.MixedFit.contrast`; ``df=`` chooses Kenward-Roger or z).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from alliance.data.cells import fail, source_of
from alliance.data.lags import lag, lag_name, split_within_between
from alliance.data.validate import (
    _read_sessions_coded,
    check_same_scale,
    read_sessions,
    read_table,
)
from alliance.errors import DataError
from alliance.mixed import DDF_LABEL, MixedFit, RandomTerm, fit_lmm
from alliance.moderation import (
    contrast_table,
    difference_label,
    moderate,
    moderator_kind,
    require_groups_nested,
    require_groups_per_level,
)
from alliance.options import check_conf_level, check_df, check_method
from alliance.registry import Analysis, Figure, KeyEstimate, Option, Section
from alliance.results import Result, RowLog, check_tests, columns_frame, format_table

__all__ = [
    "FORCES",
    "THERAPIST_EFFECTS",
    "TruthBiasResult",
    "check_bias_scale",
    "fit_truth_bias",
    "fit_truth_bias_cross",
    "therapist_level_sensitivity",
    "truth_bias_design",
]

#: Force names of the repeated model, in table order, and the design column each rests on.
FORCES = {
    "directional bias": "Intercept",
    "temporal congruence": "truth_within",
    "level accuracy": "truth_between",
    "bias force": "bias",
}
#: Random effects per therapist in the repeated model.
THERAPIST_EFFECTS = ("intercept", "none", "intercept+slope")
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
        ``estimates`` (term, level, estimate, se, statistic, df, p, ci_low, ci_high,
        combination; called ``forces`` until this release, a name still accepted): each
        force per level of the moderator and the difference of every level from the
        reference level (``level`` e.g. ``"training - control"``); ``fixed`` (every
        fixed effect of the mixed model); ``variance_components``.
    fit : alliance.mixed.MixedFit
        The underlying mixed-model fit.
    design : pandas.DataFrame
        The analysed rows with the constructed model variables (centred judgment,
        truth parts, bias, moderator indicators, ids), in input order.
    explanations : dict
        ``(term, level) -> sentence`` saying what each estimate means.
    """

    TABLE_ALIASES: ClassVar[dict[str, str]] = {"forces": "estimates"}

    fit: MixedFit | None = field(default=None, repr=False)
    design: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def explanations(self) -> dict:
        """``(term, level) -> sentence`` saying what each estimate means."""
        how = self.info.get("explain", {})
        if how.get("model") == "repeated":
            return _explain_repeated(self.estimates, how["judgment"], how["truth"],
                                     how["bias_label"], how["time"])
        if how.get("model") == "cross":
            return _explain_cross(self.estimates, how["judgment"], how["truth"], how["bias"])
        return {}

    def summary(self) -> str:
        """Forces table, what each estimate means in words, variance components and fit facts."""
        lines = [self.title, "=" * len(self.title), ""]
        if "model" in self.info:
            lines += [f"model: {self.info['model']}", ""]
        shown = self.estimates.drop(columns=["combination"], errors="ignore")
        lines += ["forces:", format_table(shown), "", "What the estimates mean:"]
        for (term, level), text in self.explanations.items():
            lines.append(f"- {term} [{level}]: {text}")
        lines += ["", "variance components:", format_table(self.tables["variance_components"])]
        groups = ", ".join(f"{k}: {v}" for k, v in self.n_groups.items())
        lines += ["", f"observations: {self.n_obs}; groups: {groups}",
                  (f"method: {self.info.get('method')}; logLik: {self.info.get('loglik', np.nan):.3f}; "
                  f"converged: {self.converged}; boundary: {self.info.get('boundary')}")]
        for k, v in self.info.get("rows_dropped", {}).items():
            lines.append(f"rows dropped ({self.info['describe'].get(k, k)}): {v}")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- helpers


def _words(col: str) -> tuple[str, str]:
    return _RATER_WORDS.get(col, (f"'{col}'", f"'{col}'"))


# --------------------------------------------------------------------------- design


def check_bias_scale(B: np.ndarray, T: np.ndarray, bias: str, truth: str, source) -> None:
    """The bias variable must be on the truth's scale (West & Kenny 2011).

    The model centres the judgment, the truth and the bias on the truth's mean, and
    reads the bias force per point of that scale: a bias on another scale (an age, a
    count) gives forces that mean nothing. For a rating column of the data model the
    scale is its instrument's range (WAI-SR 1-5, ORS 0-40); for any other truth
    column, the truth's observed range widened by its width on each side. A bias
    value outside it is a :class:`~alliance.DataError` naming the rows
    (:func:`alliance.data.validate.check_same_scale`).
    """
    check_same_scale(B, T, bias, truth, source, _SCALE_WHY)


_SCALE_WHY = ("; the bias is centred on the truth's mean and its force is read per point of the "
              "truth's scale, so it must be a variable on that scale (e.g. the judge's own rating)")


def _numeric(judgment: str, truth: str, bias) -> list[str]:
    """The columns the repeated model reads as numbers (checked at its door, read_sessions)."""
    return [judgment, truth] + ([bias] if bias not in (None, "anchoring") else [])


def truth_bias_design(
    data,
    *,
    judgment: str = "alliance_therapist",
    truth: str = "alliance_patient",
    bias: str | None = None,
    moderator: str | None = "condition",
    control_session: bool = True,
    columns=None,
) -> tuple[pd.DataFrame, dict]:
    r"""The analysed rows of the repeated truth-and-bias model with its constructed variables.

    Parameters are those of :func:`fit_truth_bias` (``bias="anchoring"`` needs
    ``control_session``, which keeps the session column in play).

    Returns
    -------
    design : pandas.DataFrame
        One row per analysed row (input order kept, original index), with columns
        ``patient``, ``therapist``, ``moderator`` (if given: labels, or numbers for a
        numeric moderator, see :func:`alliance.moderation.moderator_kind`) and the model
        variables ``judgment_c`` (:math:`J - \bar T`), ``truth_c``
        (:math:`T - \bar T`), ``truth_between`` (patient mean of ``truth_c``),
        ``truth_within`` (``truth_c - truth_between``), ``bias`` (:math:`B - \bar T`,
        if a bias is given), ``session_c`` (session centred on its mean over the
        analysed rows, if ``control_session``).
    info : dict
        ``truth_mean`` (:math:`\bar T`), ``time_mean``, ``bias_label``, the rows
        (``rows_input``, ``rows_used``, ``rows_dropped`` by identifier,
        ``describe``), ``moderator_kind`` and, for anchoring, the lag counts of
        :func:`alliance.data.lags.lag`.

    Notes
    -----
    All centring uses the analysed rows only (rows with judgment, truth, bias
    and moderator present), so the within part has mean zero within every
    patient and is orthogonal to the between part in the analysed sample.
    """
    _check_design(judgment, truth, bias, control_session)
    need = _numeric(judgment, truth, bias)
    data = read_sessions(data, columns, numeric=need, require=need)
    return _truth_bias_design(data, judgment=judgment, truth=truth, bias=bias,
                              moderator=moderator, control_session=control_session)


def _check_design(judgment, truth, bias, control_session) -> None:
    if bias == "anchoring" and not control_session:
        raise ValueError("bias='anchoring' needs the session column (control_session=True)")
    if judgment == truth:
        raise ValueError("judgment and truth must be different columns")


#: pandas' text dtype (``str``): ids and labels as :func:`alliance.read_sessions` gives them.
_TEXT = pd.api.types.pandas_dtype(str)


def _truth_bias_design(data: pd.DataFrame, *, judgment: str = "alliance_therapist",
                       truth: str = "alliance_patient", bias: str | None = None,
                       moderator: str | None = "condition",
                       control_session: bool = True) -> tuple[pd.DataFrame, dict]:
    """:func:`truth_bias_design` on data already validated by :func:`alliance.read_sessions`
    (with the judgment, truth and a bias column as numbers: nothing is parsed here)."""
    return _design_rows(data, judgment=judgment, truth=truth, bias=bias, moderator=moderator,
                        control_session=control_session)[:2]


def _design_rows(data: pd.DataFrame, *, judgment: str = "alliance_therapist",
                 truth: str = "alliance_patient", bias: str | None = None,
                 moderator: str | None = "condition", control_session: bool = True,
                 codes: dict | None = None) -> tuple[pd.DataFrame, dict, np.ndarray, dict]:
    """:func:`_truth_bias_design`, which rows of ``data`` the design holds (a mask) and the
    design's columns as arrays (the same values, read without taking them from the frame);
    ``codes``: the ids' factorisations made by validating ``data``
    (:func:`alliance.data.validate._read_sessions_coded`), if the caller has them."""
    _check_design(judgment, truth, bias, control_session)
    anchoring = bias == "anchoring"
    source = source_of(data)
    missing = [c for c in (judgment, truth, moderator, None if bias in (None, "anchoring") else bias)
               if c is not None and c not in data.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing} needed by the truth-and-bias "
                        f"model; the data have {list(data.columns)} [rule: required columns "
                        "present]")
    J = data[judgment].to_numpy(dtype=float)
    T = data[truth].to_numpy(dtype=float)
    info: dict = {}
    if anchoring:
        lagged = lag(data, judgment, group="patient", time="session")
        B = lagged[lag_name(judgment)].to_numpy(dtype=float)
        info["lag"] = dict(lagged.attrs["lag"])
        bias_label = f"{judgment} in the previous session (anchoring)"
    elif bias is not None:
        B = data[bias].to_numpy(dtype=float)
        check_same_scale(B, T, bias, truth, source, _SCALE_WHY)
        bias_label = bias
    else:
        B = None
        bias_label = None
    log = RowLog(len(data))
    log.drop(np.isnan(J), f"missing:{judgment}", f"{judgment} missing")
    log.drop(np.isnan(T), f"missing:{truth}", f"{truth} missing")
    if B is not None:
        if anchoring:
            log.drop(np.isnan(B), "no_previous_judgment",
                     f"no {judgment} in the previous session of the same patient")
        else:
            log.drop(np.isnan(B), f"missing:{bias}", f"{bias} missing")
    given = {k: v for k, v in (codes or {}).items() if v is not None and len(v[0]) == len(data)}
    if moderator is not None:
        m = data[moderator]
        # text: missing where validation's factorisation has no code for it
        missing = (given[moderator][0] < 0 if m.dtype == _TEXT and moderator in given
                   else m.isna().to_numpy())
        log.drop(missing, f"missing:{moderator}", f"{moderator} missing")
    ok = log.keep
    if not ok.any():
        raise DataError(f"{source}: no row has both '{judgment}' and '{truth}'"
                        + (" and the bias" if B is not None else "") + " [rule: rows to analyse]")
    cols = {}  # the columns, in order: the frame is built once at the end
    every = bool(ok.all())  # every row kept: the columns copied whole (the same arrays)
    # text columns keep their text array (the frame would infer it again from the objects)
    for c in ("patient", "therapist"):
        ids = data[c]
        a = ids.array if ids.dtype == _TEXT else ids.to_numpy()
        cols[c] = a.copy() if every else a[ok]
    if moderator is not None:
        if m.dtype == _TEXT:  # text is categorical, its texts the levels
            kind = "categorical"
            cols["moderator"] = m.array.copy() if every else m.array[ok]
        else:
            mod = m[ok]
            kind = moderator_kind(mod)
            cols["moderator"] = (mod.to_numpy(dtype=float) if kind == "numeric"
                                 else mod.astype(str).to_numpy())
        info["moderator_kind"] = kind
    mt = float(np.mean(T[ok]))
    cols["judgment_c"] = J[ok] - mt
    cols["truth_c"] = T[ok] - mt
    cols["truth_between"], _ = split_within_between(
        cols["truth_c"], cols["patient"],
        codes=given["patient"][0][ok] if "patient" in given else None)
    cols["truth_within"] = cols["truth_c"] - cols["truth_between"]
    if B is not None:
        cols["bias"] = B[ok] - mt
    if control_session:
        tt = data["session"].to_numpy(dtype=float)
        tm = float(np.mean(tt[ok]))
        cols["session_c"] = tt[ok] - tm
        info["time_mean"] = tm
    info.update(truth_mean=mt, bias_label=bias_label, **log.info())
    d = columns_frame(cols, index=data.index[ok])
    d.attrs["source"] = source.name
    return d, info, ok, cols


# --------------------------------------------------------------------------- repeated model


def _explain_repeated(tab: pd.DataFrame, judgment: str, truth: str, bias_label,
                      time: str | None) -> dict:
    _judge, jrating = _words(judgment)
    who, trating = _words(truth)
    out = {}
    for r in tab.itertuples(index=False):
        est, lv = r.estimate, r.level
        if lv.startswith("per unit of "):
            out[(r.term, lv)] = (f"{r.term} changes by {est:+.3f} per unit of "
                                 f"'{lv.removeprefix('per unit of ')}' (CI {r.ci_low:.3f} to "
                                 f"{r.ci_high:.3f}, p = {r.p:.3g}).")
            continue
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
    data,
    *,
    judgment: str = "alliance_therapist",
    truth: str = "alliance_patient",
    bias: str | None = None,
    moderator: str | None = "condition",
    therapist_effects: str = "intercept",
    truth_slope: bool = True,
    method: str = "REML",
    conf_level: float = 0.95,
    control_session: bool = True,
    columns=None,
    df: str = "satterthwaite",
    moderator_at=None,
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
    :math:`B^* = B - \bar T` (``bias``), :math:`s` = ``session``;
    :math:`(u_i, w_i)` a random intercept and within-truth slope per ``patient``
    (unstructured covariance), :math:`r_j` a random intercept per ``therapist``
    (with ``therapist_effects="intercept+slope"`` also a therapist's own tracking
    slope :math:`v_j T^W_{is}`, correlated with :math:`r_j`: the arm difference in
    temporal congruence is then tested against the variation of tracking between
    therapists, the unit of randomisation).

    Forces (control arm; training adds the :math:`a` terms): **directional bias**
    :math:`\beta_0`, **temporal congruence** :math:`\tau_W` (within-dyad truth force:
    session-to-session tracking), **level accuracy** :math:`\tau_B` (between-dyad
    truth force), **bias force** :math:`\beta_B`.

    Parameters
    ----------
    data : pandas.DataFrame or path
        Long session data, one row per patient x session: a file or a DataFrame,
        validated by :func:`alliance.read_sessions`. Not modified.
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
        level in sorted order). A numeric column with more than two values moderates
        linearly: forces at ``moderator_at`` (default mean - SD, mean, mean + SD) and
        per unit. ``None`` fits one set of forces.
    therapist_effects : {"intercept", "none", "intercept+slope"}
        Random intercept per therapist (default, as in the growth models), none, or
        an intercept and a within-truth (tracking) slope per therapist.
    truth_slope : bool
        Random within-truth slope per patient (default True).
    method : {"REML", "ML"}
        Criterion of :func:`alliance.mixed.fit_lmm`.
    conf_level : float
        Level of the confidence intervals.
    control_session : bool
        Control the (centred) session and its interaction with the moderator
        (default True).
    columns : mapping, optional
        ``{canonical: yours}`` for columns named differently from the canonical
        schema (as :func:`alliance.read_sessions`).
    df : {"satterthwaite", "kenward-roger", "z"}
        Tests of the forces: t with Satterthwaite (default) or Kenward-Roger (REML
        only) degrees of freedom, or Wald z.
    moderator_at : sequence of float, optional
        Values of a numeric moderator at which the forces are reported.

    Returns
    -------
    TruthBiasResult
        ``estimates`` table (formerly ``forces``: term, level, estimate, se, statistic
        (t or z), df, p, ci_low, ci_high, combination) with every force per arm and the
        arm difference (level ``"training - control"``); ``fixed``;
        ``variance_components``; ``fit``; ``design``; ``summary()`` explains each
        estimate in words.

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
    the GLS covariance; t tests and CIs with Satterthwaite degrees of freedom
    (validated against lmerTest and pbkrtest by ``tests/r/ddf_reference.R``).

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
    >>> res.estimates[["term", "level"]].head(3).to_numpy().tolist()
    [['directional bias', 'control'], ['directional bias', 'training'], ['directional bias', 'training - control']]
    >>> res.value("temporal congruence", "training") > res.value("temporal congruence", "control")
    True
    """
    options = _options(therapist_effects=therapist_effects, method=method, conf_level=conf_level,
                       df=df)
    _check_design(judgment, truth, bias, control_session)  # options before the data
    need = _numeric(judgment, truth, bias)
    data, codes = _read_sessions_coded(data, columns, numeric=need, require=need)
    return _fit_truth_bias(data, judgment=judgment, truth=truth, bias=bias, moderator=moderator,
                           truth_slope=truth_slope, control_session=control_session,
                           moderator_at=moderator_at, codes=codes, **options)


def _options(*, therapist_effects: str = "intercept", method: str = "REML",
             conf_level: float = 0.95, df: str = "satterthwaite") -> dict:
    """The common options of the repeated model, checked (:mod:`alliance.options`)."""
    if therapist_effects not in THERAPIST_EFFECTS:
        raise ValueError(f"therapist_effects must be one of {THERAPIST_EFFECTS}; got "
                         f"{therapist_effects!r}")
    method = check_method(method)
    return {"therapist_effects": therapist_effects, "method": method,
            "conf_level": check_conf_level(conf_level), "df": check_df(df, method=method)}


def _fit_truth_bias(data: pd.DataFrame, *, judgment: str = "alliance_therapist",
                    truth: str = "alliance_patient", bias: str | None = None,
                    moderator: str | None = "condition", therapist_effects: str = "intercept",
                    truth_slope: bool = True, method: str = "REML", conf_level: float = 0.95,
                    control_session: bool = True, df: str = "satterthwaite",
                    moderator_at=None, codes: dict | None = None) -> TruthBiasResult:
    """:func:`fit_truth_bias` on data already validated by :func:`alliance.read_sessions` (the
    door of every public analysis): callers that validated once call this (``codes``: the
    ids' factorisations that validation made, when the caller has them)."""
    opts = _options(therapist_effects=therapist_effects, method=method, conf_level=conf_level,
                    df=df)
    d, info, ok, cols = _design_rows(data, judgment=judgment, truth=truth, bias=bias,
                                     moderator=moderator, control_session=control_session,
                                     codes=codes)  # (cols: d's columns as arrays)
    source = d.attrs["source"]
    base = (["truth_within", "truth_between"] + (["bias"] if "bias" in d else [])
            + (["session_c"] if control_session else []))
    X = {"Intercept": np.ones(len(d)), **{b: cols[b] for b in base}}  # one frame below
    given = {k: v for k, v in (codes or {}).items() if v is not None and len(v[0]) == len(ok)}
    mod_values = d["moderator"] if moderator else None
    mod_codes = None  # a text moderator as validation factorised it (the design's rows)
    if moderator in given and mod_values.dtype == _TEXT:
        mod_codes = (given[moderator][0][ok], given[moderator][1])
    X, levels, numeric = moderate(X, base, mod_values, moderator, source, moderator_at,
                                  "a force", index=d.index, codes=mod_codes)
    if levels is not None:  # the minimum design: 2 therapists (patients) per arm
        nested = ["patient"] + (["therapist"] if opts["therapist_effects"] != "none" else [])
        if moderator in given and all(g in given for g in nested):
            # on the codes validation made (the kept rows'): the same partition of the rows
            # into levels and groups as the ids' texts
            lcode, labels = given[moderator][0][ok], given[moderator][1]
            for g in nested:
                require_groups_nested(moderator, lcode, labels, g, given[g][0][ok], source,
                                      "truth and bias")
        else:
            require_groups_per_level(moderator, d["moderator"], {g: d[g] for g in nested},
                                     source, "truth and bias")
    zcols = ["Intercept", "truth_within"] if truth_slope else ["Intercept"]
    Z = columns_frame({"Intercept": np.ones(len(d)), "truth_within": cols["truth_within"]},
                      index=d.index)
    random = [RandomTerm("patient", np.asarray(cols["patient"]),
                         Z if zcols == list(Z.columns) else Z[zcols])]  # (all of Z: no copy)
    if opts["therapist_effects"] == "intercept":
        random.append(RandomTerm("therapist", np.asarray(cols["therapist"])))
    elif opts["therapist_effects"] == "intercept+slope":
        random.append(RandomTerm("therapist", np.asarray(cols["therapist"]), Z))
    fit = fit_lmm(cols["judgment_c"], X, random, method=opts["method"], source=source,
                  conf_level=opts["conf_level"], df=opts["df"])
    forces = contrast_table(fit, FORCES, moderator, levels, numeric)
    check_tests(forces, source, "truth and bias")
    mod_txt = f"{moderator} * " if moderator else ""
    parts = " + ".join(["T_within", "T_between"] + (["B"] if "bias" in d else [])
                       + (["session_c"] if control_session else []))
    rnd = f"(1{' + T_within' if truth_slope else ''} | patient)" + {
        "intercept": " + (1 | therapist)", "none": "",
        "intercept+slope": " + (1 + T_within | therapist)"}[opts["therapist_effects"]]
    info.update(
        model=f"J* ~ {mod_txt}({parts}) + {rnd}",
        judgment=judgment, truth=truth, bias=bias, moderator=moderator,
        levels=levels, moderator_numeric=numeric, therapist_effects=opts["therapist_effects"],
        method=fit.method, df=fit.ddf, loglik=fit.loglik, aic=fit.aic, bic=fit.bic,
        boundary=fit.boundary, optimizer=fit.optimizer,
        difference_level=_difference(levels),
        explain={"model": "repeated", "judgment": judgment, "truth": truth,
                 "bias_label": info["bias_label"],
                 "time": "session" if control_session else None},
    )
    return TruthBiasResult(
        title=f"Truth and bias: {judgment} (judgment) on {truth} (truth); {DDF_LABEL[fit.ddf]}",
        tables={"estimates": forces, "fixed": fit.estimates.copy(),
                "variance_components": fit.variance_components},
        n_obs=fit.n_obs, n_groups=dict(fit.n_groups), converged=fit.converged,
        warnings=list(fit.warnings), info=info, fit=fit, design=d,
    )


def _difference(levels) -> str | None:
    """The label of a binary moderator's difference (``"training - control"``), else None."""
    if levels is None or len(levels) != 2:
        return None
    return difference_label(levels[1], levels[0])


def therapist_level_sensitivity(data, term: str = "temporal congruence",
                                level: str = "training - control", *, columns=None,
                                method: str = "REML", df: str = "satterthwaite",
                                **kwargs) -> pd.DataFrame:
    """One force under each therapist-level structure (none / intercept / intercept+slope).

    With a therapist tracking slope the arm difference in temporal congruence is tested
    against how much tracking varies between therapists, the unit of randomisation;
    without it, against patients and sessions only. ``kwargs`` go to
    :func:`fit_truth_bias`.

    Returns
    -------
    pandas.DataFrame
        ``structure`` (the ``therapist_effects`` value), ``term``, ``level``,
        ``estimate``, ``se``, ``statistic``, ``df``, ``p``, ``ci_low``, ``ci_high``,
        ``loglik``, ``aic``, ``boundary``, ``converged``.
    """
    need = _numeric(kwargs.get("judgment", "alliance_therapist"),
                    kwargs.get("truth", "alliance_patient"), kwargs.get("bias"))
    data = read_sessions(data, columns, numeric=need, require=need)
    rows = []
    for te in ("none", "intercept", "intercept+slope"):
        res = _fit_truth_bias(data, therapist_effects=te, method=method, df=df, **kwargs)
        row = res.rows(term=term, level=level).iloc[0].drop("combination").to_dict()
        rows.append({"structure": te, **row, "loglik": res.fit.loglik, "aic": res.fit.aic,
                     "boundary": res.fit.boundary, "converged": res.fit.converged})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- cross-sectional


def fit_truth_bias_cross(
    data: pd.DataFrame,
    *,
    judgment: str,
    truth: str,
    bias: str | None = None,
    moderator: str | None = None,
    method: str = "REML",
    conf_level: float = 0.95,
    df: str = "satterthwaite",
    residual_by: str | None = None,
    moderator_at=None,
    columns=None,
    group: str | None = None,
) -> TruthBiasResult:
    r"""Cross-sectional truth-and-bias model with a random intercept per dyad (or group).

    .. math::

        J^*_{k} = (b_0 + b_{0a} a_k) + (t + t_a a_k)\,T^*_k + (b + b_a a_k)\,B^*_k
            + u_{g(k)} + e_k,

    for person :math:`k` in dyad :math:`g(k)`: :math:`J^* = J - \bar T` with
    :math:`J` = ``judgment``, :math:`T^* = T - \bar T` with :math:`T` = ``truth``,
    :math:`B^* = B - \bar T` with :math:`B` = ``bias``, :math:`\bar T` the mean of
    the truth over the analysed rows, :math:`a` the indicator(s) of ``moderator``,
    :math:`u_g` a random intercept per group (the dyad's shared part; in the
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
    moderator : str, optional
        Column whose levels moderate every force (e.g. gender for distinguishable
        dyads); a numeric column with more than two values (e.g. years married)
        moderates linearly, reported at ``moderator_at`` (default mean - SD, mean,
        mean + SD) and per unit.
    method, conf_level, df, moderator_at
        As in :func:`fit_truth_bias`.
    residual_by : str, optional
        Column whose levels get their own residual variance (distinguishable dyads:
        the judge's role, e.g. wife and husband; nlme's ``varIdent``).
    columns : mapping, optional
        ``{name used in this call: your column}`` (:func:`alliance.read_table`), as in
        every analysis. The dyad or group id (the random intercept) is the column
        ``group``: ``columns={"group": "CoupleID"}`` names yours; the other names are
        those this call uses, e.g. ``judgment="wife", columns={"wife": "w_rating"}``.
    group : str, optional
        The group's column, the former way (accepted for one release): ``group="CoupleID"``
        is ``columns={"group": "CoupleID"}``, except that results keep its own name.

    Returns
    -------
    TruthBiasResult
        As :func:`fit_truth_bias`, with forces ``directional bias``, ``truth force``,
        ``bias force``.

    Notes
    -----
    Validated (``tests/test_truth_bias.py``) against lme4 1.1.31 on the Acitelli
    (1997) couples data (``tests/r/truth_bias_reference.R``), without and with a
    gender moderator, and with a residual variance per gender against
    ``nlme::lme`` with ``varIdent`` (``tests/r/varident_reference.R``).

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
    ...                            truth="alliance_patient", columns={"group": "therapist"})
    >>> res.estimates["term"].tolist()
    ['directional bias', 'truth force']
    """
    if judgment == truth:
        raise ValueError("judgment and truth must be different columns")
    options = _options(therapist_effects="none", method=method, conf_level=conf_level, df=df)
    del options["therapist_effects"]
    numeric = [judgment, truth] + ([bias] if bias is not None else [])
    if group is not None and columns is not None and "group" in columns:
        if columns["group"] != group:
            raise ValueError(f"group={group!r} (the former way) and columns={{'group': "
                             f"{columns['group']!r}}} name two different group columns; give "
                             "columns= alone")
        group = None
    if group is None:
        group = "group"  # the group's name in this call; columns= may name the data's column
    data = read_table(data, numeric=numeric, required=[group], columns=columns)
    return _fit_truth_bias_cross(data, judgment=judgment, truth=truth, bias=bias, group=group,
                                 moderator=moderator, residual_by=residual_by,
                                 moderator_at=moderator_at, **options)


def _fit_truth_bias_cross(data: pd.DataFrame, *, judgment: str, truth: str, bias: str | None,
                          group: str, moderator: str | None = None, method: str = "REML",
                          conf_level: float = 0.95, df: str = "satterthwaite",
                          residual_by: str | None = None, moderator_at=None) -> TruthBiasResult:
    """:func:`fit_truth_bias_cross` on data validated by :func:`alliance.read_table` (the
    judgment, truth and bias as numbers, the group as ids)."""
    source = source_of(data)
    missing = [c for c in (moderator, residual_by) if c is not None and c not in data.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing} needed by the truth-and-bias "
                        f"model; the data have {list(data.columns)} [rule: required columns "
                        "present]")
    J, T = data[judgment].to_numpy(), data[truth].to_numpy()
    B = data[bias].to_numpy() if bias is not None else None
    if B is not None:
        check_bias_scale(B, T, bias, truth, source)
    log = RowLog(len(data))
    log.drop(np.isnan(J), f"missing:{judgment}", f"{judgment} missing")
    log.drop(np.isnan(T), f"missing:{truth}", f"{truth} missing")
    if B is not None:
        log.drop(np.isnan(B), f"missing:{bias}", f"{bias} missing")
    if moderator is not None:
        log.drop(data[moderator].isna().to_numpy(), f"missing:{moderator}", f"{moderator} missing")
    if residual_by is not None and residual_by != moderator:
        log.drop(data[residual_by].isna().to_numpy(), f"missing:{residual_by}",
                 f"{residual_by} missing")
    ok = log.keep
    if not ok.any():
        raise fail(source, "rows to analyse", f"no row has both '{judgment}' and '{truth}'")
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
    mod_values = None
    if moderator is not None:
        mod = data.loc[ok, moderator]
        numeric_mod = moderator_kind(mod) == "numeric"
        d["moderator"] = mod.to_numpy(dtype=float) if numeric_mod else mod.astype(str).to_numpy()
        mod_values = d["moderator"]
    X, levels, numeric_spec = moderate(X, base, mod_values, moderator, source, moderator_at,
                                       "a force")
    if levels is not None:  # dyads nested in a moderator's levels: at least 2 per level
        require_groups_per_level(moderator, d["moderator"], {group: d["group"]}, source.name,
                                 "truth and bias")
    resid = None
    if residual_by is not None:
        d["residual_level"] = data.loc[ok, residual_by].astype(str).to_numpy()
        resid = d["residual_level"].to_numpy()
    fit = fit_lmm(d["judgment_c"].to_numpy(), X, [RandomTerm(group, d["group"].to_numpy())],
                  method=method, source=source.name, conf_level=conf_level, df=df,
                  residual_groups=resid)
    forces = contrast_table(fit, CROSS_FORCES, moderator, levels, numeric_spec)
    check_tests(forces, source.name, "truth and bias")
    parts = " + ".join(["T"] + (["B"] if B is not None else []))
    info = {
        "model": f"J* ~ {moderator + ' * ' if moderator else ''}({parts}) + (1 | {group})"
                 + (f", residual variance per {residual_by}" if residual_by else ""),
        "truth_mean": mt, **log.info(),
        "judgment": judgment, "truth": truth, "bias": bias, "moderator": moderator,
        "levels": levels, "moderator_numeric": numeric_spec, "residual_by": residual_by,
        "method": fit.method, "df": fit.ddf, "loglik": fit.loglik, "aic": fit.aic,
        "bic": fit.bic, "boundary": fit.boundary, "optimizer": fit.optimizer,
        "difference_level": _difference(levels),
        "explain": {"model": "cross", "judgment": judgment, "truth": truth, "bias": bias},
    }
    d.attrs["source"] = source.name
    return TruthBiasResult(
        title=f"Truth and bias (cross-sectional): {judgment} on {truth}",
        tables={"estimates": forces, "fixed": fit.estimates.copy(),
                "variance_components": fit.variance_components},
        n_obs=fit.n_obs, n_groups=dict(fit.n_groups), converged=fit.converged,
        warnings=list(fit.warnings), info=info, fit=fit, design=d,
    )


def _explain_cross(forces: pd.DataFrame, judgment: str, truth: str, bias) -> dict:
    """What each estimate of the cross-sectional model means, in words."""
    jw, tw = f"'{judgment}'", f"'{truth}'"
    expl = {}
    for r in forces.itertuples(index=False):
        what = {"directional bias": f"predicted {jw} minus the mean of {tw} when the truth"
                                    + (" and the bias are" if bias is not None else " is")
                                    + " at the truth's mean",
                "truth force": f"change in {jw} per point of {tw}"
                               + (", holding the bias constant" if bias is not None else ""),
                "bias force": f"change in {jw} per point of '{bias}', holding the truth constant"}
        if r.level.startswith("per unit of "):
            expl[(r.term, r.level)] = (f"{r.term} changes by {r.estimate:+.3f} {r.level} "
                                       f"(p = {r.p:.3g}).")
            continue
        expl[(r.term, r.level)] = f"{what[r.term]}: {r.estimate:.3f} (p = {r.p:.3g})."
    return expl


# --------------------------------------------------------------------------- the analysis


def _command(source, *, read: dict, method: str = "REML", conf_level: float = 0.95,
             df: str = "satterthwaite", perspective: str = "therapist", bias=None,
             therapist_effects: str = "intercept", no_moderator: bool = False,
             moderator_at=None, judgment=None, truth=None, group=None, moderator=None,
             residual_by=None) -> TruthBiasResult:
    """``alliance fit truth-bias FILE``: the repeated model on session data, or with
    ``judgment``, ``truth`` and ``group`` the cross-sectional model on any table; FILE
    validated once (``read``: its input options)."""
    cross = any(v for v in (judgment, truth, group))
    if residual_by and not cross:
        raise ValueError("residual_by applies to the cross-sectional form (judgment, truth and "
                         "group)")
    if cross:
        if not (judgment and truth and group):
            raise ValueError("the cross-sectional form needs judgment, truth and group")
        if bias == "anchoring":
            raise ValueError("bias 'anchoring' needs session data (drop judgment, truth and "
                             "group)")
        if judgment == truth:
            raise ValueError("judgment and truth must be different columns")
        options = _options(therapist_effects="none", method=method, conf_level=conf_level,
                           df=df)
        del options["therapist_effects"]
        numeric = [judgment, truth] + ([bias] if bias else [])
        # the group (an id) by the one id rule; a moderator may be numeric: read as it is
        required = [group] + ([residual_by] if residual_by else [])
        table = {k: v for k, v in read.items() if k != "columns"}
        data = read_table(source, numeric=numeric, required=required, **table)
        return _fit_truth_bias_cross(data, judgment=judgment, truth=truth, bias=bias,
                                     group=group, moderator=moderator, residual_by=residual_by,
                                     moderator_at=moderator_at, **options)
    judgment, truth = "alliance_therapist", "alliance_patient"
    if perspective == "patient":
        judgment, truth = truth, judgment
    options = _options(therapist_effects=therapist_effects, method=method, conf_level=conf_level,
                       df=df)
    _check_design(judgment, truth, bias, True)
    need = _numeric(judgment, truth, bias)
    data = read_sessions(source, **read, numeric=need, require=need)
    return _fit_truth_bias(data, judgment=judgment, truth=truth, bias=bias,
                           moderator=None if no_moderator else "condition",
                           moderator_at=moderator_at, **options)


#: Truth and bias (chapter 4): ``alliance fit truth-bias`` and its report section.
ANALYSIS = Analysis(
    name="truth-bias",
    help="truth and bias: how closely one rater's judgments follow the other's",
    fit=fit_truth_bias,
    command=_command,
    options=(
        Option("perspective", "who judges: the therapist (truth = patient rating, default) or "
               "the patient (truth = therapist rating)", default="therapist",
               choices=("therapist", "patient")),
        Option("bias", "bias variable: 'anchoring' (the judge's own rating in the previous "
               "session) or a column name on the truth's scale"),
        Option("therapist_effects", "random intercept per therapist (default), none, or an "
               "intercept and a tracking slope per therapist (intercept+slope)",
               default="intercept", choices=THERAPIST_EFFECTS),
        Option("no_moderator", "one set of forces instead of forces per arm", kind="flag"),
        Option("moderator_at", "numeric moderator: value to report the forces at (repeatable; "
               "default mean - SD, mean, mean + SD)", type=float, kind="list", metavar="G"),
        Option("judgment", "cross-sectional form (any file: one judgment per row, a dyad or "
               "group id; give --judgment, --truth and --group): column of the judgment"),
        Option("truth", "cross-sectional form: column of the truth"),
        Option("group", "cross-sectional form: dyad or group id column (random intercept)"),
        Option("moderator", "cross-sectional form: column moderating every force; a numeric "
               "column with more than two values moderates linearly"),
        Option("residual_by", "cross-sectional form: column whose levels get their own residual "
               "variance (distinguishable dyads, e.g. the judge's gender)", metavar="C"),
    ),
    sections=(
        Section("truth_bias", "truth and bias: temporal congruence and directional bias "
                "(chapter 4)", model="truth_bias",
                tables={"truth_bias_forces": (
                    lambda res: res.estimates.drop(columns=["combination"], errors="ignore"),
                    "Truth-and-bias forces")},
                figures=(Figure("truth_bias_forces", "plot_forces",
                                "Truth-and-bias forces by arm (left) and the arm differences "
                                "(right), with confidence intervals."),
                         Figure("truth_bias_dyads", "plot_dyads",
                                "Both raters' alliance across sessions for a few randomly drawn "
                                "dyads per arm.", of="data"))),
    ),
    key_estimates=(KeyEstimate("temporal congruence, training - control", "temporal congruence",
                               "training - control"),),
    example=lambda data: fit_truth_bias(data),
    chapter=4,
)
