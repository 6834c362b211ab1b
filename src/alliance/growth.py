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
``y ~ time * training + (1 + time | patient) + (1 + time | therapist)`` (the
default; ``therapist_effects="intercept"`` is ``(1 | therapist)``).

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
(``"intercept+slope"``, 4 x 4). Each rater has its own residual variance
(``residual="rater"``, the default: nlme's ``weights = varIdent(form = ~ 1 | rater)``;
the patient's variance is :math:`\sigma^2`, the therapist's :math:`\sigma^2\delta^2`);
``residual="shared"`` is lme4's single residual variance. The two ratings of one
session are linked only through the patient and therapist effects.

Tests of the fixed effects and of every derived contrast are t tests with
Satterthwaite degrees of freedom by default (``df=``, see
:mod:`alliance.mixed.inference`).

Every model is fitted by :func:`alliance.mixed.fit_lmm`, the package's
lme4-style profiled REML/ML engine: sessions in patients in therapists are
represented *exactly* as nested random effects with full covariance matrices.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from alliance.data.cells import MAX_SESSION, distinct_pairs, fail
from alliance.data.validate import _read_sessions_coded, read_sessions
from alliance.errors import AllianceWarning, FitError
from alliance.mixed import DDF_LABEL, MixedFit, RandomTerm, fit_lmm
from alliance.options import check_conf_level, check_df, check_method
from alliance.registry import Analysis, Figure, KeyEstimate, Option, Section
from alliance.results import Result, RowLog, check_tests, columns_frame

__all__ = [
    "RATERS",
    "RESIDUALS",
    "SINGLE_TERMS",
    "STACKED_TERMS",
    "THERAPIST_EFFECTS",
    "GrowthResult",
    "check_design",
    "fit_growth",
    "growth_frame",
    "therapist_level_sensitivity",
]

#: ``rater`` argument -> rating column.
RATERS = {"patient": "alliance_patient", "therapist": "alliance_therapist"}
#: Allowed random-effect structures at the therapist level.
THERAPIST_EFFECTS = ("none", "intercept", "intercept+slope")
#: Residual variance of the stacked model: one per rater (default) or one shared.
RESIDUALS = ("rater", "shared")
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
RATER_LABEL = {"patient": "patient-rated", "therapist": "therapist-rated"}


# --------------------------------------------------------------------------- data


def _raters_of(rater: str) -> list[str]:
    return ["patient", "therapist"] if rater == "both" else [rater]


def _check_args(rater: str, therapist_effects: str, method: str, residual: str = "rater") -> str:
    if rater not in ("patient", "therapist", "both"):
        raise ValueError(f"rater must be 'patient', 'therapist' or 'both'; got {rater!r}")
    if residual not in RESIDUALS:
        raise ValueError(f"residual must be one of {RESIDUALS}; got {residual!r}")
    if therapist_effects not in THERAPIST_EFFECTS:
        raise ValueError(
            f"therapist_effects must be one of {THERAPIST_EFFECTS}; got {therapist_effects!r}"
        )
    return check_method(method)


def growth_frame(data, rater: str = "therapist", *, columns=None) -> tuple[pd.DataFrame, dict]:
    """The rows a growth model uses, with its covariates, and what was dropped.

    Parameters
    ----------
    data : pandas.DataFrame or path
        Long session data (validated by :func:`alliance.read_sessions`, with
        ``columns`` mapping your column names onto the canonical ones).
    rater : {"patient", "therapist", "both"}
        Which rating is the outcome; ``"both"`` stacks the two ratings (one row
        per patient x session x rater).

    Returns
    -------
    frame : pandas.DataFrame
        Columns ``therapist``, ``patient``, ``condition``, ``session``, ``rater``,
        ``y`` (the rating), ``time`` (``session - 1``), ``training`` (1 for the
        training arm) and ``therapist_rater`` (1 for the therapist's rating).
    info : dict
        ``rows_input`` (input rows; for ``"both"`` 2 x rows, one per rating),
        ``rows_used``, ``rows_dropped`` (``"missing:<rating column>"`` -> count:
        a missing rating is the only reason a row is dropped), ``describe`` and
        ``patients_without_ratings``.
    """
    return _growth_frame(read_sessions(data, columns), rater)


