"""Fitting response surface models: single level (statsmodels OLS), multilevel (``fit_lmm``), lagged, moderated.

:func:`fit_rsa` is the one entry point. It checks the options
(:class:`~alliance.rsa.spec.RSASpec`), builds the analysis rows and the design
(:mod:`alliance.rsa.spec`), fits them, and turns the coefficients into surfaces:
one per moderator level (pick-a-point), their difference, the congruence
checklist, regions of significance for a numeric moderator, and, for an
unmoderated single-level surface, the constrained model family
(:mod:`alliance.rsa.family`).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pandas as pd

from alliance.errors import AllianceWarning
from alliance.mixed import DDF_LABEL, fit_lmm
from alliance.moderation import difference_label
from alliance.options import check_df
from alliance.results import Result, RowLog, Tables, check_tests, columns_frame, wald_table
from alliance.rsa.cubic import CUBIC_QUANTITIES, CUBIC_TERMS, cubic_level_numbers, cubic_numbers
from alliance.rsa.family import family_tables
from alliance.rsa.fitters import lmm_fitter, ols_fitter, random_terms
from alliance.rsa.models import MODELS, constrained_fits
from alliance.rsa.ols import ROBUST_SE, ols
from alliance.rsa.outliers import drop_outliers
from alliance.rsa.regions import regions_of_significance, regions_table
from alliance.rsa.spec import RSASpec, analysis_frame, design_columns
from alliance.rsa.surface import (
    COEF_NAMES,
    QUANTITIES,
    SURFACE_L,
    _surface_covs,
    congruence_checklist,
    covariate_means,
    far_point_flags,
    intercept_weights,
)
from alliance.rsa.verdict import verdict_table

__all__ = ["MODELS", "RSAResult", "RSASpec", "fit_rsa", "level2_variances",
           "regions_of_significance", "rsa_spec"]


@dataclass
class RSAResult(Result):
    """Result of :func:`fit_rsa`.

    Tables (tidy DataFrames): ``estimates`` (``surface`` until this release, a name still
    accepted: a1-a5, stationary point, principal axes, eigenvalues, shifts, the intercept
    b0 with its SE; u1-v3 for a cubic model; with ``level`` when a moderator is given: one
    block per level and, for a binary moderator, their difference, level
    ``"<level> - <reference>"``, e.g. ``"training - control"``; ``"difference"``, its
    former name, is still found by :meth:`rows` and :meth:`value`), ``coefficients`` (every fixed effect of the chosen
    model), ``checklist`` (Humberg et al. 2019, per level, on the full second-order
    surface), ``verdict`` and ``verdict_conditions`` (:mod:`alliance.rsa.verdict`),
    ``models`` (the model family: AICc weights, LR tests against the unconstrained
    model), ``model_tests`` (nested pairs), ``model_estimates`` (every model's
    coefficients and surface parameters with SEs and CIs), ``variance_components``
    (multilevel), ``regions`` (continuous moderator).
    """

    TABLE_ALIASES: ClassVar[dict[str, str]] = {"surface": "estimates"}

    beta: pd.Series = field(default_factory=lambda: pd.Series(dtype=float))
    cov: pd.DataFrame = field(default_factory=pd.DataFrame)
    levels: dict = field(default_factory=dict)  # level label -> M (5 x p) mapping beta -> b
    cubic_levels: dict = field(default_factory=dict)  # cubic fits: level -> (4 x p) beta -> b6..b9
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)  # analysis rows (centred x, y, z)
    fit: object = None  # the MixedFit (multilevel) or None
    spec: object = None  # the RSASpec the result was fitted with (for refits: bootstrap)
    _later: dict = field(default_factory=dict, repr=False)  # what the tables made when read need

    def __post_init__(self):
        super().__post_init__()
        tables = _Tables(aliases=self.tables.aliases)
        dict.update(tables, dict.items(self.tables))  # a table made when read stays so
        tables.owner = self
        self.tables = tables

    def _make(self, name: str) -> dict:
        """The tables made when first read: ``checklist`` (Humberg et al. 2019, per level, on
        the full second-order surface), ``verdict`` and ``verdict_conditions``, the model
        family's ``models``, ``model_tests`` and ``model_estimates``."""
        later, spec = self._later, self.spec
        kind = later["kind"]
        if name == "checklist":
            beta, cov, fit = later["checked"]
            checks = []
            for lab, M in self.levels.items():
                est, V, dfs = _surface_numbers(beta, cov, {lab: M}, None, fit, later["names"])[lab]
                ch = congruence_checklist(wald_table(est, V, QUANTITIES, spec.conf_level, df=dfs))
                verdict = ch.attrs["verdict"]
                if kind:
                    ch.insert(0, "level", lab)
                ch["verdict"] = verdict
                checks.append(ch)
            return {"checklist": pd.concat(checks, ignore_index=True)}
        if name == "verdict":
            verdict, conditions = verdict_table(self.tables["checklist"], later["fits"], self.frame,
                                                spec.conf_level)
            return {"verdict": verdict, "verdict_conditions": conditions}
        fits, X = later["fits"], later["X"]
        return family_tables({m: fits[m] for m in spec.family}, levels=self.levels,
                             moderated=kind is not None, cubic_levels=self.cubic_levels,
                             conf_level=spec.conf_level,
                             b0_weights=intercept_weights(X, self.levels, later["mod_term"]),
                             scaled=(later["z"], X) if not spec.groups and spec.se in ROBUST_SE
                             else None)

    def b(self, level=None) -> pd.Series:
        """The polynomial coefficients b1..b5 of one level (the only level without a moderator)."""
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

    def intercept(self, level=None) -> float:
        """Predicted outcome at X = Y = centre for a level, covariates at their means."""
        label = next(iter(self.levels)) if level is None else level
        return float(self.info["surface_intercepts"][label])

    def predict_surface(self, X, Y, level=None) -> np.ndarray:
        """Outcome predicted by the surface of a level at raw predictor values X, Y."""
        cx, cy = self.info["center_x"], self.info["center_y"]
        b = self.b(level).to_numpy()
        x = np.asarray(X, float) - cx
        y = np.asarray(Y, float) - cy
        z = self.intercept(level) + b[0] * x + b[1] * y + b[2] * x * x + b[3] * x * y + b[4] * y * y
        if "x3" in self.beta.index:  # cubic surface: the level's b6..b9
            label = next(iter(self.levels)) if level is None else level
            c = self.cubic_levels[label] @ self.beta.to_numpy()
            z = z + c[0] * x**3 + c[1] * x * x * y + c[2] * x * y * y + c[3] * y**3
        return z


