r"""Surface algebra of response surface analysis: a pure function of (b, V).

The second-order polynomial in two commensurable predictors

.. math::

    z = b_0 + b_1 X + b_2 Y + b_3 X^2 + b_4 XY + b_5 Y^2

(:math:`X`, :math:`Y` centred on a common value) is described by

* the slopes and curvatures along the line of congruence (LOC, :math:`Y = X`):
  :math:`a_1 = b_1 + b_2`, :math:`a_2 = b_3 + b_4 + b_5`;
* along the line of incongruence (LOIC, :math:`Y = -X`): :math:`a_3 = b_1 - b_2`,
  :math:`a_4 = b_3 - b_4 + b_5`;
* :math:`a_5 = b_3 - b_5` (asymmetry of the curvature about the LOC);
* the stationary point :math:`(X_0, Y_0)`, where both partial derivatives vanish;
* the principal axes :math:`Y = p_{10} + p_{11}X` (first) and :math:`Y = p_{20} + p_{21}X`
  (second) through the stationary point, along the eigenvectors of the quadratic form
  :math:`\begin{pmatrix} b_3 & b_4/2 \\ b_4/2 & b_5\end{pmatrix}` with eigenvalues
  :math:`\lambda_1 \ge \lambda_2`;
* lateral shifts: where the surface's cut along the LOIC has its extremum
  (``loic_shift`` :math:`= -a_3 / (2 a_4)`, the :math:`X` coordinate of the point
  :math:`(X, -X)`), and where the first principal axis crosses the LOIC
  (``pa1_shift`` :math:`= -p_{10} / (1 + p_{11})`).

Linear quantities get :math:`\mathrm{Var}(a) = L V L^\top`; the others delta-method
standard errors :math:`J V J^\top` with the Jacobian :math:`J` by central differences.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from alliance.results import wald_table

__all__ = [
    "COEF_NAMES",
    "SURFACE_L",
    "add_intercepts",
    "congruence_checklist",
    "covariate_columns",
    "far_point_flags",
    "stationary_point_flags",
    "surface_parameters",
    "surface_quantities",
]

#: Names of b1..b5 in the package's coefficient tables.
COEF_NAMES = ("x", "y", "x2", "xy", "y2")

#: The matrix L with a = L b (rows a1..a5, columns b1..b5); Nestler et al. (2019).
SURFACE_L = pd.DataFrame(
    [[1, 1, 0, 0, 0], [0, 0, 1, 1, 1], [1, -1, 0, 0, 0], [0, 0, 1, -1, 1], [0, 0, 1, 0, -1]],
    index=["a1", "a2", "a3", "a4", "a5"],
    columns=list(COEF_NAMES),
    dtype=float,
)

#: Quantities of :func:`surface_quantities`, in table order.
QUANTITIES = (
    "a1", "a2", "a3", "a4", "a5", "X0", "Y0", "p10", "p11", "p20", "p21",
    "lambda1", "lambda2", "loic_shift", "pa1_shift",
)

#: One-line meaning of every quantity (used by ``describe`` and the book).
MEANING = {
    "a1": "slope along the line of congruence (b1 + b2)",
    "a2": "curvature along the line of congruence (b3 + b4 + b5)",
    "a3": "slope along the line of incongruence (b1 - b2)",
    "a4": "curvature along the line of incongruence (b3 - b4 + b5)",
    "a5": "asymmetry of the curvature about the LOC (b3 - b5)",
    "X0": "stationary point, X coordinate",
    "Y0": "stationary point, Y coordinate",
    "p10": "intercept of the first principal axis",
    "p11": "slope of the first principal axis",
    "p20": "intercept of the second principal axis",
    "p21": "slope of the second principal axis",
    "lambda1": "larger eigenvalue (curvature along the first principal axis)",
    "lambda2": "smaller eigenvalue (curvature along the second principal axis)",
    "loic_shift": "X at the extremum of the surface along the LOIC (-a3 / (2 a4))",
    "pa1_shift": "X where the first principal axis crosses the LOIC (-p10 / (1 + p11))",
}


def surface_quantities(b: Sequence[float]) -> dict[str, float]:
    """Every surface quantity (see :data:`QUANTITIES`) from ``b = (b1, ..., b5)``.

    Undefined quantities (a flat quadratic form, ``b4 = 0`` for the axis slopes,
    ``a4 = 0``) are NaN.
    """
    b1, b2, b3, b4, b5 = (float(v) for v in b)
    out = {
        "a1": b1 + b2,
        "a2": b3 + b4 + b5,
        "a3": b1 - b2,
        "a4": b3 - b4 + b5,
        "a5": b3 - b5,
    }
    det = 4.0 * b3 * b5 - b4 * b4
    with np.errstate(divide="ignore", invalid="ignore"):
        x0 = (b2 * b4 - 2.0 * b1 * b5) / det if det != 0 else np.nan
        y0 = (b1 * b4 - 2.0 * b2 * b3) / det if det != 0 else np.nan
        root = np.sqrt((b3 - b5) ** 2 + b4 * b4)
        p11 = (b5 - b3 + root) / b4 if b4 != 0 else np.nan
        p21 = (b5 - b3 - root) / b4 if b4 != 0 else np.nan
        out.update(
            X0=x0,
            Y0=y0,
            p10=y0 - p11 * x0,
            p11=p11,
            p20=y0 - p21 * x0,
            p21=p21,
            lambda1=(b3 + b5 + root) / 2.0,
            lambda2=(b3 + b5 - root) / 2.0,
            loic_shift=-out["a3"] / (2.0 * out["a4"]) if out["a4"] != 0 else np.nan,
        )
        p10 = out["p10"]
        out["pa1_shift"] = -p10 / (1.0 + p11) if np.isfinite(p11) and p11 != -1 else np.nan
    return {k: float(out[k]) for k in QUANTITIES}


def _quantities(B: np.ndarray) -> np.ndarray:
    """:func:`surface_quantities` of every row of ``B`` (m x 5) at once, m x quantities: the same
    operations in the same order on each row, so the same numbers to the last bit."""
    b1, b2, b3, b4, b5 = (np.asarray(B, dtype=float)[:, k] for k in range(5))
    a1, a2, a3, a4, a5 = b1 + b2, b3 + b4 + b5, b1 - b2, b3 - b4 + b5, b3 - b5
    det = 4.0 * b3 * b5 - b4 * b4
    nan = np.nan
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        x0 = np.where(det != 0, (b2 * b4 - 2.0 * b1 * b5) / det, nan)
        y0 = np.where(det != 0, (b1 * b4 - 2.0 * b2 * b3) / det, nan)
        square = np.array([float(v) ** 2 for v in b3 - b5])  # Python's power, as for one b
        root = np.sqrt(square + b4 * b4)
        p11 = np.where(b4 != 0, (b5 - b3 + root) / b4, nan)
        p21 = np.where(b4 != 0, (b5 - b3 - root) / b4, nan)
        p10 = y0 - p11 * x0
        loic = np.where(a4 != 0, -a3 / (2.0 * a4), nan)
        pa1 = np.where(np.isfinite(p11) & (p11 != -1), -p10 / (1.0 + p11), nan)
        return np.column_stack([a1, a2, a3, a4, a5, x0, y0, p10, p11, y0 - p21 * x0, p21,
                                (b3 + b5 + root) / 2.0, (b3 + b5 - root) / 2.0, loic, pa1])


def _values_and_jacobian(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`surface_quantities` of ``b`` and their Jacobian (quantities x 5) by central
    differences (relative step 1e-6), all 11 evaluations at once (:func:`_quantities`)."""
    return _values_and_jacobians([b])[0]