def _growth_frame(data: pd.DataFrame, rater: str) -> tuple[pd.DataFrame, dict]:
    """:func:`growth_frame` on data already validated by :func:`alliance.read_sessions`."""
    return _growth_rows(data, rater)[:2]


def _growth_rows(data: pd.DataFrame, rater: str, codes: dict | None = None
                 ) -> tuple[pd.DataFrame, dict, np.ndarray, dict]:
    """:func:`_growth_frame`, the row of ``data`` each row of the frame comes from, and the
    frame's columns as the arrays it was built from (its values, without reading them back);
    ``codes``: the ids factorised by validation (``name -> (codes, distinct ids)``)."""
    codes = {k: v for k, v in (codes or {}).items() if v is not None and len(v[0]) == len(data)}
    raters = _raters_of(rater)
    ratings = [data[RATERS[r]].to_numpy(dtype=float) for r in raters]  # NaN: missing
    keep_all = [~np.isnan(v) for v in ratings]
    rows = np.concatenate([np.flatnonzero(k) for k in keep_all])
    owner_rows = np.repeat(np.arange(len(raters)), [int(k.sum()) for k in keep_all])
    # one take of the id columns for every rating kept (rater by rater), then the covariates;
    # the frame built once from its columns (each column of the data read once)
    ids = {c: data[c].array for c in ("therapist", "patient", "condition")}
    session = data["session"].to_numpy()
    columns = {
        **{c: a.take(rows) for c, a in ids.items()},
        "session": session[rows],
        "rater": pd.array(raters, dtype=ids["condition"].dtype).take(owner_rows),
        "y": np.concatenate([v[k] for v, k in zip(ratings, keep_all)]),
        "time": session.astype(float)[rows] - 1.0,
        "training": _is_training(ids["condition"], codes.get("condition"))[rows].astype(float),
        "therapist_rater": (np.asarray(raters)[owner_rows] == "therapist").astype(float),
    }
    frame = columns_frame(columns, index=pd.RangeIndex(len(rows)))  # copies the columns
    if frame.empty:
        raise fail(data.attrs.get("source", "<DataFrame>"), "ratings to model",
                   f"no non-missing {'/'.join(RATERS[r] for r in raters)} rating to model")
    log = RowLog(len(data) * len(raters))
    missing = np.concatenate([~k for k in keep_all])
    owner = np.repeat(np.arange(len(raters)), len(data))
    for k, r in enumerate(raters):
        log.drop(missing & (owner == k), f"missing:{RATERS[r]}",
                 f"{RATERS[r]} missing (the likelihood uses every available rating; valid if "
                 "missingness is at random)")
    if "patient" in codes:  # distinct codes: distinct ids
        pcodes, distinct = codes["patient"]
        lost = len(distinct) - np.count_nonzero(np.bincount(pcodes[rows], minlength=len(distinct)))
    else:
        patients = ids["patient"].to_numpy()  # ids are never missing (read_sessions)
        lost = len(set(patients)) - len(set(patients[rows]))  # kept ones are a subset
    return frame, {**log.info(), "patients_without_ratings": int(lost)}, rows, columns


def _is_training(condition, coded: tuple | None) -> np.ndarray:
    """Each row's arm is ``"training"``: on validation's codes of the arms when given (each
    distinct arm compared once), else cell by cell."""
    if coded is None:
        return condition.to_numpy() == "training"
    codes, distinct = coded  # (a code -1, no arm: the False appended)
    return np.array([a == "training" for a in distinct] + [False], dtype=bool)[codes]


