r"""Lagged outcomes: does last session's alliance predict this session's well-being?

:func:`fit_lagged` regresses the outcome of session :math:`s` on each rater's
alliance in session :math:`s-1` of the *same* patient (built by
:func:`alliance.lags.lag`: never across patients, never across a missed
session), with every lagged predictor split into

* its **within-patient** part -- the previous session's rating minus the
  patient's own mean of that rating (did this patient feel better *after a
  session whose alliance was better than usual for them*?), and
* its **between-patient** part -- the patient's mean, centred on the grand mean
  (do patients with better alliances on average feel better on average?),

controlling for the prior outcome (session :math:`s-1`) and for session, with
every within and between effect moderated by the arm. The reverse direction
(well-being in session :math:`s-1` predicting each rater's alliance in session
:math:`s`, prior alliance controlled) is the same function with
``direction="outcome->alliance"``.

A lagged outcome in a model with patient-specific levels is biased in short
series (Nickell 1981): :func:`nickell_simulation` measures that bias, for the
two ways of entering the prior outcome, on data simulated with known effects.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from alliance.data.cells import source_of
from alliance.data.lags import lag, lag_name, split_within_between
from alliance.data.validate import read_sessions
from alliance.draws.runner import run_draws
from alliance.errors import AllianceWarning, DataError, FitError
from alliance.mixed import DDF_LABEL, RandomTerm, fit_lmm
from alliance.moderation import (
    add_moderator,
    contrast_table,
    difference_label,
    moderator_levels,
    require_groups_per_level,
)
from alliance.options import check_conf_level, check_df, check_method
from alliance.registry import Analysis, Figure, KeyEstimate, Option, Section
from alliance.results import Result, RowLog, check_tests, format_table

__all__ = [
    "DIRECTIONS",
    "LaggedResult",
    "NickellSimulation",
    "fit_lagged",
    "lagged_design",
    "nickell_approximation",
    "nickell_simulation",
    "therapist_level_sensitivity",
]

#: The two directions :func:`fit_lagged` fits.
DIRECTIONS = ("alliance->outcome", "outcome->alliance")
#: How the prior outcome enters: centred on the grand mean, or on the patient's own mean.
PRIOR_CENTRINGS = ("person", "grand")
#: The parts of a lagged predictor in the effects table.
PARTS = ("within", "between")
#: Random effects per therapist: an intercept (default), none, or an intercept and the
#: within-patient slopes of the lagged predictors (correlated): ``"intercept+slope"``, the
#: name every analysis gives a therapist's random slope(s) (``"intercept+slopes"``, this
#: module's former name, is accepted for one release).
THERAPIST_EFFECTS = ("intercept", "none", "intercept+slope")
THERAPIST_EFFECTS_ORDER = ("none", "intercept", "intercept+slope")
_FORMER = {"intercept+slopes": "intercept+slope"}


# --------------------------------------------------------------------------- results


@dataclass
class LaggedResult(Result):
    """Result of :func:`fit_lagged`.

    Attributes
    ----------
    tables : dict
        ``estimates`` (``effects`` until this release, a name still accepted) -- one row
        per (model outcome, lagged predictor, part, level):
        columns ``term``, ``level``, ``estimate``, ``se``, ``statistic`` (t or z), ``df``,
        ``p``, ``ci_low``, ``ci_high``, ``outcome`` (the model's outcome at
        :math:`s`), ``predictor`` (the lagged column), ``part`` (``within``,
        ``between`` or ``prior``), ``combination`` (the fixed effects summed),
        ``std_estimate``, ``std_ci_low``, ``std_ci_high`` (the estimate and CI times
        SD(predictor part) / SD(outcome) over the analysed rows: outcome SDs per
        predictor SD, comparable across directions). ``level`` is an arm, the arm
        difference (``"training - control"``) or ``"all"`` (unmoderated terms);
        ``fixed`` (every fixed effect, with ``outcome``); ``variance_components``
        (with ``outcome``); ``rows`` (``outcome``, ``reason``, ``n``: rows used and
        every reason rows were dropped).
    fits : dict of str to alliance.mixed.MixedFit
        The mixed-model fit of each model, keyed by its outcome column.
    designs : dict of str to pandas.DataFrame
        The analysed rows with the constructed variables, per model.
    """

    TABLE_ALIASES: ClassVar[dict[str, str]] = {"effects": "estimates"}

    fits: dict = field(default_factory=dict, repr=False)
    designs: dict = field(default_factory=dict, repr=False)

    def summary(self) -> str:
        """Effects per model, the rows used and dropped, variance components and fit facts."""
        lines = [self.title, "=" * len(self.title)]
        for model in self.info.get("models", []):
            out = model["outcome"]
            lines += ["", f"model: {model['formula']}"]
            e = self.estimates
            shown = e[e["outcome"] == out].drop(columns=["outcome", "combination", "std_ci_low",
                                                         "std_ci_high"])
            lines += [format_table(shown), "", "rows:"]
            r = self.tables["rows"]
            for row in r[r["outcome"] == out].itertuples(index=False):
                lines.append(f"  {row.reason}: {row.n}")
            vc = self.tables["variance_components"]
            lines += ["variance components:",
                      format_table(vc[vc["outcome"] == out].drop(columns=["outcome"]))]
            lines.append(f"logLik ({model['method']}): {model['loglik']:.3f}; converged: "
                         f"{model['converged']}; boundary: {model['boundary']}")
        lines += ["", f"person means: {self.info.get('person_mean_rule', '')}"]
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- design


def lagged_design(
    data,
    *,
    outcome: str = "wellbeing",
    predictors=("alliance_therapist", "alliance_patient"),
    control_prior: bool = True,
    prior_centring: str = "person",
    moderator: str | None = "condition",
    columns=None,
) -> tuple[pd.DataFrame, dict]:
    r"""The analysed rows of one lagged model, with its constructed variables.

    For a row (patient :math:`i`, session :math:`s`) and a lagged predictor
    :math:`x`, with :math:`x_{i,s-1}` from :func:`alliance.lags.lag` (the same
    patient's row at session *exactly* :math:`s-1`):

    * ``{x}_pmean`` :math:`= \bar x_i`, the mean of **all** patient :math:`i`'s
      non-missing values of :math:`x` in ``data`` (every session the patient
      has, 1 to 6 where available -- including the last session, which never
      serves as a lag, and rows that are not analysed);
    * ``{x}_lag1_within`` :math:`= x_{i,s-1} - \bar x_i` (within-patient part);
    * ``{x}_between`` :math:`= \bar x_i - \bar{\bar x}`, with
      :math:`\bar{\bar x}` the mean of :math:`\bar x_i` over the analysed rows
      (between-patient part, grand-mean centred);
    * the prior outcome :math:`y_{i,s-1}` as ``{y}_lag1_within`` :math:`= y_{i,s-1}
      - \bar y_i` (``prior_centring="person"``, :math:`\bar y_i` by the same
      all-sessions rule) or ``{y}_lag1_c`` :math:`= y_{i,s-1} -
      \overline{y_{\cdot,s-1}}` (``"grand"``; mean over the analysed rows);
    * ``session_c`` :math:`= s - \bar s` (mean over the analysed rows).

    Parameters are those of :func:`fit_lagged`, for one model: ``outcome`` is the
    model's outcome at session :math:`s`, ``predictors`` the columns lagged and
    split.

    Returns
    -------
    design : pandas.DataFrame
        One row per analysed row (input order and index kept): ``patient``,
        ``therapist``, ``moderator`` (as str, where given), ``session``,
        ``y`` (the outcome), the lagged raw values ``{x}_lag1``, and the
        variables above.
    info : dict
        ``rows_input``, ``rows_used``, ``rows_dropped`` (identifier -> count, in
        the order the rules are applied; each row is counted under its first
        failing rule), ``describe`` (identifier -> reason in words),
        ``grand_means``, ``time_mean``, ``prior_term`` and the lag counts of
        :func:`alliance.data.lags.lag` (``lag``).

    Raises
    ------
    DataError
        Missing or non-numeric columns, duplicated patient x session rows (from the
        lag builder), no analysable rows.
    """
    predictors = [predictors] if isinstance(predictors, str) else list(predictors)
    data = read_sessions(data, columns, numeric=[outcome, *predictors],
                         require=[outcome, *predictors, moderator])
    return _design(data, outcome=outcome, predictors=predictors, control_prior=control_prior,
                   prior_centring=prior_centring, moderator=moderator)


def _design(data: pd.DataFrame, *, outcome, predictors, control_prior, prior_centring, moderator):
    """:func:`lagged_design` behind the door: ``data`` is already validated by read_sessions.

    (fit_lagged validates once and builds one design per model; validating the
    same 365k rows again for every model made the two-model reverse direction
    slower than the forward one for no benefit.)
    """
    predictors = [predictors] if isinstance(predictors, str) else list(predictors)
    if not predictors:
        raise ValueError("predictors must name at least one column")
    if outcome in predictors:
        raise ValueError(f"the outcome {outcome!r} cannot also be a lagged predictor; it enters as "
                         "the prior outcome (control_prior=True)")
    if prior_centring not in PRIOR_CENTRINGS:
        raise ValueError(f"prior_centring must be one of {PRIOR_CENTRINGS}; got {prior_centring!r}")
    source = source_of(data)
    missing = [c for c in (outcome, *predictors, moderator)
               if c is not None and c not in data.columns]
    if missing:
        raise DataError(f"{source}: missing column(s) {missing} needed by the lagged-outcome "
                        f"model; the data have {list(data.columns)} [rule: required columns "
                        "present]")
    cols = [*predictors, outcome]
    values = {c: data[c].to_numpy(dtype=float) for c in cols}
    # THE lag builder; lagging the session column too tells which rows have a previous row
    lagged = lag(data, [*cols, "session"], group="patient", time="session")
    lag_report = dict(lagged.attrs["lag"])
    t = data["session"].to_numpy(dtype=float)
    pid = data["patient"].to_numpy()
    has_prev = lagged[lag_name("session")].notna().to_numpy()
    first_t = pd.Series(t).groupby(pid).transform("min").to_numpy()
    is_first = ~has_prev & (t - 1 < first_t)
    lagv = {c: lagged[lag_name(c)].to_numpy(dtype=float) for c in cols}

    log = RowLog(len(data))
    log.drop(np.isnan(values[outcome]), f"missing:{outcome}", f"{outcome} missing")
    log.drop(is_first, "first_session", "first session of the patient: no previous session")
    log.drop(~has_prev & ~is_first, "previous_session_absent",
             "previous session absent (missed session in between): a lag never bridges a gap")
    for c in predictors:
        log.drop(np.isnan(lagv[c]), f"missing_previous:{c}", f"{c} missing in the previous session")
    if control_prior:
        log.drop(np.isnan(lagv[outcome]), f"missing_previous:{outcome}",
                 f"{outcome} missing in the previous session")
    if moderator is not None:
        log.drop(data[moderator].isna().to_numpy(), f"missing:{moderator}", f"{moderator} missing")
    ok = log.keep
    if not ok.any():
        raise DataError(f"{source}: no row has {outcome} and the previous session's "
                        f"{', '.join(predictors)} of the same patient [rule: rows to analyse]")

    cols_out: dict[str, np.ndarray] = {"patient": pid[ok]}
    cols_out["therapist"] = data.loc[ok, "therapist"].to_numpy()
    if moderator is not None:
        cols_out["moderator"] = data.loc[ok, moderator].astype(str).to_numpy()
    cols_out["session"] = t[ok]
    cols_out["y"] = values[outcome][ok]
    grand = {}
    for c in predictors:
        pm, _ = split_within_between(values[c], pid)
        cols_out[f"{c}_lag1"] = lagv[c][ok]
        cols_out[f"{c}_pmean"] = pm[ok]
        cols_out[f"{c}_lag1_within"] = lagv[c][ok] - pm[ok]
        grand[c] = float(np.mean(pm[ok]))
        cols_out[f"{c}_between"] = pm[ok] - grand[c]
    prior_term = None
    if control_prior:
        cols_out[f"{outcome}_lag1"] = lagv[outcome][ok]
        if prior_centring == "grand":
            prior_term = f"{outcome}_lag1_c"
            grand[f"{outcome}_lag1"] = float(np.mean(lagv[outcome][ok]))
            cols_out[prior_term] = lagv[outcome][ok] - grand[f"{outcome}_lag1"]
        else:
            prior_term = f"{outcome}_lag1_within"
            pm, _ = split_within_between(values[outcome], pid)
            cols_out[f"{outcome}_pmean"] = pm[ok]
            cols_out[prior_term] = lagv[outcome][ok] - pm[ok]
    tm = float(np.mean(t[ok]))
    cols_out["session_c"] = t[ok] - tm
    d = pd.DataFrame(cols_out, index=data.index[ok])
    d.attrs["source"] = source.name
    info = {**log.info(), "grand_means": grand, "time_mean": tm, "prior_term": prior_term,
            "lag": lag_report}
    return d, info


# --------------------------------------------------------------------------- fitting


def _fit_one(data, *, outcome, predictors, control_prior, prior_centring, moderator,
             therapist_effects, method, conf_level, df="satterthwaite"):
    d, info = _design(data, outcome=outcome, predictors=predictors, control_prior=control_prior,
                      prior_centring=prior_centring, moderator=moderator)
    source = d.attrs["source"]
    moderated = [m for c in predictors for m in (f"{c}_lag1_within", f"{c}_between")] + ["session_c"]
    xcols: dict[str, np.ndarray] = {"Intercept": np.ones(len(d))}
    for col in moderated[:-1]:
        xcols[col] = d[col].to_numpy()
    if info["prior_term"] is not None:
        xcols[info["prior_term"]] = d[info["prior_term"]].to_numpy()
    xcols["session_c"] = d["session_c"].to_numpy()
    X = pd.DataFrame(xcols, index=d.index)
    levels = None
    if moderator is not None:
        levels = moderator_levels(d["moderator"], moderator, source, what="an effect")
        nested = {"patient": d["patient"]}
        if therapist_effects != "none":
            nested["therapist"] = d["therapist"]
        require_groups_per_level(moderator, d["moderator"], nested, source, f"lagged {outcome}")
        X = add_moderator(X, moderated, d["moderator"], moderator, levels)
    random = [RandomTerm("patient", d["patient"].to_numpy())]
    within = [f"{c}_lag1_within" for c in predictors]
    if therapist_effects == "intercept":
        random.append(RandomTerm("therapist", d["therapist"].to_numpy()))
    elif therapist_effects == "intercept+slope":
        Zt = X[["Intercept", *within]]
        random.append(RandomTerm("therapist", d["therapist"].to_numpy(), Zt))
    fit = fit_lmm(d["y"].to_numpy(), X, random, method=method, source=source,
                  conf_level=conf_level, df=df)
    # the effects table: each within/between effect per level and the level differences, the
    # prior outcome, and the standardised estimates
    parts = {}
    for c in predictors:
        for part in PARTS:
            parts[f"{c} (s-1) {part}"] = (c, part, f"{c}_lag1_within" if part == "within"
                                          else f"{c}_between")
    prior_term = info["prior_term"]
    if prior_term is not None:
        parts[f"{outcome} (s-1) prior"] = (outcome, "prior", prior_term)
    tabs = [contrast_table(fit, {k: v[2] for k, v in parts.items() if v[1] != "prior"},
                           moderator, levels)]
    if prior_term is not None and prior_term in fit.coef.index:
        tabs.append(contrast_table(fit, {f"{outcome} (s-1) prior": prior_term}, None))
    con = pd.concat(tabs, ignore_index=True)
    sd_y = float(np.std(d["y"], ddof=1))
    scale = np.array([float(np.std(d[parts[t][2]], ddof=1)) / sd_y for t in con["term"]])
    effects = con.drop(columns="combination")
    effects["outcome"] = outcome
    effects["predictor"] = [parts[t][0] for t in con["term"]]
    effects["part"] = [parts[t][1] for t in con["term"]]
    effects["combination"] = con["combination"].to_numpy()
    effects["std_estimate"] = con["estimate"].to_numpy() * scale
    effects["std_ci_low"] = con["ci_low"].to_numpy() * scale
    effects["std_ci_high"] = con["ci_high"].to_numpy() * scale
    check_tests(fit.estimates, source, f"lagged {outcome}")
    terms = " + ".join([f"{c}[s-1] within + {c} between" for c in predictors])
    mod = f"{moderator} * " if moderator else ""
    prior = (f" + {outcome}[s-1] ({'grand' if prior_centring == 'grand' else 'person'}-mean "
             "centred)") if control_prior else ""
    rnd = "(1 | patient)" + {
        "intercept": " + (1 | therapist)", "none": "",
        "intercept+slope": f" + (1 + {' + '.join(f'{c}[s-1] within' for c in predictors)} | therapist)",
    }[therapist_effects]
    formula = f"{outcome}[s] ~ {mod}({terms} + session){prior} + {rnd}"
    return fit, d, info, effects, levels, formula


def _options(*, direction: str = "alliance->outcome", therapist_effects: str = "intercept",
             method: str = "REML", conf_level: float = 0.95,
             df: str = "satterthwaite") -> dict:
    """The options of :func:`fit_lagged`, checked (:mod:`alliance.options`)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}; got {direction!r}")
    therapist_effects = _FORMER.get(therapist_effects, therapist_effects)
    if therapist_effects not in THERAPIST_EFFECTS:
        raise ValueError(f"therapist_effects must be one of {THERAPIST_EFFECTS}; got "
                         f"{therapist_effects!r}")
    method = check_method(method)
    return {"direction": direction, "therapist_effects": therapist_effects, "method": method,
            "conf_level": check_conf_level(conf_level), "df": check_df(df, method=method)}


