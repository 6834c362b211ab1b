r"""Fitting response surface models: single level (OLS), multilevel (via ``fit_lmm``), lagged, moderated."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from alliance._checks import source_of
from alliance._errors import AllianceWarning, DataError, FitError
from alliance._results import Result
from alliance.lags import lag as build_lag
from alliance.rsa.surface import (
    COEF_NAMES,
    QUANTITIES,
    SURFACE_L,
    _surface_cov,
    congruence_checklist,
    wald_table,
)

__all__ = ["MODELS", "RSAResult", "fit_rsa", "regions_of_significance"]

#: The constrained model family: name -> (description, columns of the reduced design as
#: (label, weights on (X, Y, X2, XY, Y2)), ...). Each reduced column is a linear
#: combination of the five full terms, so b = C c maps the reduced coefficients c back.
MODELS: dict[str, tuple[str, tuple]] = {
    "null": ("intercept only (no surface)", ()),
    "additive": ("additive: b1, b2 free; no quadratic terms",
                 (("x", (1, 0, 0, 0, 0)), ("y", (0, 1, 0, 0, 0)))),
    "IA": ("interaction: b1, b2, b4 free; b3 = b5 = 0",
           (("x", (1, 0, 0, 0, 0)), ("y", (0, 1, 0, 0, 0)), ("xy", (0, 0, 0, 1, 0)))),
    "SQD": ("squared difference: z = b0 + b3 (X - Y)^2",
            (("(x-y)^2", (0, 0, 1, -2, 1)),)),
    "SSQD": ("shifted squared difference: b1 = -b2, b3 = b5 = -b4/2",
             (("x-y", (1, -1, 0, 0, 0)), ("(x-y)^2", (0, 0, 1, -2, 1)))),
    "RR": ("rising ridge: b1 = b2, b3 = b5 = -b4/2",
           (("x+y", (1, 1, 0, 0, 0)), ("(x-y)^2", (0, 0, 1, -2, 1)))),
    "SRR": ("shifted rising ridge: b1, b2 free; b3 = b5 = -b4/2",
            (("x", (1, 0, 0, 0, 0)), ("y", (0, 1, 0, 0, 0)), ("(x-y)^2", (0, 0, 1, -2, 1)))),
    "full": ("full second-order polynomial",
             tuple((n, tuple(float(i == j) for j in range(5))) for i, n in enumerate(COEF_NAMES))),
}

#: Nested pairs tested by likelihood ratio (smaller, larger), besides every model against full.
NESTED_PAIRS = (
    ("null", "SQD"), ("SQD", "SSQD"), ("SQD", "RR"), ("SSQD", "SRR"), ("RR", "SRR"),
    ("null", "additive"), ("additive", "IA"), ("additive", "SRR"), ("IA", "full"), ("SRR", "full"),
)


# --------------------------------------------------------------------------- results


@dataclass
class RSAResult(Result):
    """Result of :func:`fit_rsa`.

    Tables (tidy DataFrames): ``surface`` (a1-a5, stationary point, principal
    axes, eigenvalues, shifts; with ``level`` when a moderator is given: one block
    per level and, for a binary moderator, ``difference``), ``coefficients`` (every
    fixed effect), ``checklist`` (Humberg et al. 2019, per level), ``models``
    (single level without moderator: the constrained family with AICc weights and
    likelihood-ratio tests), ``model_tests``, ``variance_components`` (multilevel),
    ``regions`` (continuous moderator).
    """

    beta: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    cov: pd.DataFrame = field(default_factory=pd.DataFrame)
    levels: dict = field(default_factory=dict)  # level label -> M (5 x p) mapping beta -> b
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)  # analysis rows (centred x, y, z)
    fit: object = None  # the MixedFit (multilevel) or None

    def coef(self, level=None) -> pd.Series:
        """b1..b5 of one level (the only level when there is no moderator)."""
        M = self._M(level)
        return pd.Series(M @ self.beta.to_numpy(), index=list(COEF_NAMES))

    def _M(self, level):
        if level is None:
            if len(self.levels) != 1:
                raise ValueError(f"choose a level: {list(self.levels)}")
            level = next(iter(self.levels))
        if level not in self.levels:
            raise KeyError(f"no level {level!r}; levels are {list(self.levels)}")
        return self.levels[level]

    def surface(self, level=None) -> pd.DataFrame:
        """The surface table of one level."""
        t = self.tables["surface"]
        if "level" not in t:
            return t.copy()
        if level is None:
            raise ValueError(f"choose a level: {list(t['level'].unique())}")
        return t[t["level"] == str(level)].reset_index(drop=True)

    def intercept(self, level=None) -> float:
        """Predicted outcome at X = Y = centre for a level, covariates at their means."""
        return float(self.info["surface_intercepts"][self._label(level)])

    def _label(self, level):
        if level is None:
            return next(iter(self.levels))
        return level

    def predict_surface(self, X, Y, level=None) -> np.ndarray:
        """Outcome predicted by the surface of a level at raw predictor values X, Y."""
        cx, cy = self.info["center_x"], self.info["center_y"]
        b = self.coef(level).to_numpy()
        x = np.asarray(X, float) - cx
        y = np.asarray(Y, float) - cy
        return self.intercept(level) + b[0] * x + b[1] * y + b[2] * x * x + b[3] * x * y + b[4] * y * y


# --------------------------------------------------------------------------- helpers



def _numeric_col(d: pd.DataFrame, col: str, source: str) -> pd.Series:
    s = d[col]
    if pd.api.types.is_bool_dtype(s):
        return s.astype(float)
    try:
        return pd.to_numeric(s, errors="raise").astype(float)
    except (TypeError, ValueError):
        raise DataError(
            f"{source}: column '{col}' must be numeric for a response surface model "
            "[rule: numeric predictors, outcome and covariates]"
        ) from None


def _ols(y: np.ndarray, X: np.ndarray, se: str):
    """OLS with classical, HC0 or ML covariance; returns beta, cov, loglik, rss."""
    n, p = X.shape
    Q, R = np.linalg.qr(X)
    if np.linalg.matrix_rank(R) < p:
        raise DataError("the design matrix is rank deficient (a predictor is a linear function of others)")
    beta = np.linalg.solve(R, Q.T @ y)
    e = y - X @ beta
    rss = float(e @ e)
    if rss <= 1e-24 * max(1.0, float(y @ y)):
        raise FitError("the outcome is an exact function of the predictors (zero residual variance)")
    Rinv = np.linalg.inv(R)
    XtXi = Rinv @ Rinv.T
    if se == "classical":
        cov = XtXi * rss / (n - p)
    elif se == "ml":
        cov = XtXi * rss / n
    elif se == "hc0":
        Xe = X * e[:, None]
        cov = XtXi @ (Xe.T @ Xe) @ XtXi
    else:  # pragma: no cover - validated earlier
        raise ValueError(se)
    loglik = -0.5 * n * (math.log(2.0 * math.pi * rss / n) + 1.0)
    return beta, cov, loglik, rss


def _parse_center(center):
    if center is None:
        return "none"
    if isinstance(center, str):
        c = center.strip().lower()
        if c in ("pooled", "none", "variablewise"):
            return c
        try:
            return float(c)
        except ValueError:
            raise ValueError(
                f"center must be 'pooled', 'none', 'variablewise' or a number; got {center!r}"
            ) from None
    return float(center)


def regions_of_significance(c0, c1, v00, v01, v11, conf_level: float = 0.95) -> dict:
    r"""Values of a continuous moderator g where :math:`c_0 + c_1 g` differs from 0.

    With :math:`\mathrm{Var} = v_{00} + 2 g v_{01} + g^2 v_{11}`, the boundaries solve
    :math:`(c_0 + c_1 g)^2 = z^2_{crit}\,\mathrm{Var}(g)` (Johnson-Neyman; Bauer &
    Curran 2005). Returns ``lower``, ``upper`` (NaN if none) and ``inside`` (True if
    the effect is significant *between* the bounds, False if outside them).
    """
    z2 = stats.norm.ppf(0.5 + conf_level / 2.0) ** 2
    A = c1 * c1 - z2 * v11
    B = 2.0 * (c0 * c1 - z2 * v01)
    C = c0 * c0 - z2 * v00
    disc = B * B - 4.0 * A * C
    if A == 0 or disc < 0:
        # significant everywhere (C > 0 and A >= 0) or nowhere
        return {"lower": np.nan, "upper": np.nan, "inside": None,
                "everywhere": bool(A >= 0 and C > 0 and disc < 0)}
    r = np.sort([(-B - math.sqrt(disc)) / (2 * A), (-B + math.sqrt(disc)) / (2 * A)])
    return {"lower": float(r[0]), "upper": float(r[1]), "inside": bool(A < 0), "everywhere": False}


# --------------------------------------------------------------------------- the fit


def fit_rsa(
    data: pd.DataFrame,
    outcome: str,
    x: str,
    y: str | None = None,
    *,
    group: str | Sequence[str] | None = None,
    time: str | None = None,
    lag: int | None = None,
    lag_within: str | None = None,
    prior_outcome: bool = False,
    moderator: str | None = None,
    moderator_levels: Sequence | None = None,
    at: Sequence[float] | None = None,
    covariates: Iterable[str] = (),
    center="pooled",
    se: str | None = None,
    random: str = "intercept",
    level2_means: bool = False,
    y_as_group_mean: bool = False,
    method: str = "ML",
    conf_level: float = 0.95,
) -> RSAResult:
    r"""Response surface analysis of ``outcome`` on two commensurable predictors.

    Model (row :math:`i` in group :math:`j`; :math:`X, Y` the predictors centred on a
    common value :math:`c`, ``x - c`` and ``y - c``):

    .. math::

        z_{ij} = b_0 + b_1 X_{ij} + b_2 Y_{ij} + b_3 X_{ij}^2 + b_4 X_{ij}Y_{ij}
                 + b_5 Y_{ij}^2 + \gamma^\top w_{ij} + u_{0j}
                 + \textstyle\sum_k u_{kj} T_{k,ij} + \varepsilon_{ij}

    with ``outcome`` = :math:`z`, covariates :math:`w`, a random intercept
    :math:`u_{0j}` per ``group`` (multilevel) and, with ``random="full"``, random
    slopes :math:`u_{kj}` of the five polynomial terms :math:`T_k`. Without
    ``group`` the model is fitted by OLS. Surface parameters follow from
    :math:`b_1..b_5` (:func:`alliance.rsa.surface_parameters`).

    Parameters
    ----------
    data : pandas.DataFrame
        Long data (any column names; not modified).
    outcome, x, y : str
        Outcome :math:`z` and the two commensurable predictors (:math:`X` first: in
        the book the therapist's rating, :math:`Y` the patient's).
    group : str or list of str, optional
        Grouping column(s) for random intercepts, outermost first (e.g.
        ``["therapist", "patient"]``). Random slopes (``random="full"``) and
        ``level2_means`` refer to the last (innermost) one. ``None``: single level.
    time, lag : str, int, optional
        Lagged surface: :math:`X, Y` (and, with ``prior_outcome``, the outcome) are
        taken ``lag`` sessions earlier from the *same* unit of the innermost
        ``group`` (built by :func:`alliance.lags.lag`: never across units or gaps).
    lag_within : str, optional
        Unit the lags stay within, if not the innermost ``group`` (needed for a
        single-level lagged fit, e.g. ``lag_within="patient"`` without ``group``).
    prior_outcome : bool
        With ``lag``: add the outcome ``lag`` sessions earlier as a covariate.
    moderator : str, optional
        A binary moderator (two distinct values; ``moderator_levels`` fixes the
        reference and focal level, default sorted order) gives one surface per level
        (pick-a-point) and their difference; a numeric moderator with more values
        interacts linearly (the five terms x :math:`g`), surfaces are picked at ``at``
        (default mean - SD, mean, mean + SD over rows) and regions of significance of
        a1-a5 are reported.
    covariates : iterable of str
        Numeric control variables (entered linearly).
    center : {"pooled", "none", "variablewise"} or float
        Common centre :math:`c`: the pooled mean of ``x`` and ``y`` over the rows
        used (default), none (0), a number (e.g. the scale midpoint), or each
        predictor its own mean (discouraged: it shifts the line of congruence; warns).
    se : {"hc0", "classical", "ml"}, optional
        Single level only: the HC0 sandwich (default; the RSA package's lavaan
        ``MLR`` default), classical OLS, or ML (classical x sqrt((n - p)/n), lavaan's
        ``ML``). Multilevel fits always use the GLS covariance
        :math:`\hat\sigma^2(X^\top \hat V_0^{-1}X)^{-1}` of :func:`alliance.mixed.fit_lmm`.
    random : {"intercept", "full"}
        Random intercept only, or also random slopes of the five polynomial terms
        (unstructured covariance) for the innermost group.
    level2_means : bool
        Add the innermost group's means of the five terms as fixed level-2
        predictors (Nestler et al. 2019): the surface then describes within-group
        associations.
    y_as_group_mean : bool
        Build :math:`Y` as the innermost group's mean of ``x`` (an individual value and
        its group's average: the L1/L2 design of Humberg & Nestler); ``y`` must be None.
    method : {"ML", "REML"}
        Multilevel criterion (ML by default, as Nestler et al.).
    conf_level : float
        Level of the Wald z confidence intervals.

    Returns
    -------
    RSAResult
        See :class:`RSAResult`. ``info`` records the centre, rows used and dropped
        (and why), the method, log-likelihood and AIC.

    Raises
    ------
    DataError
        Missing or non-numeric columns, a moderator with more than two non-numeric
        levels, too few complete rows.
    FitError
        A degenerate fit (from :func:`alliance.mixed.fit_lmm`, or zero residual variance).

    Notes
    -----
    Validated (``tests/test_rsa.py``) against R run by ``tests/r/rsa_reference.R``:
    ``lm`` + ``sandwich::vcovHC(type = "HC0")`` on the RSA package's ``motcon`` and
    ``motcon2`` data (estimates, classical and HC0 covariances, the constrained family's
    log-likelihoods); lme4 for Nestler et al.'s Example 1 (ML, five random slopes,
    pick-a-point at g.s = -1, 0, 1), the L1/L2 example (random intercept, REML) and the
    chapter-5 model on the shipped synthetic data. p values and CIs are Wald z throughout
    (as the RSA package and the multilevel RSA code). AICc uses k = coefficients + 1
    (residual variance); absolute log-likelihoods differ from lavaan's by a constant
    (lavaan also models the predictors), so AICc differences, weights and LR tests agree.

    References
    ----------
    Nestler, S., Humberg, S., & Schönbrodt, F. D. (2019). Response surface analysis with
    multilevel data. *Psychological Methods, 24*(3), 291-308.
    Humberg, S., Nestler, S., & Back, M. D. (2019). Response surface analysis in personality
    and social psychology. *Social Psychological and Personality Science, 10*(3), 409-419.
    Schönbrodt, F. D., & Humberg, S. (2023). RSA: An R package for response surface analysis.

    Examples
    --------
    >>> import alliance
    >>> from alliance.rsa import fit_rsa
    >>> data = alliance.load_example()
    >>> res = fit_rsa(data, "wellbeing", "alliance_therapist", "alliance_patient",
    ...               time="session", lag=1, group="patient", moderator="condition",
    ...               covariates=["session"])
    >>> sorted(res.surface("training").set_index("term").index[:5])
    ['a1', 'a2', 'a3', 'a4', 'a5']
    >>> res.info["rows_used"] < len(data)
    True
    """
    source = source_of(data)
    method = str(method).upper()
    if method not in ("ML", "REML"):
        raise ValueError(f"method must be 'ML' or 'REML'; got {method!r}")
    if random not in ("intercept", "full"):
        raise ValueError(f"random must be 'intercept' or 'full'; got {random!r}")
    groups = [] if group is None else ([group] if isinstance(group, str) else list(group))
    covariates = list(covariates)
    center_mode = _parse_center(center)
    if se is not None:
        se = str(se).lower()
    if groups:
        if se not in (None, "gls", "model"):
            raise ValueError(
                f"se={se!r} applies to single-level fits; multilevel fits use the GLS covariance"
            )
        se = "gls"
    else:
        se = se or "hc0"
        if se not in ("hc0", "classical", "ml"):
            raise ValueError(f"se must be 'hc0', 'classical' or 'ml'; got {se!r}")
        if level2_means or random == "full":
            raise ValueError("level2_means and random='full' need a group")
    if y_as_group_mean:
        if y is not None:
            raise ValueError("y_as_group_mean builds Y from x; pass y=None")
        if not groups:
            raise ValueError("y_as_group_mean needs a group")
    elif y is None:
        raise ValueError("y is required (or y_as_group_mean=True)")
    if (lag is None) != (time is None):
        raise ValueError("time and lag go together (a lagged surface needs both)")
    lag_unit = lag_within or (groups[-1] if groups else None)
    if lag is not None and lag_unit is None:
        raise ValueError("a lagged surface needs group or lag_within (the unit lags stay within)")
    if prior_outcome and lag is None:
        raise ValueError("prior_outcome needs lag")

    need = [outcome, x] + ([y] if y else []) + groups + covariates
    need += [lag_unit] if (lag is not None and lag_unit) else []
    need += [time] if time else []
    need += [moderator] if moderator else []
    missing = [c for c in dict.fromkeys(need) if c not in data.columns]
    if missing:
        raise DataError(
            f"{source}: missing column(s) {missing}; the data have {list(data.columns)} "
            "[rule: required columns present]"
        )

    d = data.reset_index(drop=True)
    n_input = len(d)
    inner = groups[-1] if groups else None
    frame = pd.DataFrame(index=d.index)
    frame["z"] = _numeric_col(d, outcome, source)
    xs = _numeric_col(d, x, source)
    if y_as_group_mean:
        ys = xs.groupby(d[inner]).transform("mean")
    else:
        ys = _numeric_col(d, y, source)
    dropped = {}
    lag_info = None
    if lag is not None:
        tmp = pd.DataFrame({"_x": xs, "_y": ys, "_z": frame["z"], "_unit": d[lag_unit], "_time": d[time]})
        tmp.attrs["source"] = source
        lagged = build_lag(tmp, ["_x", "_y"] + (["_z"] if prior_outcome else []),
                           group="_unit", time="_time", lag=lag)
        lag_info = dict(lagged.attrs["lag"], group=lag_unit, time=time)
        xs = lagged[f"_x_lag{lag}"].astype(float)
        ys = lagged[f"_y_lag{lag}"].astype(float)
        if prior_outcome:
            frame["prior_outcome"] = lagged[f"_z_lag{lag}"].astype(float)
        dropped["no previous session (first session or gap)"] = lag_info["n_no_previous"]
    frame["x_raw"] = xs
    frame["y_raw"] = ys
    for c in covariates:
        frame[f"cov:{c}"] = _numeric_col(d, c, source)
    for g in groups:
        frame[f"group:{g}"] = d[g].astype(str).where(d[g].notna())
    mod_kind = None
    if moderator:
        m = d[moderator]
        if not pd.api.types.is_numeric_dtype(m):
            as_num = pd.to_numeric(m, errors="coerce")
            if as_num.notna().sum() == m.notna().sum() and as_num.nunique() > 2:
                m = as_num  # a numeric moderator read as text (e.g. by read_table)
        vals = pd.unique(m.dropna())
        if len(vals) == 2 or moderator_levels is not None:
            mod_kind = "binary"
            lv = list(moderator_levels) if moderator_levels is not None else sorted(vals, key=str)
            if len(lv) != 2 or not set(vals) <= set(lv):
                raise DataError(
                    f"{source}: moderator '{moderator}' has values {sorted(map(str, vals))}; "
                    f"moderator_levels {lv} must list exactly its two values [rule: binary moderator]"
                )
            frame["mod"] = np.where(m.isna(), np.nan, (m == lv[1]).astype(float))
            mod_levels = [str(v) for v in lv]
        elif len(vals) < 2:
            raise DataError(f"{source}: moderator '{moderator}' takes a single value [rule: moderator varies]")
        else:
            if not pd.api.types.is_numeric_dtype(m):
                raise DataError(
                    f"{source}: moderator '{moderator}' has {len(vals)} non-numeric levels; use a binary "
                    "or a numeric moderator [rule: binary or numeric moderator]"
                )
            mod_kind = "continuous"
            frame["mod"] = m.astype(float)
    used = frame.notna().all(axis=1)
    n_no_prev = lag_info["n_no_previous"] if lag_info else 0
    dropped["missing values"] = int((~used).sum()) - n_no_prev
    f = frame[used].reset_index(drop=True)
    n = len(f)
    if n < 10:
        raise DataError(f"{source}: only {n} complete rows for the response surface model [rule: enough rows]")

    # ---- centring on a common value
    w = []
    if center_mode == "pooled":
        cx = cy = float(np.mean(np.concatenate([f["x_raw"], f["y_raw"]])))
    elif center_mode == "none":
        cx = cy = 0.0
    elif center_mode == "variablewise":
        cx, cy = float(f["x_raw"].mean()), float(f["y_raw"].mean())
        w.append(
            "predictors centred variable-wise (each on its own mean): the line of congruence X = Y "
            "of the centred scores is no longer the line where the raw ratings agree"
        )
    else:
        cx = cy = float(center_mode)
    f["x"] = f["x_raw"] - cx
    f["y"] = f["y_raw"] - cy
    f["x2"] = f["x"] ** 2
    f["xy"] = f["x"] * f["y"]
    f["y2"] = f["y"] ** 2

    # ---- fixed-effect design (explicit names; user columns never reach a formula)
    X = pd.DataFrame({"Intercept": np.ones(n)})
    for t in COEF_NAMES:
        X[t] = f[t].to_numpy()
    mod_term = None
    if mod_kind == "binary":
        mod_term = f"{moderator}={mod_levels[1]}"
    elif mod_kind == "continuous":
        mod_term = moderator
    if mod_kind:
        X[mod_term] = f["mod"].to_numpy()
        for t in COEF_NAMES:
            X[f"{t}:{mod_term}"] = (f[t] * f["mod"]).to_numpy()
    for c in covariates:
        name = c if c not in X.columns else f"cov:{c}"
        X[name] = f[f"cov:{c}"].to_numpy()
    if prior_outcome:
        X[f"{outcome}_lag{lag}"] = f["prior_outcome"].to_numpy()
    if level2_means:
        gcol = f[f"group:{inner}"]
        for t in COEF_NAMES:
            X[f"mean_{t}"] = f[t].groupby(gcol).transform("mean").to_numpy()
    z = f["z"].to_numpy()
    names = list(X.columns)
    p = len(names)

    # ---- fit
    fit = None
    vc = None
    if not groups:
        beta, cov, loglik, rss = _ols(z, X.to_numpy(), se)
        k = p + 1
        info_fit = {"estimator": f"OLS, {se} standard errors, Wald z", "loglik": loglik,
                    "aic": -2 * loglik + 2 * k, "rss": rss}
        converged = True
        n_groups = {}
    else:
        from alliance.mixed import RandomTerm

        terms = []
        for g in groups:
            gl = f[f"group:{g}"].to_numpy()
            if g == inner and random == "full":
                Z = X[["Intercept", *COEF_NAMES]]
                terms.append(RandomTerm(g, gl, Z))
            else:
                terms.append(RandomTerm(g, gl))
        fit, caught = _lmm(z, X, terms, method, source, conf_level)
        for cw in caught:
            if issubclass(cw.category, AllianceWarning):
                w.append(str(cw.message))
            else:  # pragma: no cover - re-emit others untouched
                warnings.warn_explicit(cw.message, cw.category, cw.filename, cw.lineno)
        beta = fit.fixed["estimate"].to_numpy()
        cov = fit.cov_fixed.loc[names, names].to_numpy()
        loglik = fit.loglik
        info_fit = {"estimator": f"linear mixed model by {method} (alliance.mixed.fit_lmm), GLS covariance, Wald z",
                    "loglik": loglik, "aic": fit.aic, "boundary": bool(fit.boundary)}
        converged = bool(fit.converged)
        n_groups = dict(fit.n_groups)
        vc = fit.variance_components.copy()
        # fit_lmm already emitted its warnings once; they are recorded here
        w = list(dict.fromkeys(w))

    beta_s = pd.Series(beta, index=names)
    cov_df = pd.DataFrame(cov, index=names, columns=names)
    coefficients = wald_table(beta, cov, names, conf_level)

    # ---- levels: M maps the full beta onto b1..b5 of that level
    idx = {nm: i for i, nm in enumerate(names)}
    base = np.zeros((5, p))
    for r, t in enumerate(COEF_NAMES):
        base[r, idx[t]] = 1.0
    inter = None
    if mod_kind:
        inter = np.zeros((5, p))
        for r, t in enumerate(COEF_NAMES):
            inter[r, idx[f"{t}:{mod_term}"]] = 1.0
    levels: dict[str, np.ndarray] = {}
    intercept_at: dict[str, float] = {}
    cov_means = {nm: float(X[nm].mean()) for nm in names
                 if nm not in ("Intercept", *COEF_NAMES) and nm != mod_term and ":" not in nm}
    b0_common = float(beta_s["Intercept"] + sum(beta_s[k] * v for k, v in cov_means.items()))
    if mod_kind is None:
        levels["all"] = base
        intercept_at["all"] = b0_common
    elif mod_kind == "binary":
        levels[mod_levels[0]] = base
        levels[mod_levels[1]] = base + inter
        intercept_at[mod_levels[0]] = b0_common
        intercept_at[mod_levels[1]] = b0_common + float(beta_s[mod_term])
    else:
        gv = f["mod"].to_numpy()
        if at is None:
            at = [gv.mean() - gv.std(ddof=1), gv.mean(), gv.mean() + gv.std(ddof=1)]
        for a in at:
            lab = f"{moderator}={float(a):g}"
            levels[lab] = base + float(a) * inter
            intercept_at[lab] = b0_common + float(a) * float(beta_s[mod_term])

    blocks = []
    checks = []
    for lab, M in levels.items():
        est, J = _surface_cov(beta, cov, M)
        tab = wald_table(est, J @ cov @ J.T, QUANTITIES, conf_level)
        if mod_kind:
            tab.insert(0, "level", lab)
        blocks.append(tab)
        ch = congruence_checklist(tab.drop(columns=["level"], errors="ignore"))
        verdict = ch.attrs["verdict"]
        if mod_kind:
            ch.insert(0, "level", lab)
        ch["verdict"] = verdict
        checks.append(ch)
    if mod_kind == "binary":
        (l0, M0), (l1, M1) = levels.items()
        e0, J0 = _surface_cov(beta, cov, M0)
        e1, J1 = _surface_cov(beta, cov, M1)
        Jd = J1 - J0
        tab = wald_table(e1 - e0, Jd @ cov @ Jd.T, QUANTITIES, conf_level)
        tab.insert(0, "level", "difference")
        blocks.append(tab)
    surface = pd.concat(blocks, ignore_index=True)
    tables = {"surface": surface, "coefficients": coefficients,
              "checklist": pd.concat(checks, ignore_index=True)}

    if mod_kind == "continuous":
        rows = []
        L = SURFACE_L.to_numpy()
        for k, a_name in enumerate(SURFACE_L.index):
            l0 = L[k] @ base
            l1 = L[k] @ inter
            c0, c1 = float(l0 @ beta), float(l1 @ beta)
            v00, v01, v11 = float(l0 @ cov @ l0), float(l0 @ cov @ l1), float(l1 @ cov @ l1)
            r = regions_of_significance(c0, c1, v00, v01, v11, conf_level)
            rows.append({"term": a_name, "estimate_at_0": c0, "change_per_unit": c1, **r,
                         "observed_min": float(f["mod"].min()), "observed_max": float(f["mod"].max())})
        tables["regions"] = pd.DataFrame(rows)

    if vc is not None:
        tables["variance_components"] = vc

    if not groups and mod_kind is None:
        models, tests = _family(z, X, se, n, conf_level)
        tables["models"] = models
        tables["model_tests"] = tests

    for msg in w:  # fit_lmm's own warnings were caught above: emit every one once, here
        warnings.warn(msg, AllianceWarning, stacklevel=2)

    info = {
        "outcome": outcome, "x": x, "y": y if y else f"mean of {x} within {inner}",
        "center": center_mode if isinstance(center_mode, str) else "value",
        "center_x": cx, "center_y": cy,
        "rows_input": n_input, "rows_used": n, "rows_dropped": dropped,
        "method": method if groups else "OLS", "se": se,
        "moderator": moderator, "moderator_kind": mod_kind,
        "groups": groups, "random": random if groups else None, "level2_means": level2_means,
        "lag": lag, "time": time, "lag_within": lag_unit if lag is not None else None, "lag_report": lag_info,
        **info_fit,
        "surface_intercepts": intercept_at,
    }
    res = RSAResult(
        title=f"Response surface analysis of {outcome} on {x} (X) and {info['y']} (Y)"
        + (f", lag {lag}" if lag else "") + (f", moderated by {moderator}" if moderator else ""),
        tables=tables, n_obs=n, n_groups=n_groups, converged=converged, warnings=w, info=info,
        beta=beta_s, cov=cov_df, levels=levels, frame=f, fit=fit,
    )
    return res


def _lmm(z, X, terms, method, source, conf_level, optimizers=None):
    from alliance.mixed import fit_lmm

    kw = {} if optimizers is None else {"optimizers": optimizers}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AllianceWarning)
        fit = fit_lmm(z, X, terms, method=method, source=source, conf_level=conf_level, **kw)
    return fit, list(caught)


def _family(z: np.ndarray, X: pd.DataFrame, se: str, n: int, conf_level: float):
    """Fit the constrained family by OLS; AICc weights and LR tests."""
    other = [c for c in X.columns if c not in COEF_NAMES]
    full5 = X[list(COEF_NAMES)].to_numpy()
    rows = []
    ll = {}
    for name, (desc, cols) in MODELS.items():
        D = X[other].to_numpy()
        if cols:
            C = np.array([w for _, w in cols], dtype=float).T  # 5 x m
            D = np.column_stack([D, full5 @ C])
        beta, _cov, loglik, _rss = _ols(z, D, "ml")
        k = D.shape[1] + 1
        aic = -2 * loglik + 2 * k
        aicc = aic + 2 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else np.inf
        if cols:
            bsurf = C @ beta[len(other):]
        else:
            bsurf = np.zeros(5)
        ll[name] = (loglik, k)
        rows.append({"model": name, "description": desc, "k": k, "loglik": loglik, "aic": aic,
                     "aicc": aicc, "r2": np.nan, **{f"b{i + 1}": float(bsurf[i]) for i in range(5)}})
    models = pd.DataFrame(rows)
    tss = float(np.sum((z - z.mean()) ** 2))
    models["r2"] = [1 - math.exp(-2 * (lv - ll["null"][0]) / n) if tss > 0 else np.nan
                    for lv in models["loglik"]]
    models["delta_aicc"] = models["aicc"] - models["aicc"].min()
    wts = np.exp(-0.5 * models["delta_aicc"])
    models["weight"] = wts / wts.sum()
    full_ll, full_k = ll["full"]
    models["chi2_vs_full"] = [2 * (full_ll - lv) if m != "full" else np.nan
                              for m, lv in zip(models["model"], models["loglik"])]
    models["df_vs_full"] = [full_k - k if m != "full" else np.nan for m, k in zip(models["model"], models["k"])]
    models["p_vs_full"] = [stats.chi2.sf(c, dfv) if np.isfinite(c) else np.nan
                           for c, dfv in zip(models["chi2_vs_full"], models["df_vs_full"])]
    tests = []
    for a, b in NESTED_PAIRS:
        (la, ka), (lb, kb) = ll[a], ll[b]
        chi2 = max(0.0, 2 * (lb - la))
        tests.append({"smaller": a, "larger": b, "chi2": chi2, "df": kb - ka,
                      "p": float(stats.chi2.sf(chi2, kb - ka))})
    return models, pd.DataFrame(tests)