def check_design(frame: pd.DataFrame, therapist_effects: str, source, *,
                 codes: dict | None = None, columns: dict | None = None) -> None:
    """The minimum design a growth model needs, checked before it is fitted (per rater and arm).

    * with therapist effects (``"intercept"``, ``"intercept+slope"``): at least two
      therapists with ratings in each arm -- the arm difference is tested against the
      variation between therapists within an arm, which one therapist cannot show;
    * at least two patients in each arm rated at two or more sessions -- each patient
      has a random slope, and an arm's growth rate needs repeated ratings of more
      than one patient;
    * with a therapist slope (``"intercept+slope"``): at least two therapists in each
      arm whose patients were rated at two or more sessions -- the arm difference in
      growth is tested against the variation of growth between therapists.

    Raises :class:`~alliance.FitError` naming the arm, the count and the rule (a fit
    of such a design gives degrees of freedom near zero and p near 1, which look
    like a result). ``codes`` may give the ``patient`` and ``therapist`` of each row
    factorised already (non-negative integers; only which rows share one matters), and
    ``columns`` the frame's ``rater``, ``condition`` and ``session`` columns as arrays.
    """
    codes = codes or {}
    columns = columns or frame
    rater = np.asarray(columns["rater"], dtype=object)
    arm = np.asarray(columns["condition"], dtype=object)
    patient, therapist = (codes[c] if c in codes else pd.factorize(frame[c].to_numpy())[0]
                          for c in ("patient", "therapist"))
    session = np.asarray(columns["session"])  # whole sessions from 1 (validated) serve as codes
    if not (session.dtype.kind in "iu" and session.size and 0 <= session.min()
            and session.max() <= MAX_SESSION):
        session = pd.factorize(session)[0]
    for r in pd.unique(rater):
        of_rater = rater == r
        who = f"{r} ratings"
        for a in ("control", "training"):
            rows = of_rater & (arm == a)
            if therapist_effects != "none":
                n = _count_at_least(therapist[rows], None, 1)
                if n < 2:
                    raise FitError(
                        f"{source}: the {a} arm has {n} therapist(s) with {who}; the growth "
                        "model tests the arm difference against the variation between therapists "
                        "within an arm, which needs at least 2 therapists per arm "
                        "[rule: at least 2 therapists per arm]")
            n = _count_at_least(patient[rows], session[rows], 2)
            if n < 2:
                raise FitError(
                    f"{source}: the {a} arm has {n} patient(s) with {who} at 2 or more "
                    "sessions; growth (a random slope per patient) needs at least 2 such patients "
                    "per arm [rule: at least 2 patients per arm rated at 2 or more sessions]")
            if therapist_effects == "intercept+slope":
                n = _count_at_least(therapist[rows], session[rows], 2)
                if n < 2:
                    raise FitError(
                        f"{source}: the {a} arm has {n} therapist(s) whose patients have {who} "
                        "at 2 or more sessions; a therapist slope (therapist_effects="
                        "'intercept+slope') needs at least 2 such therapists per arm "
                        "[rule: at least 2 therapists per arm rated at 2 or more sessions]")