def fit_lagged(
    data,
    *,
    outcome: str = "wellbeing",
    predictors=("alliance_therapist", "alliance_patient"),
    direction: str = "alliance->outcome",
    control_prior: bool = True,
    prior_centring: str = "person",
    moderator: str | None = "condition",
    therapist_effects: str = "intercept",
    method: str = "REML",
    conf_level: float = 0.95,
    columns=None,
    df: str = "satterthwaite",
) -> LaggedResult:
    r"""Lagged-outcome model: outcome at session :math:`s` on alliance at :math:`s-1`, or the reverse.

    Direction ``"alliance->outcome"`` (default) fits one model for patient
    :math:`i` (therapist :math:`j`) at session :math:`s`, arm indicator
    :math:`a` (1 = ``training``; one indicator per non-reference level of
    ``moderator`` in general):

    .. math::

        y_{is} &= \beta_0 + \beta_a a
            + \sum_{r} \big[(\omega_r + \omega_{ra} a)\,x^W_{r,i,s-1}
            + (\pi_r + \pi_{ra} a)\,x^B_{r,i}\big]
            + \phi\, y^*_{i,s-1} + (\gamma + \gamma_a a)(s - \bar s)
            + u_i + v_j + e_{is},

    with :math:`y` = ``outcome`` (well-being), :math:`r` running over
    ``predictors`` (each rater's alliance :math:`x_r`),
    :math:`x^W_{r,i,s-1} = x_{r,i,s-1} - \bar x_{r,i}` the **within-patient** part
    of the previous session's rating (``{x}_lag1_within``; :math:`\bar x_{r,i}` the
    patient's mean of that rating over *all* their sessions with a value),
    :math:`x^B_{r,i} = \bar x_{r,i} - \bar{\bar x}_r` the **between-patient**
    part (``{x}_between``, grand-mean centred), :math:`y^*_{i,s-1}` the prior
    outcome (person-mean centred by default, or grand-mean centred),
    :math:`s` = ``session``, :math:`u_i \sim N(0, \tau^2_u)` a random intercept per
    ``patient`` and :math:`v_j \sim N(0, \tau^2_v)` per ``therapist``,
    :math:`e_{is} \sim N(0, \sigma^2)`. The within effect of rater :math:`r` is
    :math:`\omega_r` in the reference arm (control) and
    :math:`\omega_r + \omega_{ra}` under training; the arm difference is
    :math:`\omega_{ra}` (likewise :math:`\pi` between patients).

    Direction ``"outcome->alliance"`` fits, for each rater :math:`r` in
    ``predictors``, the same model with the roles swapped: :math:`x_{r,is}` on the
    within and between parts of :math:`y_{i,s-1}`, prior alliance
    :math:`x^*_{r,i,s-1}` controlled.

    Parameters
    ----------
    data : pandas.DataFrame or path
        Long session data, one row per patient x session: a file or a DataFrame,
        validated by :func:`alliance.read_sessions`. Not modified.
    outcome : str
        The outcome column (default ``"wellbeing"``; any numeric column of the data).
    predictors : sequence of str
        The alliance columns (default both raters). In the forward direction they
        enter one model jointly; in the reverse direction each is the outcome of
        its own model.
    direction : {"alliance->outcome", "outcome->alliance"}
        Which variable is lagged.
    control_prior : bool
        Control the prior (session :math:`s-1`) value of the model's outcome
        (default True). Rows without it are dropped.
    prior_centring : {"person", "grand"}
        The prior outcome centred on the patient's own mean (default) or on the
        grand mean. Person-mean centring biases the prior outcome's *own*
        coefficient downwards in short series (by about :math:`(1+\phi)/(T-1)`
        for :math:`T` lagged pairs: Nickell 1981), so read it as a control, not
        as an estimate of persistence; in :func:`nickell_simulation` the lagged
        alliance effects keep only a small part of that bias. Grand-mean centring lets the
        lagged outcome soak up the stable patient level (its coefficient is
        biased upwards, the patient variance shrinks, often to zero) and biases
        the alliance effects when the outcome feeds back into the alliance.
    moderator : str or None
        Column whose levels moderate every within and between effect, and the
        session slope (default ``"condition"``, reference ``control``). ``None``:
        one set of effects.
    therapist_effects : {"intercept", "none", "intercept+slope"}
        Random intercept per therapist (default), none, or an intercept and the
        within-patient slopes of the lagged predictors per therapist (then the arm
        differences in the within effects are tested against how much those slopes
        vary between therapists, the unit of randomisation).
    method : {"REML", "ML"}
        Criterion of :func:`alliance.mixed.fit_lmm`.
    conf_level : float
        Level of the confidence intervals.
    columns : mapping, optional
        ``{canonical: yours}`` for columns named differently from the canonical
        schema (as :func:`alliance.read_sessions`).
    df : {"satterthwaite", "kenward-roger", "z"}
        Tests of the effects: t with Satterthwaite (default) or Kenward-Roger (REML
        only) degrees of freedom, or Wald z.

    Returns
    -------
    LaggedResult
        ``effects`` (each within/between effect per arm and the arm difference,
        the prior outcome's coefficient; with standardised versions), ``fixed``,
        ``variance_components``, ``rows`` (rows used and why others were dropped),
        ``fits``, ``designs``; ``n_obs`` = input rows analysed by at least one
        model.

    Raises
    ------
    DataError
        Missing or non-numeric columns, duplicated patient x session rows, no
        analysable rows, a single moderator level, a patient under two
        therapists, a rank-deficient design.
    FitError
        A degenerate mixed-model fit.

    Warns
    -----
    AllianceWarning
        Boundary fit or fallback optimizer (from :func:`alliance.mixed.fit_lmm`);
        recorded in ``result.warnings``.

    Notes
    -----
    Lags come from :func:`alliance.lags.lag`: the previous session is the same
    patient's row at session exactly :math:`s-1`; the first session, a session
    after a missed one and a previous session with a missing value give no lag,
    and ``rows`` counts each reason. Splitting a time-varying predictor into
    within- and between-patient parts (Curran & Bauer 2011) keeps the
    within effect -- a session-to-session association *within* a patient, the
    effect the paper's lagged hypothesis is about -- from being confounded with
    stable differences between patients. Effects and arm differences are
    :math:`L\hat\beta` with :math:`\mathrm{Var} = L\hat VL^\top` (GLS covariance),
    t tests and CIs with Satterthwaite degrees of freedom by default (validated
    against lmerTest and pbkrtest by ``tests/r/ddf_reference.R``).

    Validated (``tests/test_lagged.py``) against lme4 1.1.31 run by
    ``tests/r/lagged_reference.R`` on ``data/sessions.csv`` (forward with grand- and
    person-centred prior and without it, reverse for each rater; the R script
    builds the lags -- same patient, session exactly one earlier -- and the
    centring itself), by parameter recovery on data simulated with known lagged
    effects, and by property tests (row order, relabelling).

    References
    ----------
    Curran, P. J., & Bauer, D. J. (2011). The disaggregation of within-person and
    between-person effects in longitudinal models of change. *Annual Review of
    Psychology, 62*, 583-619.

    Nickell, S. (1981). Biases in dynamic models with fixed effects.
    *Econometrica, 49*(6), 1417-1426.

    Examples
    --------
    >>> import alliance
    >>> from alliance.lagged import fit_lagged
    >>> res = fit_lagged(alliance.load_example())
    >>> res.estimates[["term", "level"]].head(3).to_numpy().tolist()
    [['alliance_therapist (s-1) within', 'control'], ['alliance_therapist (s-1) within', 'training'], ['alliance_therapist (s-1) within', 'training - control']]
    >>> res.tables["rows"]["reason"].iloc[0]
    'rows used'
    """
    options = _options(direction=direction, therapist_effects=therapist_effects, method=method,
                       conf_level=conf_level, df=df)
    predictors = [predictors] if isinstance(predictors, str) else list(predictors)
    data = read_sessions(data, columns, numeric=[outcome, *predictors],
                         require=[outcome, *predictors, moderator])
    return _fit_lagged(data, outcome=outcome, predictors=predictors,
                       control_prior=control_prior, prior_centring=prior_centring,
                       moderator=moderator, **options)


