r"""Linear growth of the alliance over sessions, by arm, per rater and jointly.

Single-rater model (``rater="patient"`` or ``"therapist"``), for session
:math:`s` of patient :math:`i` treated by therapist :math:`j`, with time
:math:`t = s - 1` (0 at the first session) and :math:`a_j = 1` in the training
arm:

.. math::

    y_{ijs} = \beta_0 + \beta_1 a_j + \beta_2 t + \beta_3 a_j t
        + (u_{0j} + u_{1j} t) + (v_{0i} + v_{1i} t) + \varepsilon_{ijs},

with :math:`(v_{0i}, v_{1i}) \sim N(0, G_P)` (unstructured 2 x 2, always),
:math:`\varepsilon_{ijs} \sim N(0, \sigma^2)` and therapist effects chosen by
``therapist_effects``: ``"none"`` (:math:`u \equiv 0`), ``"intercept"``
(:math:`u_{0j} \sim N(0, \tau^2)`, :math:`u_{1j} \equiv 0`) or
``"intercept+slope"`` (:math:`(u_{0j}, u_{1j}) \sim N(0, G_T)`, unstructured).
Fixed-effect names: :math:`\beta_0` ``Intercept``, :math:`\beta_1` ``training``,
:math:`\beta_2` ``time``, :math:`\beta_3` ``time:training`` (the training effect
on the growth rate, per session). In lme4 syntax:
``y ~ time * training + (1 + time | patient) + (1 | therapist)``.

Stacked model (``rater="both"``): both ratings of a session are rows of one
long outcome, with :math:`r = 1` for the therapist's rating (``therapist_rater``)
and :math:`r = 0` for the patient's. Every fixed effect of the single-rater
model gets a rater interaction (eight terms: ``Intercept``, ``therapist_rater``,
``training``, ``training:therapist_rater``, ``time``, ``time:therapist_rater``,
``time:training``, ``time:training:therapist_rater``), so the patient-rated
growth difference is ``time:training`` and the rater x condition x session
interaction ``time:training:therapist_rater`` tests whether training changed
the therapist-rated growth more than the patient-rated growth. Each patient has
four correlated random effects (an intercept and a slope for each rater:
``patient_rater``, ``therapist_rater``, ``time:patient_rater``,
``time:therapist_rater``; unstructured 4 x 4), so the two raters' levels and
growth rates may correlate within a patient; the therapist level has, per
rater, an intercept (``"intercept"``, 2 x 2) or an intercept and a slope
(``"intercept+slope"``, 4 x 4). One residual variance is shared by both raters
(lme4 has no variance functions), and the two ratings of one session are linked
only through the patient and therapist effects.

Every model is fitted by :func:`alliance.mixed.fit_lmm`, the package's
lme4-style profiled REML/ML engine: sessions in patients in therapists are
represented *exactly* as nested random effects with full covariance matrices.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from alliance._errors import AllianceWarning, DataError
from alliance._results import Result
from alliance.mixed import MixedFit, RandomTerm, fit_lmm

__all__ = [
    "RATERS",
    "SINGLE_TERMS",
    "STACKED_TERMS",
    "THERAPIST_EFFECTS",
    "GrowthResult",
    "fit_growth",
    "growth_frame",
    "plot_spaghetti",
    "plot_trajectories",
    "therapist_level_sensitivity",
]

#: ``rater`` argument -> rating column.
RATERS = {"patient": "alliance_patient", "therapist": "alliance_therapist"}
#: Allowed random-effect structures at the therapist level.
THERAPIST_EFFECTS = ("none", "intercept", "intercept+slope")
#: Fixed-effect terms of a single-rater growth model, in order.
SINGLE_TERMS = ("Intercept", "training", "time", "time:training")
#: Fixed-effect terms of the stacked (both raters) growth model, in order.
STACKED_TERMS = (
    "Intercept",
    "therapist_rater",
    "training",
    "training:therapist_rater",
    "time",
    "time:therapist_rater",
    "time:training",
    "time:training:therapist_rater",
)
_RATER_LABEL = {"patient": "patient-rated", "therapist": "therapist-rated"}


# --------------------------------------------------------------------------- data


def _raters_of(rater: str) -> list[str]:
    return ["patient", "therapist"] if rater == "both" else [rater]


def _check_args(rater: str, therapist_effects: str, method: str) -> str:
    if rater not in ("patient", "therapist", "both"):
        raise ValueError(f"rater must be 'patient', 'therapist' or 'both'; got {rater!r}")
    if therapist_effects not in THERAPIST_EFFECTS:
        raise ValueError(
            f"therapist_effects must be one of {THERAPIST_EFFECTS}; got {therapist_effects!r}"
        )
    method = str(method).upper()
    if method not in ("REML", "ML"):
        raise ValueError(f"method must be 'REML' or 'ML'; got {method!r}")
    return method


def growth_frame(data: pd.DataFrame, rater: str = "therapist") -> tuple[pd.DataFrame, dict]:
    """The rows a growth model uses, with its covariates, and what was dropped.

    Parameters
    ----------
    data : pandas.DataFrame
        Canonical long session data (as returned by :func:`alliance.read_sessions`).
    rater : {"patient", "therapist", "both"}
        Which rating is the outcome; ``"both"`` stacks the two ratings (one row
        per patient x session x rater).

    Returns
    -------
    frame : pandas.DataFrame
        Columns ``therapist``, ``patient``, ``condition``, ``session``, ``rater``,
        ``y`` (the rating), ``time`` (``session - 1``), ``training`` (1 for the
        training arm) and ``therapist_rater`` (1 for the therapist's rating).
    dropped : dict
        ``rows_in`` (input rows; for ``"both"`` ratings = 2 x rows),
        ``rows_used``, ``rows_dropped`` and ``dropped_by_rater`` (missing
        ratings, the only reason a row is dropped), and the patients left with
        no rating at all.
    """
    missing = [c for c in ("therapist", "patient", "condition", "session") if c not in data.columns]
    raters = _raters_of(rater)
    missing += [RATERS[r] for r in raters if RATERS[r] not in data.columns]
    source = data.attrs.get("source", "<DataFrame>")
    if missing:
        raise DataError(
            f"{source}: growth model needs column(s) {missing} [rule: canonical columns]; "
            "read your file with alliance.read_sessions(path, columns={...})"
        )
    bad = ~data["condition"].isin(["training", "control"])
    if bad.any():
        raise DataError(
            f"{source}: condition must be 'training' or 'control'; "
            f"{int(bad.sum())} row(s) are not [rule: known arms]"
        )
    parts = []
    dropped_by = {}
    rows_in = 0
    for r in raters:
        col = RATERS[r]
        y = pd.to_numeric(data[col], errors="coerce")
        keep = y.notna().to_numpy()
        rows_in += len(data)
        dropped_by[r] = int((~keep).sum())
        d = data.loc[keep, ["therapist", "patient", "condition", "session"]].copy()
        d["rater"] = r
        d["y"] = y[keep].to_numpy(dtype=float)
        parts.append(d)
    frame = pd.concat(parts, ignore_index=True)
    frame["time"] = frame["session"].astype(float) - 1.0
    frame["training"] = (frame["condition"] == "training").astype(float)
    frame["therapist_rater"] = (frame["rater"] == "therapist").astype(float)
    if frame.empty:
        raise DataError(f"{source}: no non-missing {'/'.join(raters)} ratings to model")
    lost = sorted(set(data["patient"]) - set(frame["patient"]))
    info = {
        "rows_in": int(rows_in),
        "rows_used": len(frame),
        "rows_dropped": int(rows_in - len(frame)),
        "dropped_by_rater": dropped_by,
        "dropped_reason": "missing rating (rows with a NaN outcome are left out; the likelihood "
        "uses every available rating, valid if missingness is at random)",
        "patients_without_ratings": len(lost),
    }
    return frame, info


def _design(frame: pd.DataFrame, rater: str, therapist_effects: str):
    t = frame["time"].to_numpy()
    a = frame["training"].to_numpy()
    one = np.ones(len(frame))
    if rater != "both":
        X = pd.DataFrame(
            {"Intercept": one, "training": a, "time": t, "time:training": t * a},
            index=frame.index,
        )
        Zp = X[["Intercept", "time"]]
        Zt = {"intercept": X[["Intercept"]], "intercept+slope": Zp}.get(therapist_effects)
    else:
        r = frame["therapist_rater"].to_numpy()
        X = pd.DataFrame(
            {
                "Intercept": one,
                "therapist_rater": r,
                "training": a,
                "training:therapist_rater": a * r,
                "time": t,
                "time:therapist_rater": t * r,
                "time:training": t * a,
                "time:training:therapist_rater": t * a * r,
            },
            index=frame.index,
        )
        Zp = pd.DataFrame(
            {
                "patient_rater": 1.0 - r,
                "therapist_rater": r,
                "time:patient_rater": t * (1.0 - r),
                "time:therapist_rater": t * r,
            },
            index=frame.index,
        )
        Zt = {
            "intercept": Zp[["patient_rater", "therapist_rater"]],
            "intercept+slope": Zp,
        }.get(therapist_effects)
    random = [RandomTerm("patient", frame["patient"].to_numpy(), Zp)]
    if Zt is not None:
        random.append(RandomTerm("therapist", frame["therapist"].to_numpy(), Zt))
    return X, random


# --------------------------------------------------------------------------- result


@dataclass
class GrowthResult(Result):
    """Result of :func:`fit_growth`.

    Attributes (besides those of :class:`alliance._results.Result`)
    ----------------------------------------------------------------
    fit : MixedFit
        The fitted mixed model (fixed effects, GLS covariance, variance
        components, log-likelihood, boundary flag, BLUPs).
    rater, therapist_effects, method : str
        The model that was fitted.
    frame : DataFrame
        The rows used (see :func:`growth_frame`).
    """

    fit: MixedFit | None = None
    rater: str = "therapist"
    therapist_effects: str = "intercept"
    method: str = "REML"
    frame: pd.DataFrame | None = field(default=None, repr=False)

    # ---- stored tables
    @property
    def fixed(self) -> pd.DataFrame:
        """Tidy fixed effects: term, estimate, se, statistic (Wald z), p, ci_low, ci_high."""
        return self.tables["fixed"]

    @property
    def variance_components(self) -> pd.DataFrame:
        """group, term1, term2, variance (covariance if term2), sd, corr; last row Residual."""
        return self.tables["variance_components"]

    def estimate(self, term: str) -> float:
        """The estimate of one fixed-effect term."""
        return float(self.fixed.set_index("term").loc[term, "estimate"])

    # ---- derived quantities
    def _raters(self) -> list[str]:
        return ["patient", "therapist"] if self.rater == "both" else [self.rater]

    def _weights(self, rater: str, training: float, time: float) -> dict:
        """Fixed-effect weights of the model-implied mean for one rater, arm and time."""
        w = {"Intercept": 1.0, "training": training, "time": time, "time:training": time * training}
        if self.rater == "both" and rater == "therapist":
            w.update(
                {
                    "therapist_rater": 1.0,
                    "training:therapist_rater": training,
                    "time:therapist_rater": time,
                    "time:training:therapist_rater": time * training,
                }
            )
        return w

    def sessions(self) -> list[int]:
        """Sessions spanned by the data used (first to last)."""
        s = self.frame["session"]
        return list(range(int(s.min()), int(s.max()) + 1))

    def trajectories(self) -> pd.DataFrame:
        """Model-implied mean rating by rater, arm and session, with Wald CIs.

        Each mean is a linear combination :math:`L\\hat\\beta` of the fixed effects
        (population-average trajectory); its SE is :math:`\\sqrt{L V L^\\top}` from
        the GLS covariance (``fit.contrast``).

        Returns
        -------
        pandas.DataFrame
            ``rater``, ``condition``, ``session``, ``term`` (a label), ``estimate``,
            ``se``, ``statistic``, ``p``, ``ci_low``, ``ci_high``.
        """
        rows, keys = {}, []
        for r in self._raters():
            for cond, a in (("control", 0.0), ("training", 1.0)):
                for s in self.sessions():
                    label = f"{r}:{cond}:{s}"
                    rows[label] = self._weights(r, a, s - 1.0)
                    keys.append((r, cond, s))
        tab = self.fit.contrast(rows).reset_index()
        tab = tab.rename(columns={"contrast": "term"})
        tab.insert(0, "session", [k[2] for k in keys])
        tab.insert(0, "condition", [k[1] for k in keys])
        tab.insert(0, "rater", [k[0] for k in keys])
        return tab

    def _G(self, group: str) -> tuple[list[str], np.ndarray] | None:
        vc = self.variance_components
        v = vc[vc["group"] == group]
        if v.empty:
            return None
        names = list(v.loc[v["term2"].isna(), "term1"])
        G = np.diag(v.loc[v["term2"].isna(), "variance"].to_numpy(dtype=float))
        for _, row in v[v["term2"].notna()].iterrows():
            i, j = names.index(row["term1"]), names.index(row["term2"])
            G[i, j] = G[j, i] = float(row["variance"])
        return names, G

    def marginal_sd(self, rater: str | None = None, session: int | None = None) -> float:
        """Model-implied SD of one rating at a session (default: the last), within arm.

        :math:`\\sqrt{z^\\top G_P z + z^\\top G_T z + \\sigma^2}` with :math:`z` the
        random-effect covariates of that rater at time :math:`t = s - 1` (intercept 1,
        slope t): the spread of single ratings around the arm's mean trajectory.
        """
        rater = rater or self._raters()[-1]
        s = self.sessions()[-1] if session is None else int(session)
        t = s - 1.0
        if self.rater == "both":
            coords = {
                "patient_rater": 1.0 - (rater == "therapist"),
                "therapist_rater": float(rater == "therapist"),
                "time:patient_rater": t * (rater != "therapist"),
                "time:therapist_rater": t * (rater == "therapist"),
            }
        else:
            coords = {"Intercept": 1.0, "time": t}
        var = float(self.fit.sigma2)
        for group in ("patient", "therapist"):
            g = self._G(group)
            if g is None:
                continue
            names, G = g
            z = np.array([coords[n] for n in names], dtype=float)
            var += float(z @ G @ z)
        return math.sqrt(var)

    def standardized_difference(self) -> pd.DataFrame:
        """The training effect at the last session as a standardised difference.

        ``d_last_session`` = (model-implied training mean - control mean at the last
        session) / SD, i.e. :math:`(\\beta_1 + \\beta_3 t_{max}) / SD`; and
        ``d_growth`` = :math:`\\beta_3 t_{max} / SD`, the part due to the growth
        difference alone (Feingold's 2009 growth-model effect size). SD is the
        model-implied SD of a single rating at the last session within an arm
        (:meth:`marginal_sd`: therapist + patient random effects at that time +
        residual), the same in both arms under the model. SEs and CIs treat SD as
        known (delta method on the numerator only).

        Returns
        -------
        pandas.DataFrame
            ``rater``, ``term``, ``estimate`` (d), ``se``, ``statistic``, ``p``,
            ``ci_low``, ``ci_high``, ``difference`` (raw scale), ``sd``, ``session``.
        """
        last = self.sessions()[-1]
        t = last - 1.0
        out = []
        for r in self._raters():
            w1 = self._weights(r, 1.0, t)
            w0 = self._weights(r, 0.0, t)
            diff = {k: w1.get(k, 0.0) - w0.get(k, 0.0) for k in set(w1) | set(w0)}
            growth = {k: v for k, v in diff.items() if k.startswith("time")}
            tab = self.fit.contrast({"d_last_session": diff, "d_growth": growth})
            sd = self.marginal_sd(r, last)
            tab = tab.reset_index().rename(columns={"contrast": "term"})
            tab["difference"] = tab["estimate"]
            for c in ("estimate", "se", "ci_low", "ci_high"):
                tab[c] = tab[c] / sd
            tab["sd"] = sd
            tab["session"] = last
            tab.insert(0, "rater", r)
            out.append(tab)
        return pd.concat(out, ignore_index=True)


# --------------------------------------------------------------------------- fitting


def fit_growth(
    data: pd.DataFrame,
    rater: str = "therapist",
    *,
    method: str = "REML",
    therapist_effects: str = "intercept",
    conf_level: float = 0.95,
) -> GrowthResult:
    r"""Fit the linear growth model of alliance ratings by arm (one rater or both).

    Model (module docstring has both forms in full): for session :math:`s`
    (column ``session``), :math:`t = s - 1`; :math:`a_j` = 1 if therapist
    :math:`j` (``therapist``) is in the ``training`` arm (``condition``);
    outcome :math:`y` = ``alliance_patient`` or ``alliance_therapist``:

    .. math::

        y_{ijs} = \beta_0 + \beta_1 a_j + \beta_2 t + \beta_3 a_j t
            + u_{0j} + u_{1j} t + v_{0i} + v_{1i} t + \varepsilon_{ijs}

    :math:`\beta_3` (``time:training``) is the training effect on the growth
    rate per session; in the stacked model (``rater="both"``)
    ``time:training:therapist_rater`` is how much larger it is for therapist
    than for patient ratings.

    Parameters
    ----------
    data : pandas.DataFrame
        Canonical long session data (:func:`alliance.read_sessions`,
        :func:`alliance.load_example`).
    rater : {"therapist", "patient", "both"}
        Outcome: one rater's alliance, or both stacked in one model.
    method : {"REML", "ML"}
        REML (default, less biased variance components) or ML (to compare
        fixed-effect structures by likelihood ratio).
    therapist_effects : {"intercept", "none", "intercept+slope"}
        Random effects at the therapist level (per rater in the stacked model).
        The patient level always has a random intercept and slope (per rater).
    conf_level : float
        Level of the Wald confidence intervals.

    Returns
    -------
    GrowthResult
        ``fixed`` (tidy: term, estimate, se, statistic = Wald z, p, ci_low,
        ci_high), ``variance_components``, ``fit`` (the :class:`MixedFit`),
        ``trajectories()``, ``standardized_difference()``, ``marginal_sd()``;
        ``info`` holds the method, log-likelihood, AIC, BIC, the rows used and
        the rows dropped (and why); ``warnings`` the fit's warnings (e.g. a
        boundary fit).

    Raises
    ------
    DataError
        Missing canonical columns, unknown arms, no ratings, or a design that
        cannot identify the model (e.g. one arm only).
    FitError
        A degenerate fit (see :func:`alliance.mixed.fit_lmm`).

    Warns
    -----
    AllianceWarning
        A boundary (singular) fit or a fallback optimizer, from the engine.

    Notes
    -----
    Rows with a missing rating are dropped (reported in ``info``); all other
    rows of a patient are used, so the estimates are likelihood-based under
    missing at random. Time is ``session - 1``, so ``training`` is the arm
    difference at the first session and ``Intercept`` the control mean there.
    Estimation is lme4's profiled REML/ML (:func:`alliance.mixed.fit_lmm`) with
    the fixed-effect covariance in the GLS form
    :math:`\hat\sigma^2(X^\top \hat V_0^{-1} X)^{-1}` and Wald z tests.

    Validated in ``tests/test_growth.py`` against lme4 1.1 (``lmer``, run by
    ``tests/r/growth_reference.R``) on the shipped synthetic data for every
    rater x therapist-level structure x criterion: fixed effects, SEs,
    variance components and log-likelihood; and by parameter recovery (CI
    coverage) on data simulated with known growth parameters.

    References
    ----------
    Bates, D., Mächler, M., Bolker, B. & Walker, S. (2015). Fitting linear
    mixed-effects models using lme4. *Journal of Statistical Software*, 67(1).
    Singer, J. D. & Willett, J. B. (2003). *Applied Longitudinal Data Analysis*.
    Oxford University Press.

    Examples
    --------
    >>> import alliance
    >>> from alliance.growth import fit_growth
    >>> data = alliance.load_example()
    >>> res = fit_growth(data, "patient")
    >>> list(res.fixed["term"])
    ['Intercept', 'training', 'time', 'time:training']
    >>> res.n_groups
    {'patient': 117, 'therapist': 40}
    """
    method = _check_args(rater, therapist_effects, method)
    source = data.attrs.get("source", "<DataFrame>")
    frame, dropped = growth_frame(data, rater)
    arms = set(frame["condition"])
    if arms != {"training", "control"}:
        raise DataError(
            f"{source}: the growth model compares arms but the rated rows hold only {sorted(arms)} "
            "[rule: both arms present]"
        )
    X, random = _design(frame, rater, therapist_effects)
    what = "both raters stacked" if rater == "both" else f"{_RATER_LABEL[rater]} alliance"
    fit = fit_lmm(
        frame["y"].to_numpy(),
        X,
        random,
        method=method,
        source=f"{source} (growth, {what})",
        conf_level=conf_level,
    )
    fixed = fit.fixed.reset_index()
    title = (
        f"Growth of {what} by arm ({method}; therapist level: {therapist_effects}; "
        f"time = session - 1)"
    )
    notes = list(fit.warnings)
    if dropped["patients_without_ratings"]:
        msg = (
            f"{dropped['patients_without_ratings']} patient(s) have no {'/'.join(_raters_of(rater))} "
            "rating at any session and are not in the model"
        )
        notes.append(msg)
        warnings.warn(f"{source}: {msg}", AllianceWarning, stacklevel=2)
    info = {
        "rater": rater,
        "outcome": "alliance_patient + alliance_therapist (stacked)"
        if rater == "both"
        else RATERS[rater],
        "method": method,
        "therapist_effects": therapist_effects,
        "time": "session - 1",
        "loglik": fit.loglik,
        "aic": fit.aic,
        "bic": fit.bic,
        "deviance": fit.deviance,
        "sigma": math.sqrt(fit.sigma2),
        "boundary": fit.boundary,
        "optimizer": fit.optimizer,
        **dropped,
    }
    return GrowthResult(
        title=title,
        tables={"fixed": fixed, "variance_components": fit.variance_components.copy()},
        n_obs=fit.n_obs,
        n_groups=dict(fit.n_groups),
        converged=bool(fit.converged),
        warnings=notes,
        info=info,
        fit=fit,
        rater=rater,
        therapist_effects=therapist_effects,
        method=method,
        frame=frame,
    )


def therapist_level_sensitivity(
    data: pd.DataFrame,
    rater: str = "therapist",
    term: str = "time:training",
    *,
    method: str = "REML",
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """One estimate under each therapist-level structure (none / intercept / intercept+slope).

    Returns
    -------
    pandas.DataFrame
        ``level`` (the ``therapist_effects`` value), ``term``, ``estimate``, ``se``,
        ``statistic``, ``p``, ``ci_low``, ``ci_high``, ``loglik``, ``aic``,
        ``boundary``. Boundary fits warn (:class:`AllianceWarning`) as in
        :func:`fit_growth`.
    """
    rows = []
    for te in THERAPIST_EFFECTS:
        res = fit_growth(data, rater, method=method, therapist_effects=te, conf_level=conf_level)
        row = res.fixed.set_index("term").loc[term].to_dict()
        rows.append(
            {
                "level": te,
                "term": term,
                **row,
                "loglik": res.fit.loglik,
                "aic": res.fit.aic,
                "boundary": res.fit.boundary,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- CLI


def cli_arguments(parser) -> None:
    """Options of ``alliance fit growth`` (FILE and --json are added by the CLI)."""
    from alliance.cli import add_column_option

    parser.add_argument(
        "--rater",
        choices=("patient", "therapist", "both"),
        default="therapist",
        help="which alliance rating to model (both: stacked model); default therapist",
    )
    parser.add_argument(
        "--method",
        type=str.lower,
        choices=("reml", "ml"),
        default="reml",
        help="REML (default) or ML",
    )
    parser.add_argument(
        "--therapist-effects",
        choices=THERAPIST_EFFECTS,
        default="intercept",
        help="random effects at the therapist level (default intercept)",
    )
    add_column_option(parser)


def cli_run(args) -> GrowthResult:
    """Read FILE with the column mapping and fit the growth model."""
    from alliance.cli import parse_columns
    from alliance.io import read_sessions

    data = read_sessions(args.file, columns=parse_columns(args.column))
    return fit_growth(
        data, args.rater, method=args.method.upper(), therapist_effects=args.therapist_effects
    )


# --------------------------------------------------------------------------- figures


def plot_trajectories(result: GrowthResult, observed: bool = True):
    """Model-implied mean trajectories by arm with confidence bands, one panel per rater.

    Bands are the pointwise Wald CIs of :meth:`GrowthResult.trajectories`; dots
    are the observed means of the rows used. Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    from alliance.plotting import ARM_COLORS, ARM_LABELS

    traj = result.trajectories()
    raters = result._raters()
    fig, axes = plt.subplots(
        1, len(raters), figsize=(4.2 * len(raters), 3.6), squeeze=False, sharey=True
    )
    for ax, r in zip(axes[0], raters):
        for cond in ("control", "training"):
            tr = traj[(traj["rater"] == r) & (traj["condition"] == cond)]
            color = ARM_COLORS[cond]
            ax.fill_between(
                tr["session"], tr["ci_low"], tr["ci_high"], color=color, alpha=0.2, lw=0
            )
            ax.plot(tr["session"], tr["estimate"], color=color, lw=2, label=ARM_LABELS[cond])
            if observed:
                f = result.frame
                m = f[(f["rater"] == r) & (f["condition"] == cond)].groupby("session")["y"].mean()
                ax.plot(m.index, m.to_numpy(), "o", color=color, ms=4, alpha=0.8)
        ax.set_xlabel("session")
        ax.set_ylabel(f"{_RATER_LABEL[r]} alliance")
        ax.set_xticks(result.sessions())
    axes[0][0].legend(loc="upper left")
    fig.tight_layout()
    return fig


def plot_spaghetti(data: pd.DataFrame, rater: str = "therapist"):
    """Every patient's observed ratings over sessions, one panel per arm (and rater).

    ``rater`` is ``"patient"``, ``"therapist"`` or ``"both"`` (two rows of panels).
    Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    from alliance.plotting import ARM_COLORS, ARM_LABELS

    if rater not in ("patient", "therapist", "both"):
        raise ValueError(f"rater must be 'patient', 'therapist' or 'both'; got {rater!r}")
    raters = ["patient", "therapist"] if rater == "both" else [rater]
    frame, _ = growth_frame(data, rater)
    fig, axes = plt.subplots(
        len(raters), 2, figsize=(8, 3.2 * len(raters)), squeeze=False, sharex=True, sharey=True
    )
    for i, r in enumerate(raters):
        for k, cond in enumerate(("control", "training")):
            ax = axes[i][k]
            d = frame[(frame["rater"] == r) & (frame["condition"] == cond)]
            for _, p in d.groupby("patient"):
                p = p.sort_values("session")
                ax.plot(
                    p["session"],
                    p["y"],
                    color=ARM_COLORS[cond],
                    alpha=0.3,
                    lw=0.8,
                    marker="o",
                    ms=2,
                )
            m = d.groupby("session")["y"].mean()
            ax.plot(m.index, m.to_numpy(), color="black", lw=2)
            ax.set_xlabel("session")
            if k == 0:
                ax.set_ylabel(f"{_RATER_LABEL[r]} alliance")
            ax.text(0.0, 1.02, ARM_LABELS[cond], transform=ax.transAxes, va="bottom", fontsize=9)
    fig.tight_layout()
    return fig