def _count_at_least(owner: np.ndarray, member: np.ndarray | None, k: int) -> int:
    """How many distinct ``owner`` codes have at least ``k`` distinct ``member`` codes (or,
    without ``member``, how many distinct owners there are)."""
    if owner.size == 0:
        return 0
    if member is None:
        return int(np.count_nonzero(np.bincount(owner)))
    pairs, width = distinct_pairs(owner, member)
    return int((np.bincount(pairs // width) >= k).sum())


def _design(frame: pd.DataFrame, rater: str, therapist_effects: str,
            session_effect: bool = False, groups: dict | None = None,
            columns: dict | None = None):
    """The fixed-effect design and the random terms of a growth model on ``frame``;
    ``groups``: the patient and therapist of every row as categoricals (validation's
    factorisation of the ids), else read from ``frame``; ``columns``: the frame's columns
    as arrays (:func:`_growth_rows`), else read from it."""
    groups = groups or {}
    columns = columns or frame
    t = np.asarray(columns["time"])
    a = np.asarray(columns["training"])
    one = np.ones(len(frame))
    idx = frame.index
    if rater != "both":
        X = columns_frame({"Intercept": one, "training": a, "time": t, "time:training": t * a},
                          index=idx)
        Zp = columns_frame({"Intercept": one, "time": t}, index=idx)
        Zt = (columns_frame({"Intercept": one}, index=idx) if therapist_effects == "intercept"
              else Zp if therapist_effects == "intercept+slope" else None)
    else:
        r = np.asarray(columns["therapist_rater"])
        X = columns_frame(
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
            index=idx,
        )
        pr = 1.0 - r
        Zp = columns_frame(
            {
                "patient_rater": pr,
                "therapist_rater": r,
                "time:patient_rater": t * pr,
                "time:therapist_rater": t * r,
            },
            index=idx,
        )
        Zt = (columns_frame({"patient_rater": pr, "therapist_rater": r}, index=idx)
              if therapist_effects == "intercept"
              else Zp if therapist_effects == "intercept+slope" else None)
    def ids(c):
        return groups[c] if c in groups else frame[c].to_numpy()

    random = [RandomTerm("patient", ids("patient"), Zp)]
    if Zt is not None:
        random.append(RandomTerm("therapist", ids("therapist"), Zt))
    if session_effect:
        ids = frame["patient"].astype(str) + "\r" + frame["session"].astype(str)
        random.append(RandomTerm("session", ids.to_numpy()))
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

    TABLE_ALIASES: ClassVar[dict[str, str]] = {"fixed": "estimates"}

    fit: MixedFit | None = None
    rater: str = "therapist"
    therapist_effects: str = "intercept+slope"
    method: str = "REML"
    residual: str = "shared"
    frame: pd.DataFrame | None = field(default=None, repr=False)

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
        s = self.frame["session"].to_numpy()
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
        tab = self.fit.contrast(rows)
        tab.insert(0, "session", [k[2] for k in keys])
        tab.insert(0, "condition", [k[1] for k in keys])
        tab.insert(0, "rater", [k[0] for k in keys])
        return tab

    def _G(self, group: str, columns: tuple | None = None) -> tuple[list[str], np.ndarray] | None:
        """``group``'s random-effect names and covariance matrix (None: no such group);
        ``columns``: :meth:`_vc_columns`, when several groups are read."""
        groups, term1, term2, variance = self._vc_columns() if columns is None else columns
        sel = groups == group
        if not sel.any():
            return None
        t1, t2 = term1[sel], term2[sel]
        var = variance[sel]
        diag = pd.isna(t2)
        names = list(t1[diag])
        G = np.diag(var[diag])
        for a, b, v in zip(t1[~diag], t2[~diag], var[~diag]):
            i, j = names.index(a), names.index(b)
            G[i, j] = G[j, i] = float(v)
        return names, G

    def _vc_columns(self) -> tuple:
        """The variance components' group, term1, term2 and variance columns, as arrays."""
        vc = self.tables["variance_components"]
        return (vc["group"].to_numpy(), vc["term1"].to_numpy(), vc["term2"].to_numpy(),
                vc["variance"].to_numpy(dtype=float))

    def marginal_sd(self, rater: str | None = None, session: int | None = None) -> float:
        """Model-implied SD of one rating at a session (default: the last), within arm.

        :math:`\\sqrt{z^\\top G_P z + z^\\top G_T z + \\sigma^2}` (plus the session
        variance with ``session_effect``; :math:`\\sigma^2` the rater's own) with :math:`z` the
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
        rv = self.fit.residual_variances
        var = float(self.fit.sigma2 if rv is None else rv[rater])
        coords = ({**coords, "Intercept": coords.get("Intercept", 1.0)} if self.rater == "both"
                  else coords)
        columns = self._vc_columns()
        for group in ("patient", "therapist", "session"):
            g = self._G(group, columns)
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
    data,
    rater: str = "therapist",
    *,
    columns=None,
    method: str = "REML",
    therapist_effects: str = "intercept+slope",
    conf_level: float = 0.95,
    df: str = "satterthwaite",
    residual: str = "rater",
    session_effect: bool = False,
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
    data : pandas.DataFrame or path
        Long session data: a file or a DataFrame, validated by
        :func:`alliance.read_sessions` (e.g. :func:`alliance.load_example`).
    rater : {"therapist", "patient", "both"}
        Outcome: one rater's alliance, or both stacked in one model.
    columns : mapping, optional
        ``{canonical: yours}`` for columns named differently from the canonical
        schema (as :func:`alliance.read_sessions`).
    method : {"REML", "ML"}
        REML (default, less biased variance components) or ML (to compare
        fixed-effect structures by likelihood ratio).
    therapist_effects : {"intercept+slope", "intercept", "none"}
        Random effects at the therapist level (per rater in the stacked model). The
        default, a random intercept and slope of time per therapist, is the model
        of a trial that randomises therapists: the arm difference in growth is then
        tested against the variation of growth between therapists, the unit of
        randomisation (with a therapist intercept only, that test rejects too often
        when therapists' growth rates vary; chapter 7's ``null_therapist_slopes``
        study). A slope variance estimated at zero is kept and reported as a
        boundary fit, never dropped. The patient level always has a random
        intercept and slope (per rater).
    conf_level : float
        Level of the confidence intervals.
    df : {"satterthwaite", "kenward-roger", "z"}
        Tests of the fixed effects and of every derived contrast (trajectories,
        standardised differences): t tests with Satterthwaite (default) or
        Kenward-Roger (REML only) degrees of freedom, or Wald z. With 40 therapists
        the z test is liberal for arm effects on slopes.
    residual : {"rater", "shared"}
        Stacked model only: a residual variance per rater (default; nlme's
        ``varIdent``) or one shared by both (lme4's model).
    session_effect : bool
        Stacked model only: a random intercept per patient x session (group
        ``session``), the part of a session both raters share. Without it the two
        ratings of a session are independent given the patient and therapist effects;
        when they are positively correlated (a session that went well for both), the
        model overstates the SE of rater contrasts such as the three-way interaction
        (about 12% in the book's simulations with rater-specific residuals; the test is
        then conservative), and this term removes most of that (tests/test_growth.py).

    Returns
    -------
    GrowthResult
        ``estimates`` (``tables["estimates"]``, called ``fixed`` until this release, a name
        still accepted: term, estimate, se, statistic (t or z),
        df, p, ci_low, ci_high), ``tables["variance_components"]`` (with one
        ``Residual`` row per rater under ``residual="rater"``), ``fit`` (the
        :class:`MixedFit`),
        ``trajectories()``, ``standardized_difference()``, ``marginal_sd()``;
        ``info`` holds the method, log-likelihood, AIC, BIC, the rows used and
        the rows dropped (and why); ``warnings`` the fit's warnings (e.g. a
        boundary fit).

    Raises
    ------
    DataError
        Any rule of the data model (:func:`alliance.read_sessions`), no ratings,
        or a design that cannot identify the model (e.g. one arm only).
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
    :math:`\hat\sigma^2(X^\top \hat V_0^{-1} X)^{-1}`; tests are t tests with
    Satterthwaite degrees of freedom unless ``df`` says otherwise.

    Validated in ``tests/test_growth.py`` against lme4 1.1 (``lmer``, run by
    ``tests/r/growth_reference.R``) on the shipped synthetic data for every
    rater x therapist-level structure x criterion (stacked model with
    ``residual="shared"``): fixed effects, SEs, variance components and
    log-likelihood; the stacked model with rater-specific residual variances
    against ``nlme::lme`` with ``varIdent`` (``tests/r/varident_reference.R``);
    the degrees of freedom against lmerTest and pbkrtest
    (``tests/r/ddf_reference.R``); and by parameter recovery (CI coverage, type I
    error of the df-corrected tests) on data simulated with known growth
    parameters.

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
    >>> res = fit_growth(data, "therapist")
    >>> list(res.estimates["term"])
    ['Intercept', 'training', 'time', 'time:training']
    >>> res.n_groups
    {'patient': 117, 'therapist': 40}
    """
    method = _check_args(rater, therapist_effects, method, residual)  # options before the data
    check_conf_level(conf_level)
    check_df(df, method=method)
    data, codes = _read_sessions_coded(data, columns)
    return _fit_growth(data, rater, method=method, therapist_effects=therapist_effects,
                       conf_level=conf_level, df=df, residual=residual,
                       session_effect=session_effect, codes=codes)


def _fit_growth(data: pd.DataFrame, rater: str = "therapist", *, method: str = "REML",
                therapist_effects: str = "intercept+slope", conf_level: float = 0.95,
                df: str = "satterthwaite", residual: str = "rater",
                session_effect: bool = False, codes: dict | None = None) -> GrowthResult:
    """:func:`fit_growth` on data already validated by :func:`alliance.read_sessions` (the
    door of every public analysis): callers that validated once call this (``codes``: the
    ids' factorisations that validation made, when the caller has them)."""
    method = _check_args(rater, therapist_effects, method, residual)
    conf_level = check_conf_level(conf_level)
    df = check_df(df, method=method)
    if session_effect and rater != "both":
        raise ValueError("session_effect needs both raters (rater='both'): with one rating per "
                         "session a session effect is the residual")
    source = data.attrs["source"]
    frame, dropped, rows, columns = _growth_rows(data, rater, codes)
    by_rater = rater == "both" and residual == "rater"
    arms = set(np.asarray(columns["condition"], dtype=object))
    if arms != {"training", "control"}:
        raise fail(source, "both arms present",
                   f"the growth model compares arms but the rated rows hold only {sorted(arms)}")
    what = "both raters stacked" if rater == "both" else f"{RATER_LABEL[rater]} alliance"
    given = {c: v[0][rows] for c, v in (codes or {}).items()
             if c in ("patient", "therapist") and v is not None and len(v[0]) == len(data)}
    check_design(frame, therapist_effects, f"{source} (growth, {what})", codes=given,
                 columns=columns)
    # the patients and therapists as validation coded them (read from their codes by the fit)
    cats = {c: pd.Categorical.from_codes(given[c], categories=pd.Index(codes[c][1], dtype=object))
            for c in given}
    X, random = _design(frame, rater, therapist_effects, session_effect, cats, columns)
    fit = fit_lmm(
        columns["y"],
        X,
        random,
        method=method,
        source=f"{source} (growth, {what})",
        conf_level=conf_level,
        df=df,
        residual_groups=np.asarray(columns["rater"], dtype=object) if by_rater else None,
    )
    check_tests(fit.estimates, source, f"growth, {what}")
    fixed = fit.estimates.copy()
    title = (
        f"Growth of {what} by arm ({method}; therapist level: {therapist_effects}; "
        + ("residual variance per rater; " if by_rater else "")
        + ("session effect; " if session_effect else "")
        + f"time = session - 1; {DDF_LABEL[fit.ddf]})"
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
        "residual": "rater" if by_rater else "shared",
        "session_effect": bool(session_effect),
        "residual_sd": ({k: math.sqrt(v) for k, v in fit.residual_variances.items()}
                        if by_rater else {r: math.sqrt(fit.sigma2) for r in _raters_of(rater)}),
        "df": fit.ddf,
        "boundary": fit.boundary,
        "optimizer": fit.optimizer,
        **dropped,
    }
    res = GrowthResult(
        title=title,
        tables={"estimates": fixed, "variance_components": fit.variance_components.copy()},
        n_obs=fit.n_obs,
        n_groups=dict(fit.n_groups),
        converged=bool(fit.converged),
        warnings=notes,
        info=info,
        fit=fit,
        rater=rater,
        therapist_effects=therapist_effects,
        method=method,
        residual="rater" if by_rater else "shared",
        frame=frame,
    )
    # the SD of one rating at the last session, per rater (the scale of standardised effects
    # and of the plan's equivalence margin; :meth:`GrowthResult.marginal_sd`)
    res.info["last_session"] = res.sessions()[-1]
    res.info["marginal_sd_last"] = {r: res.marginal_sd(r) for r in _raters_of(rater)}
    return res


def therapist_level_sensitivity(
    data,
    rater: str = "therapist",
    term: str = "time:training",
    *,
    columns=None,
    method: str = "REML",
    conf_level: float = 0.95,
    df: str = "satterthwaite",
    residual: str = "rater",
) -> pd.DataFrame:
    """One estimate under each therapist-level structure (none / intercept / intercept+slope).

    With a therapist slope (``intercept+slope``) the arms' growth rates vary by
    therapist beyond the patients in them, so the arm difference in growth is tested
    against that between-therapist variance (the unit of randomisation).

    Returns
    -------
    pandas.DataFrame
        ``level`` (the ``therapist_effects`` value), ``term``, ``estimate``, ``se``,
        ``statistic``, ``df``, ``p``, ``ci_low``, ``ci_high``, ``loglik``, ``aic``,
        ``boundary``, ``converged``. Boundary fits warn (:class:`AllianceWarning`) as in
        :func:`fit_growth`.
    """
    _check_args(rater, "intercept", method, residual)
    data = read_sessions(data, columns)
    rows = []
    for te in THERAPIST_EFFECTS:
        res = _fit_growth(data, rater, method=method, therapist_effects=te,
                          conf_level=conf_level, df=df, residual=residual)
        row = res.rows(term=term).iloc[0].drop("term").to_dict()
        rows.append(
            {
                "level": te,
                "term": term,
                **row,
                "loglik": res.fit.loglik,
                "aic": res.fit.aic,
                "boundary": res.fit.boundary,
                "converged": res.fit.converged,
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- the analysis


def _command(source, *, read: dict, rater: str = "therapist", method: str = "REML",
             conf_level: float = 0.95, df: str = "satterthwaite",
             therapist_effects: str = "intercept+slope", residual: str = "rater") -> GrowthResult:
    """``alliance fit growth FILE``: the options checked, FILE validated once (``read``: its
    input options), the fit."""
    method = _check_args(rater, therapist_effects, method, residual)
    check_conf_level(conf_level)
    check_df(df, method=method)
    return _fit_growth(read_sessions(source, **read), rater, method=method,
                       therapist_effects=therapist_effects, conf_level=conf_level, df=df,
                       residual=residual)


#: The growth models (chapter 3): ``alliance fit growth``, their sections of ``alliance
#: report`` (the book's specification of each, :data:`alliance.findings.PAPER_MODELS`).
ANALYSIS = Analysis(
    name="growth",
    help="linear growth of the alliance by arm",
    fit=fit_growth,
    command=_command,
    options=(
        Option("rater", "which alliance rating to model (both: stacked model); default therapist",
               default="therapist", choices=("patient", "therapist", "both")),
        Option("therapist_effects", "random effects at the therapist level (default "
               "intercept+slope: growth varies by therapist, the unit of randomisation, and the "
               "arm difference in growth is tested against that variation; intercept or none "
               "for comparison)", default="intercept+slope", choices=THERAPIST_EFFECTS),
        Option("residual", "stacked model (--rater both): a residual variance per rater "
               "(default) or one shared by both", default="rater", choices=RESIDUALS),
    ),
    sections=(
        Section("growth_therapist", "growth of therapist-rated alliance by arm (chapter 3)",
                model="growth_therapist",
                tables={"growth_therapist": ("estimates", "Growth of therapist-rated alliance")}),
        Section("growth_patient", "growth of patient-rated alliance by arm (chapter 3)",
                model="growth_patient",
                tables={"growth_patient": ("estimates", "Growth of patient-rated alliance")}),
        Section("growth_both", "stacked growth model of both raters (chapter 3)",
                model="growth_both",
                tables={"growth_both": ("estimates", "Stacked growth model of both raters"),
                        "growth_trajectories": (GrowthResult.trajectories,
                                                "Model-implied trajectories")},
                figures=(Figure("growth_trajectories", "plot_trajectories",
                                "Model-implied mean alliance by arm over sessions from the "
                                "stacked growth model, with confidence bands; dots are "
                                "observed means."),)),
    ),
    key_estimates=(KeyEstimate("growth difference per session (training - control)",
                               "time:training"),),
    example=lambda data: fit_growth(data, "therapist"),
    chapter=3,
)