def _fit_lagged(data: pd.DataFrame, *, outcome: str = "wellbeing",
                predictors=("alliance_therapist", "alliance_patient"),
                direction: str = "alliance->outcome", control_prior: bool = True,
                prior_centring: str = "person", moderator: str | None = "condition",
                therapist_effects: str = "intercept", method: str = "REML",
                conf_level: float = 0.95, df: str = "satterthwaite") -> LaggedResult:
    """:func:`fit_lagged` on data already validated by :func:`alliance.read_sessions` (with the
    outcome and predictors as numbers): callers that validated once call this."""
    opts = _options(direction=direction, therapist_effects=therapist_effects, method=method,
                    conf_level=conf_level, df=df)
    direction, therapist_effects = opts["direction"], opts["therapist_effects"]
    method, conf_level, df = opts["method"], opts["conf_level"], opts["df"]
    predictors = [predictors] if isinstance(predictors, str) else list(predictors)
    if direction == "alliance->outcome":
        specs = [(outcome, predictors)]
    else:
        specs = [(p, [outcome]) for p in predictors]
    fits, designs, effects, fixed, vcs, rows, models = {}, {}, [], [], [], [], []
    warnings_: list[str] = []
    info: dict = {}
    used_index = pd.Index([])
    for out, preds in specs:
        fit, d, dinfo, eff, levels, formula = _fit_one(
            data, outcome=out, predictors=preds, control_prior=control_prior,
            prior_centring=prior_centring, moderator=moderator,
            therapist_effects=therapist_effects, method=method, conf_level=conf_level, df=df)
        fits[out], designs[out] = fit, d
        effects.append(eff)
        fixed.append(fit.estimates.assign(outcome=out))
        vcs.append(fit.variance_components.assign(outcome=out))
        rows.append({"outcome": out, "rule": "used", "reason": "rows used",
                     "n": dinfo["rows_used"]})
        rows += [{"outcome": out, "rule": k, "reason": dinfo["describe"][k], "n": v}
                 for k, v in dinfo["rows_dropped"].items()]
        warnings_ += [f"{out} model: {w}" for w in fit.warnings]
        used_index = used_index.union(d.index)
        models.append({
            "outcome": out, "predictors": preds, "formula": formula, "n_obs": fit.n_obs,
            "n_groups": dict(fit.n_groups), "levels": levels, "method": fit.method,
            "loglik": fit.loglik, "aic": fit.aic, "bic": fit.bic, "boundary": fit.boundary,
            "converged": fit.converged, "optimizer": fit.optimizer,
            "grand_means": dinfo["grand_means"], "time_mean": dinfo["time_mean"],
            "prior_term": dinfo["prior_term"], "rows_dropped": dinfo["rows_dropped"],
            "describe": dinfo["describe"],
            "lag": dinfo["lag"],
        })
    all_used = pd.concat(list(designs.values()))
    n_groups = {"patient": int(all_used["patient"].nunique())}
    if therapist_effects != "none":
        n_groups["therapist"] = int(all_used["therapist"].nunique())
    info.update(
        direction=direction, outcome=outcome, predictors=predictors, control_prior=control_prior,
        prior_centring=prior_centring if control_prior else None, moderator=moderator,
        therapist_effects=therapist_effects, method=method, df=next(iter(fits.values())).ddf,
        rows_input=len(data),
        difference_level=(difference_label(models[0]["levels"][1], models[0]["levels"][0])
                          if models[0]["levels"] is not None and len(models[0]["levels"]) == 2
                          else None),
        person_mean_rule=("each patient's mean of a lagged rating is the mean of all that patient's "
                          "non-missing values of the rating in the data (every available session, "
                          "including the last, which never serves as a lag); the between part is "
                          "that mean minus its mean over the analysed rows"),
        models=models,
    )
    title = ("Lagged outcomes: " + (f"{outcome}[s] on {', '.join(predictors)}[s-1]"
                                    if direction == "alliance->outcome"
                                    else f"{', '.join(predictors)}[s] on {outcome}[s-1]")
             + f"; {DDF_LABEL[next(iter(fits.values())).ddf]}")
    return LaggedResult(
        title=title,
        tables={"estimates": pd.concat(effects, ignore_index=True),
                "fixed": pd.concat(fixed, ignore_index=True),
                "variance_components": pd.concat(vcs, ignore_index=True),
                "rows": pd.DataFrame(rows)},
        n_obs=len(used_index), n_groups=n_groups,
        converged=all(f.converged for f in fits.values()), warnings=warnings_, info=info,
        fits=fits, designs=designs,
    )