def _values_and_jacobians(bs) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`_values_and_jacobian` of each of ``bs``, every evaluation in one
    :func:`_quantities` call (row by row: the same numbers as one call per ``b``)."""
    bs = [np.asarray(b, dtype=float) for b in bs]
    steps = [[1e-6 * max(1.0, abs(b[j])) for j in range(5)] for b in bs]
    B = np.repeat(np.array(bs), 11, axis=0)
    for i, hs in enumerate(steps):
        for j, h in enumerate(hs):
            B[11 * i + 1 + 2 * j, j] += h
            B[11 * i + 2 + 2 * j, j] -= h
    Q = _quantities(B)
    out = []
    for i, hs in enumerate(steps):
        Qi = Q[11 * i:11 * (i + 1)]
        J = np.empty((len(QUANTITIES), 5))
        for j, h in enumerate(hs):
            J[:, j] = (Qi[1 + 2 * j] - Qi[2 + 2 * j]) / (2.0 * h)
        J[:5] = SURFACE_L.to_numpy()  # exact for the linear ones
        out.append((Qi[0], J))
    return out


def _jacobian(b: np.ndarray) -> np.ndarray:
    """Jacobian (quantities x 5) of :func:`surface_quantities` by central differences."""
    return _values_and_jacobian(b)[1]


def _as_b_and_v(coef, cov, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    names = list(names)
    if isinstance(coef, pd.DataFrame) and "estimate" in coef:
        coef = coef["estimate"]
    if isinstance(coef, (pd.Series, Mapping)):
        s = pd.Series(coef, dtype=float)
        missing = [n for n in names if n not in s.index]
        if missing:
            raise ValueError(f"coef lacks the term(s) {missing}; it has {list(s.index)}")
        b = s[names].to_numpy(dtype=float)
        if isinstance(cov, pd.DataFrame):
            V = cov.loc[names, names].to_numpy(dtype=float)
        else:
            V = np.asarray(cov, dtype=float)
            if V.shape == (len(s), len(s)):
                pos = [list(s.index).index(n) for n in names]
                V = V[np.ix_(pos, pos)]
    else:
        b = np.asarray(coef, dtype=float).ravel()
        V = cov.to_numpy(dtype=float) if isinstance(cov, pd.DataFrame) else np.asarray(cov, float)
        if b.size != 5:
            raise ValueError(f"coef must hold b1..b5 (5 values); got {b.size}")
    if V.shape != (5, 5):
        raise ValueError(f"cov must be the 5 x 5 covariance of b1..b5; got shape {V.shape}")
    if not np.allclose(V, V.T, rtol=1e-8, atol=1e-12 * max(1.0, np.abs(V).max())):
        raise ValueError("cov must be symmetric")
    return b, V


def surface_parameters(
    coef,
    cov,
    *,
    names: Sequence[str] = COEF_NAMES,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    r"""Surface parameters with standard errors, Wald z, p and CIs from (b, V).

    Parameters
    ----------
    coef : array-like of 5, pandas.Series or mapping
        :math:`b_1..b_5` (coefficients of :math:`X, Y, X^2, XY, Y^2`), or a
        longer labelled vector from which ``names`` are taken.
    cov : array-like or DataFrame
        Their covariance :math:`V` (5 x 5, or the full covariance of a labelled
        ``coef`` from which the ``names`` block is taken).
    names : sequence of 5 str
        Labels of :math:`b_1..b_5` in a labelled ``coef``.
    conf_level : float
        Level of the Wald confidence intervals.

    Returns
    -------
    pandas.DataFrame
        One row per quantity of :data:`QUANTITIES` with ``estimate``, ``se``,
        ``statistic`` (Wald z, against 0), ``p``, ``ci_low``, ``ci_high`` and
        ``meaning``.

    Notes
    -----
    :math:`a = Lb` with :math:`\mathrm{Var}(a) = LVL^\top` (:data:`SURFACE_L`); the
    stationary point, principal axes, eigenvalues and shifts are nonlinear in
    :math:`b` and get delta-method variances :math:`JVJ^\top`, the Jacobian by
    central differences (relative step 1e-6). Wald tests of the nonlinear
    quantities are approximations that can be poor when the quadratic form is
    nearly flat (the stationary point and axes are then barely identified).
    Validated against the Shanock et al. (2010) algebra and against
    :math:`LVL^\top` computed in R (``tests/r/rsa_reference.R``).

    References
    ----------
    Edwards, J. R. (2002). Alternatives to difference scores. In F. Drasgow &
    N. Schmitt (Eds.), *Measuring and analyzing behavior in organizations*.
    Shanock, L. R., Baran, B. E., Gentry, W. A., Pattison, S. C., & Heggestad, E. D.
    (2010). Polynomial regression with response surface analysis. *Journal of Business
    and Psychology, 25*, 543-554.
    Nestler, S., Humberg, S., & Schönbrodt, F. D. (2019). Response surface analysis
    with multilevel data. *Psychological Methods, 24*(3), 291-308.

    Examples
    --------
    Shanock et al. (2010), Table 2:

    >>> import numpy as np
    >>> from alliance.rsa import surface_parameters
    >>> t = surface_parameters([-0.23, 0.77, -0.07, 0.27, -0.10], np.eye(5) * 0.01)
    >>> t.set_index("term").loc[["a1", "a2", "a3", "a4"], "estimate"].round(2).tolist()
    [0.54, 0.1, -1.0, -0.44]
    """
    b, V = _as_b_and_v(coef, cov, names)
    est = np.array(list(surface_quantities(b).values()))
    J = _jacobian(b)
    C = J @ V @ J.T
    tab = wald_table(est, C, QUANTITIES, conf_level)
    tab["meaning"] = [MEANING[q] for q in QUANTITIES]
    return tab


def _surface_covs(beta: np.ndarray, Ms) -> list:
    """Per matrix M of ``Ms``: the quantities of b = M beta and their Jacobian in beta (the
    covariance is J V J'), every matrix's evaluations in one batch."""
    return [(est, J @ M) for (est, J), M in zip(_values_and_jacobians([M @ beta for M in Ms]), Ms)]


def congruence_checklist(surface: pd.DataFrame) -> pd.DataFrame:
    r"""The congruence checklist of Humberg, Nestler & Back (2019), evaluated.

    A (broad) congruence effect -- the outcome is highest where :math:`X = Y`,
    whatever their level -- needs *all* of

    1. :math:`a_4 < 0`: the surface is curved downward across the LOIC (CI below 0);
    2. :math:`p_{10} = 0` and 3. :math:`p_{11} = 1`: the ridge (first principal
       axis) lies on the LOC (CIs include 0 and 1);
    4. :math:`a_3 = 0`: the ridge is not shifted off the LOC (CI includes 0).

    A *strict* congruence effect, in which the level of agreement does not matter,
    also needs 5. :math:`a_1 = 0` and 6. :math:`a_2 = 0`.

    Parameters
    ----------
    surface : pandas.DataFrame
        A table from :func:`surface_parameters` (one level).

    Returns
    -------
    pandas.DataFrame
        ``condition``, ``requirement``, ``estimate``, ``ci_low``, ``ci_high``, ``met``,
        ``strict_only`` and ``why``. ``met`` for conditions 2-6 means *not rejected*
        (an interval containing the value), which is evidence of agreement only when
        the interval is narrow; condition 1 must hold significantly.
        ``attrs["verdict"]`` summarises the result in one sentence.
    """
    s = surface.set_index("term")

    def row(cond, term, null, strict, why):
        lo, hi = float(s.loc[term, "ci_low"]), float(s.loc[term, "ci_high"])
        est = float(s.loc[term, "estimate"])
        met = bool(hi < 0) if null is None else bool(np.isfinite(lo) and lo <= null <= hi)
        return {
            "condition": cond,
            "requirement": f"{term} < 0 (CI below 0)" if null is None else f"{term} = {null:g} (CI includes {null:g})",
            "term": term,
            "estimate": est,
            "ci_low": lo,
            "ci_high": hi,
            "met": met,
            "strict_only": strict,
            "why": why,
        }

    rows = [
        row(1, "a4", None, False, "the outcome must fall off on both sides of the line of congruence"),
        row(2, "p10", 0.0, False, "the ridge (first principal axis) must pass through the origin"),
        row(3, "p11", 1.0, False, "the ridge must run parallel to the line of congruence"),
        row(4, "a3", 0.0, False, "the ridge must not be shifted towards X > Y or Y > X"),
        row(5, "a1", 0.0, True, "strict congruence: the level of agreement does not matter (no slope)"),
        row(6, "a2", 0.0, True, "strict congruence: no curvature along the line of congruence"),
    ]
    out = pd.DataFrame(rows)
    broad = bool(out.loc[~out["strict_only"], "met"].all())
    strict = broad and bool(out["met"].all())
    if not out.loc[0, "met"]:
        verdict = ("No congruence effect: a4 is not significantly negative, so the surface does not "
                   "fall off away from agreement (conditions 2-4 are then uninformative).")
    elif not broad:
        failed = ", ".join(str(c) for c in out.loc[~out["met"] & ~out["strict_only"], "condition"])
        verdict = (f"No congruence effect: a4 < 0, but condition(s) {failed} fail, so the best "
                   "outcomes are not on the line of congruence.")
    elif strict:
        verdict = "Strict congruence effect: all six conditions hold."
    else:
        verdict = ("Broad congruence effect (conditions 1-4 hold); the level of agreement also "
                   "matters (a1 or a2 differs from 0), so it is not a strict congruence effect.")
    out.attrs["verdict"] = verdict
    out.attrs["broad"] = broad
    out.attrs["strict"] = strict
    return out


def covariate_columns(names: Sequence[str], mod_term: str | None) -> list[str]:
    """Design columns that are neither the intercept, a polynomial term, the moderator nor a product."""
    poly = set(COEF_NAMES) | {"x3", "x2y", "xy2", "y3"}
    return [n for n in names if n != "Intercept" and n not in poly and n != mod_term and ":" not in n]


def covariate_means(X: pd.DataFrame, mod_term: str | None, *, columns: dict | None = None) -> dict:
    """The mean of every covariate column of the design (:func:`covariate_columns`; a design's
    columns are complete: NumPy's mean, the same number as pandas' without its per-call cost).
    ``columns``: the arrays ``X`` was made of (name -> 1-D array of the column's values and
    dtype, :func:`alliance.rsa.spec.design_columns`), read instead of taking each column from
    ``X`` (contiguous, as a column of ``X`` is: the same sum, so the same mean)."""
    names = covariate_columns(X.columns.tolist(), mod_term)
    if columns is None:
        return {c: float(np.mean(X[c].to_numpy())) for c in names}
    return {c: float(np.mean(np.ascontiguousarray(columns[c]))) for c in names}


def intercept_weights(X: pd.DataFrame, levels: Mapping, mod_term: str | None,
                      means: Mapping | None = None) -> dict:
    """Per level, the weights l with b0 = l beta (covariates at their means, the level's moderator
    value); ``means``: :func:`covariate_means` of ``X`` if already computed."""
    names = X.columns.tolist()
    idx = {n: i for i, n in enumerate(names)}
    means = covariate_means(X, mod_term) if means is None else means
    out = {}
    for lab, M in levels.items():
        w = np.zeros(len(names))
        w[idx["Intercept"]] = 1.0
        for c, v in means.items():
            w[idx[c]] = v
        if mod_term:
            w[idx[mod_term]] = float(M[0, idx[f"x:{mod_term}"]])
        out[lab] = w
    return out


def add_intercepts(surface: pd.DataFrame, beta, cov, X: pd.DataFrame, levels: Mapping,
                   mod_term: str | None, conf_level: float = 0.95) -> pd.DataFrame:
    r"""The surface table with each level's intercept :math:`b_0` (and its SE) appended.

    :math:`b_0` is the predicted outcome at :math:`X = Y = c` (the centre), covariates
    at their means: the intercept plus :math:`\bar w^\top\gamma`, plus the moderator's
    main effect at the level's value. It is linear in the coefficients, so its
    variance is :math:`l V l^\top`.
    """
    beta = np.asarray(beta, float)
    cov = np.asarray(cov, float)
    blocks = []
    has_level = "level" in surface.columns
    for lab, w in intercept_weights(X, levels, mod_term).items():
        t = wald_table([w @ beta], [[w @ cov @ w]], ["b0"], conf_level)
        if has_level:
            t.insert(0, "level", lab)
        blocks.append(t)
    if not has_level:
        return pd.concat([surface, *blocks], ignore_index=True)
    parts = []
    for lab in surface["level"].unique():
        parts.append(surface[surface["level"] == lab])
        parts += [b for b in blocks if b["level"].iloc[0] == lab]
    return pd.concat(parts, ignore_index=True)


def stationary_point_flags(surface: pd.DataFrame, x, y) -> list[str]:
    """Levels whose stationary point is far outside the data and barely identified, in words.

    The stationary point :math:`(X_0, Y_0)` of a nearly flat surface, or of a
    ridge, can lie far from every observation with a standard error larger than
    the whole range of the data; its z and p are then meaningless (the
    principal axes are judged by their own SEs: a ridge's axis can be well
    determined when no point on it is). A level is flagged when, for :math:`X_0`
    or :math:`Y_0`, the estimate lies *far* outside the observed range of that
    predictor -- beyond it by more than the range's width :math:`w` (in the
    surface's centred units, ``x`` and ``y``) -- **and** its SE exceeds
    :math:`w`: an interval of a few SEs then covers several times the data. A
    point just beyond the data with an SE of the data's size is not flagged.
    Arm differences (level ``"<level> - <reference>"``) are not points and are not checked.

    Parameters
    ----------
    surface : pandas.DataFrame
        A surface table (from :func:`surface_parameters` or ``fit_rsa``), with or
        without a ``level`` column.
    x, y : array-like
        The centred predictors of the rows analysed.

    Returns
    -------
    list of str
        One message per flagged level (empty when none is).
    """
    tab = surface if "level" in surface else surface.assign(level="all")
    points = {}
    for level, block in tab.groupby("level", sort=False):
        rows = block.set_index("term")
        points[level] = {t: (float(rows.loc[t, "estimate"]), float(rows.loc[t, "se"]))
                         for t in ("X0", "Y0") if t in rows.index}
    return far_point_flags(points, x, y)


def far_point_flags(points: Mapping, x, y) -> list[str]:
    """:func:`stationary_point_flags` on numbers: ``points`` maps a level to
    ``{"X0": (estimate, se), "Y0": (estimate, se)}``."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    ranges = {"X0": (np.nanmin(x), np.nanmax(x)), "Y0": (np.nanmin(y), np.nanmax(y))}
    out = []
    for level, point in points.items():
        if level == "difference" or " - " in str(level):  # a difference is no point
            continue
        bad = []
        for term, (lo, hi) in ranges.items():
            if term not in point:
                continue
            est, se = point[term]
            if np.isnan(est):  # no stationary point at all (a flat or linear form): shown as NaN
                continue
            width = hi - lo
            far = not (lo - width <= est <= hi + width)
            if not np.isfinite(est) or (far and (not np.isfinite(se) or se > width)):
                bad.append(f"{term} = {est:.3g} (SE {se:.3g}; data {lo:.3g} to {hi:.3g})")
        if bad:
            where = "" if level == "all" else f"level '{level}': "
            out.append(
                f"{where}the stationary point lies far outside the data with a standard error "
                f"wider than the data's range ({'; '.join(bad)}, centred units): the surface is nearly "
                "flat or a ridge there, so X0 and Y0 and their z and p are not meaningful (read "
                "a1-a5, and the principal axes by their own SEs)")
    return out