def fit_rsa(
    data,
    spec: RSASpec | str | None = None,
    x: str | None = None,
    y: str | None = None,
    *,
    columns=None,
    method: str = "ML",
    conf_level: float = 0.95,
    df: str = "satterthwaite",
    **options,
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
    data : pandas.DataFrame or path
        Long data with any column names (a file or a DataFrame, validated by
        :func:`alliance.read_table`; not modified).
    spec : RSASpec or str, optional
        The surface to fit (:class:`~alliance.rsa.RSASpec`: every option below but
        ``columns``, ``method``, ``conf_level`` and ``df``, which belong to the fit and
        replace the spec's), or, as the first positional argument in earlier releases,
        the ``outcome`` column (then ``x`` and ``y`` may follow positionally). Without a
        spec the options below (``outcome``, ``x``, ``y``, ...) make it; with one, any
        option given replaces the spec's.
    outcome, x, y : str
        Outcome :math:`z` and the two commensurable predictors (:math:`X` first: in
        the book the therapist's rating, :math:`Y` the patient's).
    columns : mapping, optional
        ``{name used in this call: your column}`` (:func:`alliance.read_table`).
    group : str or list of str, optional
        Grouping column(s) for random intercepts, outermost first (e.g.
        ``["therapist", "patient"]``). Random slopes (``random="full"``) and
        ``level2_means`` refer to the last (innermost) one. ``None``: single level.
    time, lag : str, int, optional
        Lagged surface: :math:`X, Y` (and, with ``prior_outcome``, the outcome) are
        taken ``lag`` sessions earlier from the *same* unit of the innermost
        ``group`` (built by :func:`alliance.data.lags.lag`: never across units or gaps).
    lag_within : str, optional
        Unit the lags stay within, if not the innermost ``group`` (needed for a
        single-level lagged fit, e.g. ``lag_within="patient"`` without ``group``).
    prior_outcome : bool
        With ``lag``: add the outcome ``lag`` sessions earlier as a covariate.
    lag_gaps : bool
        With ``lag``: take the lagged predictors (and prior outcome) from the unit's
        ``lag``-th most recent earlier session at which *both* predictors were
        recorded, however far back (:func:`alliance.data.lags.lag` with ``bridge``),
        instead of exactly ``lag`` sessions earlier (default: a missed or unrated
        session in between drops the row).
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
    se : {"hc0", "classical", "ml", "hc1", "hc3"}, optional
        Single level only (statsmodels OLS): the HC0 sandwich (default; the RSA
        package's lavaan ``MLR`` default), classical OLS, ML (classical x
        sqrt((n - p)/n), lavaan's ``ML``), or the HC1/HC3 small-sample corrections. Multilevel fits always use the GLS covariance
        :math:`\hat\sigma^2(X^\top \hat V_0^{-1}X)^{-1}` of :func:`alliance.mixed.fit_lmm`.
    random : {"intercept", "full"}
        Random intercept only, or also random slopes of the five polynomial terms
        (unstructured covariance) for the innermost group.
    level2_means : bool
        Add the innermost group's means of the five terms as fixed level-2
        predictors (Nestler et al. 2019), with a moderator also their products with
        it: every level's surface then describes within-group associations only (the
        same a1..a5 as centring the five terms at each group's means). Without the
        products, each level's a1..a5 would still borrow the between-group association
        of the pooled means.
    y_as_group_mean : bool
        Build :math:`Y` as the innermost group's mean of ``x`` (an individual value and
        its group's average: the L1/L2 design of Humberg & Nestler); ``y`` must be None.
    method : {"ML", "REML"}
        Multilevel criterion (any capitalisation). ML by default, as Nestler et al.: the
        one analysis whose default is not REML, because its model family is compared by
        likelihood, which needs ML.
    conf_level : float
        Level of the confidence intervals.
    model : str, optional
        The model whose estimates fill ``surface``, ``coefficients`` and the figures:
        ``"full"`` (default; ``"cubic"`` with ``cubic=True``) or any constrained model of
        :data:`alliance.rsa.MODELS` (``"RR"``, ``"SQD"``, ``"SRRR"``, ``"CA"``, ...). The
        checklist and the verdict always read the full second-order surface.
    family : "auto", "default", "cubic", "all", list of str or None
        Models fitted and compared (tables ``models``, ``model_tests``,
        ``model_estimates``): RSA's default second-order family of 14 models, the same
        plus the cubic family (``"cubic"``), every model (``"all"``: also ``diff``,
        ``mean``, RSA's ``weak`` and ``strong`` fit patterns -- the full model with
        :math:`b_3 b_5 > 0`, SRSQD with it -- and the piecewise ``absdiff`` and
        ``absunc``, which are single-level, unmoderated and, as in RSA's ``aictab``,
        outside the Akaike weights), a list, or
        none. ``"auto"``: RSA's family for a single-level surface without moderator (the
        cubic one with ``cubic=True``), none otherwise. Multilevel families need
        ``method="ML"`` (models differ in fixed effects); moderated families hold every
        level's surface to the model's constraints. Single-level fits with robust
        standard errors (``se`` hc0, hc1, hc3) also get *scaled* likelihood-ratio tests
        (columns ``chi2_scaled``, ``scaling``, ``p_scaled``; in ``models`` against the
        unconstrained model): the Satorra-Bentler (2001) scaled difference of lavaan's
        ``MLR`` chi-squares, which RSA's ``compare()`` reports
        (:func:`alliance.rsa.family.scaled_difference`).
    cubic : bool
        Add the third-order terms :math:`X^3, X^2Y, XY^2, Y^3` (Humberg et al. 2022).
        With a moderator their products with it enter too: every level (and, for a
        binary moderator, the difference) gets its u1-u3, v1-v3 in ``surface``, and the
        cubic family constrains every level's surface (validated against R's ``lm``,
        ``tests/r/rsa_cubic_moderated_reference.R``); the verdict's cubic step and the
        range checks (:func:`~alliance.rsa.cubic.ca_range`) remain for one surface.
    outliers : {None, "bj1980"}
        Single level: drop the rows that the Bollen & Jackman (1980) rule flags on the
        unconstrained model (all three of DFFITS, Cook's distance and leverage), as the
        RSA package does by default; the rows are counted in ``rows_dropped``
        (``outlier_bj1980``), listed in ``info["outlier_rows"]`` and warned about.
        Refused for multilevel fits (its cutoffs assume independent rows; see
        :mod:`alliance.rsa.outliers`).
    df : {"satterthwaite", "kenward-roger", "z"}
        Multilevel fits of the full model: tests of the coefficients and of a1-a5
        (linear in b1-b5) are t tests with Satterthwaite (the default) or Kenward-Roger
        (REML only; SEs of every quantity from its adjusted covariance) degrees of
        freedom, or Wald z; regions of significance use the same degrees of freedom.
        The stationary point, principal axes, eigenvalues and shifts are nonlinear in b
        and keep delta-method z tests, as do single-level (OLS) fits (as the RSA package)
        and constrained models (``model``).
    outer_random : {"intercept", "full", "diagonal"}
        Multilevel fits with two or more groups: random effects of the *outermost*
        group (e.g. therapists, the unit of randomisation): an intercept (default),
        or also the slopes of the five polynomial terms, correlated ("full") or
        independent ("diagonal"). Arm differences in the surface are then tested
        against how much the surface varies between those units.

    Returns
    -------
    RSAResult
        See :class:`RSAResult`. ``info`` records the centre, the rows used and
        dropped (``rows_dropped`` by identifier, ``describe`` in words), the method,
        log-likelihood and AIC.

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
    chapter-5 model on the shipped synthetic data; the degrees of freedom of a1-a5 against
    lmerTest (``tests/r/ddf_reference.R``) and the level-2 variances of a1-a5 against
    lme4's VarCorr with delta-method SEs (``tests/r/rsa_level2_reference.R``). Multilevel
    tests of linear quantities are Satterthwaite t by default; single-level ones and the
    nonlinear quantities are Wald z (as the RSA package and the multilevel RSA code, which
    use z throughout). AICc uses k = coefficients + 1
    (residual variance), as RSA's ``aictab``. The model family (second-order and cubic:
    coefficients, standard errors, log-likelihoods, AICc weights, the rotation of SRRR and
    SRSQD) is validated against the R package RSA 0.10.8 itself on motcon, motcon2 and
    selfother (``tests/r/rsa_package_reference.R``, ``tests/test_rsa_family.py``); SRRR and
    SRSQD against RSA with tight optimiser tolerances (``tests/r/rsa_rotated_reference.R``),
    the scaled tests and the piecewise models against RSA/lavaan
    (``tests/r/rsa_lrt_reference.R``, ``tests/test_rsa_lrt.py``); with
    ``fixed.x = TRUE`` lavaan's log-likelihood is the conditional one, which OLS gives.

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
    >>> res.rows(level="training")["term"].head(5).tolist()
    ['a1', 'a2', 'a3', 'a4', 'a5']
    >>> res.info["rows_used"] < len(data)
    True
    """
    spec = rsa_spec(spec, x, y, method=method, conf_level=conf_level, **options)
    df = check_df(df, method=spec.method)
    return _fit_rsa(data, spec, df=df, read={"numeric": spec.numeric_columns(),
                                             "identifiers": spec.identifier_columns(),
                                             "columns": columns})


def rsa_spec(spec: RSASpec | str | None = None, x: str | None = None, y: str | None = None,
             **options) -> RSASpec:
    """The :class:`RSASpec` of a call of :func:`fit_rsa`: ``spec`` with ``options`` replacing
    its fields, or one made from ``options`` (``spec`` may be the outcome column)."""
    if isinstance(spec, str):  # the outcome, positionally, as in earlier releases
        options["outcome"] = spec
        spec = None
    if x is not None:
        options["x"] = x
    if y is not None:
        options["y"] = y
    if "covariates" in options:
        options["covariates"] = tuple(options["covariates"])
    if spec is None:
        return RSASpec(**options)
    if not isinstance(spec, RSASpec):
        raise TypeError(f"spec must be an RSASpec or the outcome column; got {type(spec).__name__}")
    fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec) if f.init}
    fields["family"] = spec.family_asked
    fields["cubic"] = spec.cubic_asked
    fields["model"] = spec.model_asked
    return RSASpec(**{**fields, **options})


def _fit_rsa(data, spec: RSASpec, *, df: str = "satterthwaite", read: dict | None = None,
             codes: dict | None = None) -> RSAResult:
    """:func:`fit_rsa` behind its door, the options checked (``spec``): ``data`` validated (by
    :func:`alliance.read_table`, or session data by :func:`alliance.read_sessions`), or, with
    ``read`` (:func:`alliance.read_table`'s options), read here.

    Three stages: the door (:func:`~alliance.rsa.spec.analysis_frame`: every check of the
    data, once), the surface on numbers (design, fits, a1-a5 and the other quantities with
    their covariances), and the tables (:func:`_tables`: every test, the rows). The
    congruence checklist, the verdict and the model family's tables are made when first read
    (:class:`RSAResult`). ``codes``: the ids' factorisations made by the validation of
    ``data`` (:func:`alliance.data.validate._read_sessions_coded`), if the caller has them.
    """
    f, frame_info = analysis_frame(data, spec, read, codes=codes)
    source = f.attrs["source"]
    kind, mod_levels = frame_info["moderator_kind"], frame_info["moderator_levels"]
    drops = list(frame_info["drops"])
    notes = list(frame_info["warnings"])
    arrays = frame_info["columns"]  # f's columns as arrays (none taken from f again)
    design, mod_term = design_columns(f, spec, kind, mod_levels, codes=frame_info["group_codes"],
                                      columns=arrays)
    X = columns_frame(design)
    outlier_rows = []
    if spec.outliers:  # Bollen & Jackman (1980), as the RSA package by default: refit without them
        f, X, out = drop_outliers(f, X, spec, kind, mod_levels, frame_info["rows_input"])
        arrays = {c: f[c].to_numpy() for c in f.columns}  # the rows kept
        outlier_rows = out["outlier_rows"]
        design = None  # (the design's columns: those of the rows kept, read from X)
        drops += [out["drop"]] if out["drop"] else []
        notes += [out["warning"]] if out["warning"] else []
    z = arrays["z"]
    names = X.columns.tolist()
    fit, vc, n_groups = None, None, {}
    if not spec.groups:
        o = ols(z, X.to_numpy(), spec.se, source)
        beta, cov = o.beta, o.cov
        info_fit = {"estimator": f"OLS (statsmodels), {spec.se} standard errors, Wald z",
                    "loglik": o.loglik, "aic": -2 * o.loglik + 2 * o.k, "rss": o.rss}
        converged = True
        fitter = ols_fitter(z, spec.se, source, saturated=X.to_numpy())
    else:
        terms = random_terms(arrays, X, spec)
        fit, caught = _lmm(z, X, terms, spec, source, df)
        notes += [str(c.message) for c in caught if issubclass(c.category, AllianceWarning)]
        for c in caught:
            if not issubclass(c.category, AllianceWarning):  # pragma: no cover - others untouched
                warnings.warn_explicit(c.message, c.category, c.filename, c.lineno)
        beta = fit.tables["fixed"]["estimate"].to_numpy()  # fit.coef's values, no Series made
        V = fit.vcov()
        cov = (V.to_numpy().copy(order="K") if V.index.tolist() == names  # the design's order
               else V.loc[names, names].to_numpy())
        info_fit = {"estimator": f"linear mixed model by {spec.method} (alliance.mixed.fit_lmm), "
                                 f"GLS covariance, {DDF_LABEL[fit.ddf]} for linear quantities",
                    "loglik": fit.loglik, "aic": fit.aic, "boundary": bool(fit.boundary),
                    "df": fit.ddf}
        converged = bool(fit.converged)
        n_groups = dict(fit.n_groups)
        vc = fit.variance_components.copy()
        fitter = lmm_fitter(z, terms, spec.method, source, spec.conf_level)
    fam = constrained_fits(z, X, fitter, spec, mod_term, source)
    for name, mf in fam.items():
        notes += [f"model {name}: {w}" for w in mf.extra.get("warnings", [])]
    df_fit = fit if fit is not None and fit.ddf != "z" else None  # t tests of linear quantities
    df_main = df_fit  # degrees of freedom of the main tables' model (the full one)
    checked = (beta, cov, df_fit)  # the model the checklist reads: the full second-order one
    if spec.model != ("cubic" if spec.cubic else "full"):  # a constrained model fills the main tables
        df_main = None  # constrained fits keep Wald z
        chosen = fam[spec.model]
        beta, cov = chosen.beta.to_numpy(), chosen.cov.to_numpy()
        info_fit.update(loglik=chosen.loglik, aic=-2 * chosen.loglik + 2 * chosen.k,
                        estimator=info_fit["estimator"] + f"; constrained model {spec.model}")
        if "fit" in chosen.extra:
            vc = chosen.extra["fit"].variance_components.copy()
        converged = converged and chosen.converged
        checked = (beta, cov, None)
    if "full" in fam and spec.model != "full":
        checked = (fam["full"].beta.to_numpy(), fam["full"].cov.to_numpy(), df_fit)
    beta_s = pd.Series(beta, index=X.columns)  # (the design's labels: names, as an Index once)
    cov_means = covariate_means(X, mod_term, columns=design)
    levels, intercepts, base, inter = _levels(beta_s, X, kind, mod_term, mod_levels, f, spec,
                                              cov_means)
    cubic_levels = _cubic_levels(X, levels, mod_term) if spec.cubic else {}
    surface = _surface_numbers(beta, cov, levels, kind, df_main, names)
    unidentified = far_point_flags({lab: _point(est, V) for lab, (est, V, _) in surface.items()},
                                   arrays["x"], arrays["y"])  # issue 15
    notes = list(dict.fromkeys(notes + unidentified))
    weights = intercept_weights(X, levels, mod_term, cov_means)
    estimates = []  # (level, estimates, covariance, names, df): each level's quantities and b0
    for lab, (est, V, dfs) in surface.items():
        estimates.append((lab, est, V, QUANTITIES, dfs))
        if lab in weights:
            w = weights[lab]
            estimates.append((lab, [w @ beta], [[w @ cov @ w]], ["b0"], None))
    if spec.cubic and MODELS[spec.model].order == 3:
        if kind is None:
            estimates.append(("all", *cubic_numbers(beta, cov, names), CUBIC_QUANTITIES, None))
        else:
            for lab, (est, V) in cubic_level_numbers(
                    beta, cov, _with_difference(levels, base, inter, kind), cubic_levels).items():
                estimates.append((lab, est, V, CUBIC_QUANTITIES, None))
    coefficients = (beta, cov, names, None if df_main is None else _df_of(df_main, names,
                                                                         np.eye(len(names))))
    tables = {}
    if kind == "continuous":
        tables["regions"] = regions_table(
            beta, cov, base, inter, f["mod"].to_numpy(), spec.conf_level,
            None if df_main is None else (lambda l: float(_df_of(df_main, names, l)[0])))
    if vc is not None:
        tables["variance_components"] = vc
    if fit is not None and spec.random == "full":
        tables["level2_variances"] = level2_variances(fit, spec.inner)
    tables, rows = _tables(estimates, coefficients, tables, kind, spec, fit, source,
                           drops, frame_info["rows_input"])
    for msg in notes:  # fit_lmm's own warnings were caught above: emit every one once, here
        warnings.warn(msg, AllianceWarning, stacklevel=2)
    info = {
        "difference_level": _difference(levels) if kind == "binary" else None,
        "outcome": spec.outcome, "x": spec.x,
        "y": spec.y if spec.y else f"mean of {spec.x} within {spec.inner}",
        "center": spec.center if isinstance(spec.center, str) else "value",
        "center_x": frame_info["center_x"], "center_y": frame_info["center_y"], **rows,
        "method": spec.method if spec.groups else "OLS", "se": spec.se,
        "moderator": spec.moderator, "moderator_kind": kind, "groups": spec.groups,
        "random": spec.random if spec.groups else None, "level2_means": spec.level2_means,
        "lag": spec.lag, "time": spec.time,
        "lag_within": spec.lag_unit if spec.lag is not None else None,
        "lag_gaps": bool(spec.lag_gaps),
        "lag_report": frame_info["lag_report"], **info_fit, "surface_intercepts": intercepts,
        "model": spec.model, "cubic": spec.cubic, "family": list(spec.family),
        "outliers": spec.outliers, "outlier_rows": outlier_rows,
        "stationary_point_flags": unidentified,
    }
    title = (f"Response surface analysis of {spec.outcome} on {spec.x} (X) and {info['y']} (Y)"
             + (f", lag {spec.lag}" if spec.lag else "")
             + (f", moderated by {spec.moderator}" if spec.moderator else ""))
    return RSAResult(
        title=title, tables=tables, n_obs=len(f), n_groups=n_groups, converged=converged,
        warnings=notes, info=info, beta=beta_s, cov=pd.DataFrame(cov, index=X.columns, columns=X.columns),
        levels=levels, cubic_levels=cubic_levels, frame=f, fit=fit, spec=spec,
        _later={"kind": kind, "checked": checked, "fits": fam, "X": X, "z": z,
                "mod_term": mod_term, "names": names},
    )


def _point(est, V) -> dict:
    """The stationary point of a level: ``{"X0": (estimate, se), "Y0": (estimate, se)}``."""
    out = {}
    for t in ("X0", "Y0"):
        k = QUANTITIES.index(t)
        out[t] = (float(est[k]), float(np.sqrt(V[k, k])) if V[k, k] >= 0 else np.nan)
    return out


def _tables(estimates: list, coefficients: tuple, more: dict, kind, spec: RSASpec, fit, source,
            drops: list, n_input: int) -> tuple[dict, dict]:
    """The last stage of a fit: every table of tests, the fit's tests checked, the rows counted.

    ``estimates`` are the surface table's blocks ``(level, estimates, covariance, names,
    df)``, ``coefficients`` the main model's ``(beta, cov, names, df)``; ``more`` the
    tables made already (regions, variance components); ``drops`` the rows left out
    (:func:`~alliance.rsa.spec.analysis_frame`). Returns the tables in their order (the
    checklist, the model family's tables and the verdict as :class:`_Later`) and the row
    counts (:class:`~alliance.results.RowLog`).
    """
    # every block's tests in one table: a Wald test reads its own row only (the estimate, its
    # variance on the diagonal, its df), so the blocks stacked give each row's own numbers
    sizes = [len(terms) for _, _, _, terms, _ in estimates]
    est = np.concatenate([np.asarray(e, dtype=float).ravel() for _, e, _, _, _ in estimates])
    var = np.concatenate([np.diag(np.atleast_2d(np.asarray(V, dtype=float)))
                          for _, _, V, _, _ in estimates])
    dfs = np.concatenate([np.full(k, np.inf) if d is None else
                          np.broadcast_to(np.asarray(d, dtype=float), (k,))
                          for k, (_, _, _, _, d) in zip(sizes, estimates)])
    surface = wald_table(est, np.diag(var), [t for _, _, _, terms, _ in estimates for t in terms],
                         spec.conf_level, df=dfs,
                         first={"level": np.repeat([lab for lab, *_ in estimates], sizes)}
                         if kind else None)
    beta, cov, names, dfs = coefficients
    tables = {"estimates": surface,
              # a constrained model (and an OLS fit): Wald z, no test of a value it fixes
              "coefficients": wald_table(beta, cov, names, spec.conf_level, df=dfs,
                                         constrained=dfs is None),
              "checklist": _Later("checklist")}
    tables.update(more)
    if spec.family:
        tables.update({t: _Later("family") for t in FAMILY_TABLES})
    tables["verdict"] = tables["verdict_conditions"] = _Later("verdict")
    if fit is not None:
        check_tests(fit.estimates, source, "response surface")
    log = RowLog(n_input)
    for bad, key, text in drops:
        log.drop(bad, key, text)
    return tables, log.info()


#: The tables of a model family (:func:`alliance.rsa.family.family_tables`).
FAMILY_TABLES = ("models", "model_tests", "model_estimates")


class _Later:
    """A table of an :class:`RSAResult` made when first read (``name``: what makes it)."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"<made when read: {self.name}>"


class _Tables(Tables):
    """An :class:`RSAResult`'s tables: those held as :class:`_Later` are made on first read
    (by indexing, ``get``, ``items``, ``values``, iteration into a dict, JSON, pickling)."""

    owner = None

    def _made(self, key):
        value = dict.__getitem__(self, key)
        if isinstance(value, _Later):
            for name, table in self.owner._make(value.name).items():
                if name in self and isinstance(dict.__getitem__(self, name), _Later):
                    dict.__setitem__(self, name, table)
            value = dict.__getitem__(self, key)
        return value

    def __getitem__(self, key):
        return self._made(self._name(key))

    def get(self, key, default=None):
        key = self._name(key)
        return self._made(key) if dict.__contains__(self, key) else default

    def pop(self, key, *default):
        key = self._name(key)
        if dict.__contains__(self, key):
            self._made(key)
        return super().pop(key, *default)

    def __iter__(self):  # a dict made from these tables reads each through __getitem__
        return dict.__iter__(self)

    def items(self):
        return [(k, self._made(k)) for k in dict.keys(self)]

    def values(self):
        return [self._made(k) for k in dict.keys(self)]

    def copy(self):
        return dict(self.items())


def level2_variances(fit, group: str) -> pd.DataFrame:
    r"""Variances of the surface parameters a1-a5 between the levels of ``group``.

    With random slopes :math:`u = (u_1..u_5)` of b1-b5 per group and covariance
    :math:`G`, group :math:`j`'s surface has :math:`a_{kj} = a_k + \ell_k^\top u_j`,
    so :math:`\mathrm{Var}(a_{kj}) = \ell_k^\top G\ell_k` (:data:`SURFACE_L` rows;
    Nestler, Humberg & Schönbrodt 2019). SEs by the delta method
    (:meth:`alliance.mixed.MixedFit.random_combination`), NaN where the deviance
    Hessian is singular (a boundary fit).
    """
    L = {a: {c: float(w) for c, w in zip(COEF_NAMES, SURFACE_L.loc[a]) if w != 0}
         for a in SURFACE_L.index}
    return fit.random_combination(group, L)


def _lmm(z, X, terms, spec: RSASpec, source: str, ddf: str = "satterthwaite"):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", AllianceWarning)
        fit = fit_lmm(z, X, terms, method=spec.method, source=source, conf_level=spec.conf_level,
                      df=ddf)
    return fit, list(caught)


def _cubic_levels(X: pd.DataFrame, levels: dict, mod_term: str | None) -> dict:
    """Per level (and the arm difference of a binary moderator): the 4 x p matrix of b6..b9.

    A level's moderator value is read off its b1 row (the weight of ``x:moderator``); the
    difference of a binary moderator is the block of the products alone.
    """
    names = X.columns.tolist()
    idx = {nm: i for i, nm in enumerate(names)}
    cbase = np.zeros((4, len(names)))
    cinter = np.zeros((4, len(names)))
    for r, t in enumerate(CUBIC_TERMS[5:]):
        cbase[r, idx[t]] = 1.0
        if mod_term:
            cinter[r, idx[f"{t}:{mod_term}"]] = 1.0
    if not mod_term:
        return {lab: cbase for lab in levels}
    out = {lab: cbase + float(M[0, idx[f"x:{mod_term}"]]) * cinter for lab, M in levels.items()}
    if len(levels) == 2:  # a binary moderator: its difference
        out[_difference(levels)] = cinter
    return out


def _difference(levels: dict) -> str:
    """The label of a binary moderator's difference: ``"<level> - <reference>"``."""
    reference, level = list(levels)
    return difference_label(level, reference)


def _with_difference(levels: dict, base, inter, kind) -> dict:
    """The levels, and for a binary moderator the arm difference (its b1..b5: the products)."""
    return {**levels, _difference(levels): inter} if kind == "binary" else dict(levels)


def _levels(beta_s: pd.Series, X: pd.DataFrame, kind, mod_term, mod_levels, f, spec: RSASpec,
            cov_means: dict):
    """Per level: the matrix M with b = M beta, and the surface intercept (covariates at their
    means, ``cov_means``: :func:`~alliance.rsa.surface.covariate_means`)."""
    names = X.columns.tolist()
    p = len(names)
    idx = {nm: i for i, nm in enumerate(names)}
    base = np.zeros((5, p))
    for r, t in enumerate(COEF_NAMES):
        base[r, idx[t]] = 1.0
    inter = None
    if kind:
        inter = np.zeros((5, p))
        for r, t in enumerate(COEF_NAMES):
            inter[r, idx[f"{t}:{mod_term}"]] = 1.0
    b = beta_s.to_numpy()  # (each coefficient read by its position: the same numbers)
    b0 = float(b[idx["Intercept"]] + sum(b[idx[k]] * v for k, v in cov_means.items()))
    levels: dict[str, np.ndarray] = {}
    intercepts: dict[str, float] = {}
    if kind is None:
        levels["all"], intercepts["all"] = base, b0
    elif kind == "binary":
        levels[mod_levels[0]], intercepts[mod_levels[0]] = base, b0
        levels[mod_levels[1]] = base + inter
        intercepts[mod_levels[1]] = b0 + float(b[idx[mod_term]])
    else:
        gv = f["mod"].to_numpy()
        at = spec.at if spec.at is not None else [gv.mean() - gv.std(ddof=1), gv.mean(),
                                                 gv.mean() + gv.std(ddof=1)]
        for a in at:
            lab = f"{spec.moderator}={float(a):g}"
            levels[lab] = base + float(a) * inter
            intercepts[lab] = b0 + float(a) * float(b[idx[mod_term]])
    return levels, intercepts, base, inter


def _df_of(fit, names: list, L) -> np.ndarray:
    """Degrees of freedom of the linear combinations ``L`` (rows on ``names``) of a mixed fit."""
    if fit.cov_fixed.index.tolist() != names:  # pragma: no cover - the design is the fit's
        return fit.df_of(pd.DataFrame(np.atleast_2d(L), columns=names)).to_numpy()
    return fit.df_of_array(L)


def _linear_df(fit, names: list, L5: np.ndarray) -> np.ndarray | None:
    """Degrees of freedom of a1-a5 of each block of 5 rows of ``L5`` (on beta), one row of
    :data:`QUANTITIES` per block: inf for the nonlinear quantities."""
    if fit is None:
        return None
    out = np.full((len(L5) // 5, len(QUANTITIES)), np.inf)
    out[:, :5] = _df_of(fit, names, L5).reshape(-1, 5)
    return out


def _surface_numbers(beta, cov, levels: dict, kind, fit, names: list) -> dict:
    """Per level (and the difference of a binary moderator): the surface quantities, their
    covariance and degrees of freedom (those of ``fit`` for a1-a5, linear in the
    coefficients; z, df = inf, for the others; None: z for all)."""
    SL = SURFACE_L.to_numpy()
    out = {}
    # each level's quantities and Jacobian, in one batch (the difference's are theirs)
    parts = _surface_covs(beta, list(levels.values()))
    for (lab, M), (est, J) in zip(levels.items(), parts):
        out[lab] = (est, J @ cov @ J.T, SL @ M)
    if kind == "binary":
        (_, M0), (_, M1) = levels.items()
        (e0, J0), (e1, J1) = parts
        Jd = J1 - J0
        out[_difference(levels)] = (e1 - e0, Jd @ cov @ Jd.T, SL @ (M1 - M0))
    # every block's a1-a5 in one call of the df machinery (each row's df is its own)
    dfs = _linear_df(fit, names, np.vstack([L5 for _, _, L5 in out.values()]))
    return {lab: (est, V, None if dfs is None else dfs[i])
            for i, (lab, (est, V, _)) in enumerate(out.items())}


def _command(source, *, read: dict, method: str = "ML", conf_level: float = 0.95,
             df: str = "satterthwaite", outcome=None, x=None, y=None, y_as_group_mean=False,
             group=(), time=None, lag=None, lag_within=None, prior_outcome=False, moderator=None,
             moderator_levels=None, at=None, covariate=(), center="pooled", se=None, model=None,
             compare=False, family=None, cubic=False, verdict=False, outliers=None,
             bootstrap=None, n_boot=None, seed=1, jobs=1, random="intercept",
             level2_means=False) -> Result:
    """``alliance fit rsa FILE``: FILE read once by :func:`alliance.read_table` (its own column
    names; ``read``: its input options), the surface fitted; ``n_boot`` (``bootstrap``, its
    former name) adds the table ``bootstrap`` (:func:`alliance.rsa.bootstrap_rsa`);
    ``verdict`` returns only the tables ``verdict`` and ``verdict_conditions``."""
    from alliance.options import MAX_DRAWS, check_count, check_jobs, check_seed
    from alliance.rsa.bootstrap import bootstrap_rsa

    given = "n_boot" if n_boot is not None else "bootstrap"  # the user's spelling, in errors
    n_boot = bootstrap if n_boot is None else n_boot
    if n_boot is not None:
        check_count(n_boot, given, low=2, high=MAX_DRAWS)
    check_seed(seed)
    check_jobs(jobs)
    family = family or (("cubic" if cubic else "default") if compare else "auto")
    spec = rsa_spec(outcome, x, y, group=list(group or ()) or None, time=time, lag=lag,
                    lag_within=lag_within, prior_outcome=prior_outcome, moderator=moderator,
                    moderator_levels=moderator_levels, at=at, covariates=tuple(covariate or ()),
                    center=center, se=se, random=random, level2_means=level2_means,
                    y_as_group_mean=y_as_group_mean, method=method, conf_level=conf_level,
                    model=model, family=family, cubic=cubic, outliers=outliers)
    df = check_df(df, method=spec.method)
    table = {k: v for k, v in read.items() if k != "columns"}
    # ids (groups, the lag unit) by the one id rule; a moderator may be numeric: read as it is
    res = _fit_rsa(source, spec, df=df, read={"numeric": spec.numeric_columns(),
                                              "required": spec.identifier_columns(), **table})
    if n_boot is not None:
        boot = bootstrap_rsa(res, n_boot, seed=seed, jobs=jobs)
        res.tables["bootstrap"] = boot.estimates
        res.warnings += boot.warnings
        res.info["bootstrap"] = boot.info
    if verdict:
        keep = {"verdict": res.tables["verdict"], "verdict_conditions": res.tables["verdict_conditions"]}
        return Result(title=f"Congruence verdict: {res.title}", tables=keep, n_obs=res.n_obs,
                      n_groups=res.n_groups, converged=res.converged, warnings=res.warnings,
                      info={k: res.info[k] for k in ("model", "family", "rows_used", "center_x")})
    return res