def therapist_level_sensitivity(data, predictor: str = "alliance_therapist",
                                level: str = "training - control", *, columns=None,
                                df: str = "satterthwaite", **kwargs) -> pd.DataFrame:
    """The within-patient lagged effect of one rater under each therapist-level structure.

    ``none``, ``intercept`` (the default model) and ``intercept+slope`` (therapists'
    own within-patient slopes): with the slopes, the arm difference in a within effect
    is tested against how much it varies between therapists, the unit of
    randomisation. ``kwargs`` go to :func:`fit_lagged` (forward direction).

    Returns
    -------
    pandas.DataFrame
        ``structure``, ``term``, ``level``, ``estimate``, ``se``, ``statistic``, ``df``,
        ``p``, ``ci_low``, ``ci_high``, ``loglik``, ``aic``, ``boundary``, ``converged``.
    """
    outcome = kwargs.get("outcome", "wellbeing")
    predictors = kwargs.get("predictors", ("alliance_therapist", "alliance_patient"))
    predictors = [predictors] if isinstance(predictors, str) else list(predictors)
    data = read_sessions(data, columns, numeric=[outcome, *predictors],
                         require=[outcome, *predictors, kwargs.get("moderator", "condition")])
    rows = []
    for te in THERAPIST_EFFECTS_ORDER:
        res = _fit_lagged(data, therapist_effects=te, df=df, **kwargs)
        r = res.rows(predictor=predictor, part="within", level=level).iloc[0]
        fit = next(iter(res.fits.values()))
        rows.append({"structure": te, **{c: r[c] for c in ("term", "level", "estimate", "se",
                                                           "statistic", "df", "p", "ci_low",
                                                           "ci_high")},
                     "loglik": fit.loglik, "aic": fit.aic, "boundary": fit.boundary,
                     "converged": fit.converged})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- Nickell bias


def nickell_approximation(rho: float, n_lagged: int) -> float:
    r"""Nickell's (1981) large-N approximation of the bias of a within-person AR coefficient.

    :math:`\operatorname{plim}(\hat\rho - \rho) \approx -(1+\rho)/(T-1)` with
    :math:`T` = ``n_lagged``, the number of lagged pairs per series (for six
    sessions and a lag of one, :math:`T = 5`). The exact expression has
    higher-order terms; this is the leading one.
    """
    if n_lagged < 2:
        raise ValueError("n_lagged must be at least 2")
    return -(1.0 + rho) / (n_lagged - 1.0)


@dataclass
class NickellSimulation(Result):
    """Result of :func:`nickell_simulation`.

    Attributes
    ----------
    tables : dict
        ``summary``: one row per (specification, term) with ``truth``, ``estimate``
        (mean over replications), ``bias``, ``mc_se`` (Monte-Carlo SE of the
        mean), ``relative_bias``, ``coverage`` (share of the nominal 95% Wald CIs
        that contain the truth), ``nickell_approx`` (for the person-centred prior
        outcome only), ``boundary_share`` and ``fallback_share`` (share of the
        replication fits that ended on the boundary -- a patient variance of zero --
        or needed a fallback optimizer; these fits' :class:`AllianceWarning` s are
        counted here instead of being emitted once per replication);
        ``estimates``: every replication's estimate, CI and flags.
    """


def _simulate_series(rng, n_series, n_sessions, rho, beta, feedback, level_corr, burn_in=30):
    total = burn_in + n_sessions
    mu = rng.normal(0.0, 1.0, n_series)
    alpha = level_corr * mu + np.sqrt(1.0 - level_corr**2) * rng.normal(0.0, 1.0, n_series)
    y = np.zeros((n_series, total))
    x = np.zeros((n_series, total))
    x[:, 0] = alpha + rng.normal(0.0, 1.0, n_series)
    for t in range(1, total):
        y[:, t] = mu + rho * y[:, t - 1] + beta * x[:, t - 1] + rng.normal(0.0, 1.0, n_series)
        x[:, t] = alpha + feedback * y[:, t] + rng.normal(0.0, 1.0, n_series)
    y, x = y[:, burn_in:], x[:, burn_in:]
    ids = np.repeat([f"S{i:04d}" for i in range(n_series)], n_sessions)
    # the canonical schema with the study's own variables as extra columns: every series is
    # its own "therapist" in one arm, and the instrument-scaled ratings are absent
    return pd.DataFrame({
        "therapist": ids,
        "patient": ids,
        "condition": "control",
        "session": np.tile(np.arange(1, n_sessions + 1), n_series),
        "alliance_patient": np.nan,
        "alliance_therapist": np.nan,
        "wellbeing": np.nan,
        "alliance": x.ravel(),
        "outcome": y.ravel(),
    })


def _nickell_draw(draw: int, rng: np.random.Generator, n_series: int, n_sessions: int,
                  rho: float, beta: float, feedback: float, level_corr: float, seed: int) -> dict:
    """One replication of :func:`nickell_simulation`: a data set drawn, validated once, and fitted
    with the prior outcome person- and grand-mean centred (flat keys ``spec|term|column``)."""
    d = _simulate_series(rng, n_series, n_sessions, rho, beta, feedback, level_corr)
    d.attrs["source"] = f"nickell_simulation(seed={seed}) replication {draw + 1}"
    d = read_sessions(d, numeric=["alliance", "outcome"])  # each replication's data, once
    out: dict = {}
    other = []
    for spec in ("person", "grand"):
        # boundary fits are an expected outcome of the experiment (the grand-mean-centred
        # lagged outcome absorbs the patient level): counted per specification in the
        # summary table instead of being emitted once per replication
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", AllianceWarning)
            res = _fit_lagged(d, outcome="outcome", predictors=("alliance",), moderator=None,
                              therapist_effects="none", prior_centring=spec)
        other += [str(w.message) for w in caught if not issubclass(w.category, AllianceWarning)]
        fit = res.fits["outcome"]
        e = res.estimates.set_index("part")
        for term, part in (("prior", "prior"), ("alliance within", "within")):
            for column in ("estimate", "ci_low", "ci_high"):
                out[f"{spec}|{term}|{column}"] = float(e.loc[part, column])
        out[f"{spec}|boundary"] = bool(fit.boundary)
        out[f"{spec}|fallback"] = any("fallback" in w for w in fit.warnings)
    out["other_warnings"] = " | ".join(dict.fromkeys(other))
    return out


def nickell_simulation(
    n_series: int = 117,
    n_sessions: int = 6,
    rho: float = 0.4,
    beta: float = 0.3,
    reps: int = 100,
    seed: int = 1,
    *,
    feedback: float = 0.3,
    level_corr: float = 0.5,
    jobs: int = 1,
) -> NickellSimulation:
    r"""Bias of the lagged-outcome model in short series, on data with known effects.

    Each replication draws ``n_series`` series (patients) of ``n_sessions``
    sessions from

    .. math::

        y_{it} &= \mu_i + \rho\,y_{i,t-1} + \beta\,x_{i,t-1} + e_{it},\\
        x_{it} &= \alpha_i + \kappa\,y_{it} + z_{it},

    with :math:`y` the outcome (well-being), :math:`x` the alliance,
    :math:`\rho` = ``rho`` the autoregression, :math:`\beta` = ``beta`` the lagged
    alliance effect (the truth of the within effect), :math:`\kappa` = ``feedback``
    (the outcome feeds back into the same session's alliance, so the lagged
    alliance is correlated with the lagged outcome and inherits its bias),
    :math:`(\mu_i, \alpha_i)` standard normal patient levels with correlation
    ``level_corr``, :math:`e, z \sim N(0, 1)`; series start in the stationary
    regime (30 discarded burn-in sessions). It then fits :func:`fit_lagged`
    (``predictors=("alliance",)``, no moderator, no therapist, session controlled,
    REML) twice: with the prior outcome **person-mean centred**
    (``prior_centring="person"``) and **grand-mean centred** (``"grand"``, the
    random intercept carrying the level), and reports the mean estimates of
    :math:`\rho` (``prior``) and :math:`\beta` (``alliance within``) against the truth.

    Parameters
    ----------
    n_series, n_sessions : int
        Patients per data set and sessions per patient (six in the trial).
    rho, beta : float
        True autoregression and lagged alliance effect (need
        :math:`|\rho + \beta\kappa| < 1`).
    reps : int
        Replications (about 0.1-0.2 s each).
    seed : int
        The study's seed: replication *i* is draw *i* of :func:`alliance.draws.run_draws`
        (its own generator, ``SeedSequence(seed, spawn_key=(i,))``).
    feedback, level_corr : float, keyword-only
        :math:`\kappa` and the correlation of the patient levels.
    jobs : int, keyword-only
        Local worker processes (1: in this process).

    Returns
    -------
    NickellSimulation
        ``summary`` and ``estimates`` tables; ``info`` holds the settings and the
        Nickell approximation :func:`nickell_approximation` for
        ``T = n_sessions - 1``.

    Notes
    -----
    With the lagged outcome centred on the patient's mean, the deviation
    :math:`y_{i,t-1} - \bar y_i` is negatively correlated with the error
    :math:`e_{it}`, because :math:`\bar y_i` contains :math:`y_{it}` and every later
    value; the within estimate of :math:`\rho` is biased downwards by about
    :math:`(1+\rho)/(T-1)`, which is large when :math:`T` is 5 (Nickell 1981).
    Grand-mean centring instead leaves the lagged outcome correlated with the
    patient level, which the random intercept does not fully absorb: its
    coefficient is then biased upwards. Coefficients of predictors correlated with
    the lagged outcome inherit part of either bias.

    References
    ----------
    Nickell, S. (1981). Biases in dynamic models with fixed effects.
    *Econometrica, 49*(6), 1417-1426.

    Examples
    --------
    >>> from alliance.lagged import nickell_simulation
    >>> sim = nickell_simulation(n_series=60, reps=2, seed=1)
    >>> sim.value("prior", specification="person", column="bias") < 0
    True
    """
    if n_sessions < 3:
        raise ValueError("n_sessions must be at least 3 (two lagged pairs per series)")
    if n_series < 10 or reps < 1:
        raise ValueError("n_series must be at least 10 and reps at least 1")
    if abs(rho + beta * feedback) >= 1 or abs(level_corr) >= 1:
        raise ValueError("need |rho + beta * feedback| < 1 (a stationary process) and "
                         "|level_corr| < 1")
    draws = run_draws(_nickell_draw, reps, seed=seed, jobs=jobs,
                      args=(n_series, n_sessions, rho, beta, feedback, level_corr, seed))
    failed = draws[draws["error"] != ""]
    if len(failed):
        raise FitError(f"nickell_simulation: replication {int(failed['draw'].iloc[0]) + 1} could "
                       f"not be fitted ({failed['error'].iloc[0]}; {len(failed)} of {reps} failed)")
    for w in dict.fromkeys(w for w in draws["other_warnings"] if w):  # said once each
        warnings.warn(f"nickell_simulation: {w}", RuntimeWarning, stacklevel=2)
    truth = {"prior": rho, "alliance within": beta}
    rows = [{"rep": int(d["draw"]) + 1, "specification": spec, "term": term, "truth": truth[term],
             "estimate": d[f"{spec}|{term}|estimate"], "ci_low": d[f"{spec}|{term}|ci_low"],
             "ci_high": d[f"{spec}|{term}|ci_high"], "boundary": bool(d[f"{spec}|boundary"]),
             "fallback": bool(d[f"{spec}|fallback"])}
            for d in draws.to_dict("records") for spec in ("person", "grand")
            for term in ("prior", "alliance within")]
    est = pd.DataFrame(rows)
    approx = nickell_approximation(rho, n_sessions - 1)
    summ = []
    for (spec, term), g in est.groupby(["specification", "term"], sort=False):
        tr = float(g["truth"].iloc[0])
        m = float(g["estimate"].mean())
        summ.append({
            "specification": spec, "term": term, "truth": tr, "estimate": m, "bias": m - tr,
            "mc_se": float(g["estimate"].std(ddof=1) / np.sqrt(len(g))) if len(g) > 1 else np.nan,
            "relative_bias": (m - tr) / tr if tr != 0 else np.nan,
            "coverage": float(np.mean((g["ci_low"] <= tr) & (tr <= g["ci_high"]))),
            "nickell_approx": approx if (spec == "person" and term == "prior") else np.nan,
            "boundary_share": float(g["boundary"].mean()),
            "fallback_share": float(g["fallback"].mean()),
        })
    return NickellSimulation(
        title=f"Bias of the lagged-outcome model: {n_series} series x {n_sessions} sessions, "
              f"{reps} replications",
        tables={"summary": pd.DataFrame(summ), "estimates": est},
        n_obs=int(n_series * (n_sessions - 1)), n_groups={"series": int(n_series)},
        info={"n_series": n_series, "n_sessions": n_sessions, "rho": rho, "beta": beta,
              "reps": reps, "seed": seed, "feedback": feedback, "level_corr": level_corr,
              "nickell_approx": approx, "n_lagged": n_sessions - 1},
    )


# --------------------------------------------------------------------------- the analysis


def _command(source, *, read: dict, method: str = "REML", conf_level: float = 0.95,
             df: str = "satterthwaite", direction: str = "alliance->outcome",
             no_prior: bool = False, prior_centring: str = "person",
             therapist_effects: str = "intercept", no_moderator: bool = False) -> LaggedResult:
    """``alliance fit lagged FILE``: the options checked, FILE validated once (``read``: its
    input options), the fit."""
    options = _options(direction=direction, therapist_effects=therapist_effects, method=method,
                       conf_level=conf_level, df=df)
    outcome, predictors = "wellbeing", ["alliance_therapist", "alliance_patient"]
    moderator = None if no_moderator else "condition"
    data = read_sessions(source, **read, numeric=[outcome, *predictors],
                         require=[outcome, *predictors, moderator])
    return _fit_lagged(data, outcome=outcome, predictors=predictors, control_prior=not no_prior,
                       prior_centring=prior_centring, moderator=moderator, **options)


#: Lagged outcomes (chapter 6): ``alliance fit lagged`` and its report sections.
ANALYSIS = Analysis(
    name="lagged",
    help="lagged outcomes: last session's alliance and this session's well-being",
    fit=fit_lagged,
    command=_command,
    options=(
        Option("direction", "alliance at t-1 predicting well-being at t (default) or well-being "
               "at t-1 predicting each rater's alliance at t", default=DIRECTIONS[0],
               choices=DIRECTIONS),
        Option("no_prior", "do not control the prior (s-1) value of the model's outcome",
               kind="flag"),
        Option("prior_centring", "prior outcome centred on the patient's own mean (default; its "
               "own coefficient is Nickell-biased in short series) or on the grand mean",
               default="person", choices=PRIOR_CENTRINGS),
        Option("therapist_effects", "random intercept per therapist (default), none, or an "
               "intercept and the within-patient slopes of the lagged predictors "
               "(intercept+slope; intercept+slopes is accepted for one release)",
               default="intercept", choices=(*THERAPIST_EFFECTS, *_FORMER)),
        Option("no_moderator", "one set of effects instead of effects per arm", kind="flag"),
    ),
    sections=(
        Section("lagged_forward", "lagged outcomes: alliance at t-1 -> well-being at t "
                "(chapter 6)", fit=lambda data: _fit_lagged(data, direction="alliance->outcome"),
                tables={"lagged_alliance_to_wellbeing": (
                    "estimates", "Lagged effects: alliance at t−1 on well-being at t")},
                after_findings=True),
        Section("lagged_reverse", "lagged outcomes: well-being at t-1 -> alliance at t "
                "(chapter 6)", fit=lambda data: _fit_lagged(data, direction="outcome->alliance"),
                tables={"lagged_wellbeing_to_alliance": (
                    "estimates", "Lagged effects: well-being at t−1 on alliance at t")},
                figures=(Figure("lagged_effects", "plot_effects",
                                "Within- and between-patient lagged effects by arm in both "
                                "directions, in standard deviations.", of="sections"),),
                after_findings=True),
    ),
    key_estimates=(KeyEstimate("therapist's alliance at s-1, within patient, training - control",
                               "alliance_therapist (s-1) within", "training - control"),),
    example=lambda data: fit_lagged(data),
    chapter=6,
)
