"""Fitting a linear mixed model: :func:`fit_lmm`, its result :class:`MixedFit`, and :func:`lrt`.

The model, the criterion and the algorithm are described in :mod:`alliance.mixed`;
the small-sample tests in :mod:`alliance.mixed.inference`; the optimizer and its
convergence checks in :mod:`alliance.mixed.optimize`.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from threadpoolctl import ThreadpoolController

from alliance.data.cells import fail, rows_text
from alliance.errors import AllianceWarning, DataError, FitError
from alliance.mixed.inference import (
    Curvature,
    KenwardRoger,
    Satterthwaite,
    cho_inverse,
    curvature,
    normalise_ddf,
    triangular_inverse,
)
from alliance.mixed.model import BOUNDARY_TOL, Model, RandomTerm, check_rank, prepare
from alliance.mixed.optimize import (
    OPTIMIZERS,
    RESTARTS,
    bounds_of,
    check,
    diagnose,
    escape_false_boundary,
    minimise,
    restart_search,
    run,
    theta0,
)
from alliance.results import Result, columns_frame, labels_index, wald_table

__all__ = ["DDF_LABEL", "MixedFit", "fit_lmm", "lrt"]

#: How each degrees-of-freedom method is named in titles and summaries.
DDF_LABEL = {"satterthwaite": "Satterthwaite t", "kenward-roger": "Kenward-Roger t",
             "z": "Wald z"}


@dataclass
class MixedFit(Result):
    """Result of :func:`fit_lmm` (see its docstring for every attribute).

    ``tables["fixed"]`` (also :attr:`estimates`) is the tidy fixed-effects table
    (``term``, ``estimate``, ``se``, ``statistic``, ``df``, ``p``, ``ci_low``,
    ``ci_high``) under the fit's ``ddf`` method; ``tables["variance_components"]``
    the variance components.
    """

    cov_fixed: pd.DataFrame = field(default_factory=pd.DataFrame)
    sigma2: float = math.nan
    loglik: float = math.nan
    deviance: float = math.nan
    aic: float = math.nan
    bic: float = math.nan
    n_params: int = 0
    method: str = "REML"
    optimizer: str = ""
    boundary: bool = False
    theta: np.ndarray = field(default_factory=lambda: np.empty(0))
    conf_level: float = 0.95
    source: str = "<DataFrame>"
    n_blocks: int = 0
    ddf: str = "satterthwaite"
    residual_variances: pd.Series | None = None
    diagnostics: dict = field(default_factory=dict)
    _re: dict = field(default_factory=dict, repr=False)
    _fitted: pd.Series | None = field(default=None, repr=False)
    #: The conditional modes as arrays, ``{name: (levels, columns, values)}``, and the fitted
    #: values with their row index: the tables of :meth:`random_effects` and :meth:`fitted`
    #: are built from them when first asked for (most fits never are).
    _modes: dict = field(default_factory=dict, repr=False)
    _fitted_values: tuple | None = field(default=None, repr=False)
    _y: np.ndarray | None = field(default=None, repr=False)
    _X: np.ndarray | None = field(default=None, repr=False)
    _random_spec: tuple = field(default=(), repr=False)
    _curv: Curvature | None = field(default=None, repr=False)
    _kr_parts: tuple | None = field(default=None, repr=False)
    _inference: dict = field(default_factory=dict, repr=False)
    _beta: np.ndarray | None = field(default=None, repr=False)

    @property
    def coef(self) -> pd.Series:
        """Fixed-effect estimates :math:`\\hat\\beta` indexed by term."""
        t = self.tables["fixed"]
        return pd.Series(t["estimate"].to_numpy(), index=pd.Index(t["term"], name="term"),
                         name="estimate")

    @property
    def variance_components(self) -> pd.DataFrame:
        """group, term1, term2, variance (covariance if term2), sd, corr; last rows Residual."""
        return self.tables["variance_components"]

    # ---- small-sample inference
    def inference(self, ddf: str | None = None):
        """The degrees-of-freedom machinery of a method (None for Wald z).

        ``"satterthwaite"`` (:class:`~alliance.mixed.inference.Satterthwaite`) or
        ``"kenward-roger"`` (:class:`~alliance.mixed.inference.KenwardRoger`, REML fits
        only); computed once per fit and cached.
        """
        ddf = normalise_ddf(self.ddf if ddf is None else ddf)
        if ddf == "z":
            return None
        if ddf not in self._inference:
            if self._curv is None:
                raise FitError(f"{self.source}: degrees of freedom are not available: the "
                               "curvature at the solution could not be computed "
                               f"({self.diagnostics.get('problem', '')})")
            if ddf == "satterthwaite":
                self._inference[ddf] = Satterthwaite(self._curv)
            else:
                if self.method != "REML":
                    raise ValueError(
                        "Kenward-Roger's method is defined for REML fits (as in pbkrtest and "
                        "lmerTest); refit with method='REML' or use df='satterthwaite'")
                self._inference[ddf] = KenwardRoger(*self._kr_parts,
                                                    phi=self.cov_fixed.to_numpy())
        return self._inference[ddf]

    def df_of(self, L, ddf: str | None = None) -> pd.Series:
        """Degrees of freedom of the linear combinations ``L β`` (inf for Wald z)."""
        index, Lm = self._L_matrix(L)
        return pd.Series(self.df_of_array(Lm, ddf), index=index, name="df")

    def df_of_array(self, L, ddf: str | None = None) -> np.ndarray:
        """:meth:`df_of` for a plain array ``L`` whose columns are the fixed effects in the
        order of :attr:`cov_fixed` (no labels: for callers that build ``L`` on the design)."""
        L = np.asfortranarray(np.atleast_2d(np.asarray(L, dtype=float)))
        inf = self.inference(ddf)
        return np.full(len(L), np.inf) if inf is None else inf.df(L)

    def vcov(self, ddf: str | None = None) -> pd.DataFrame:
        """Covariance of the fixed effects used by a method's tests.

        :attr:`cov_fixed` (:math:`\\hat\\Phi`, lme4's ``vcov``) for Wald z and
        Satterthwaite; the Kenward-Roger adjusted :math:`\\Phi_A` for Kenward-Roger.
        """
        inf = self.inference(ddf)
        if inf is None or inf.method == "satterthwaite":
            return self.cov_fixed
        return pd.DataFrame(inf.vcov(), index=self.cov_fixed.index,
                            columns=self.cov_fixed.columns)

    def fixed_effects(self, ddf: str | None = None) -> pd.DataFrame:
        """The fixed-effects table under another method (``"z"``, ``"satterthwaite"``,
        ``"kenward-roger"``); ``tables["fixed"]`` holds the fit's own ``ddf``."""
        names = self.cov_fixed.index.tolist()
        inf = self.inference(ddf)
        eye = np.eye(len(names))
        df = None if inf is None else inf.df(eye)
        V = self.cov_fixed.to_numpy() if inf is None else inf.vcov()
        beta = self._beta if self._beta is not None else self.coef.to_numpy()
        return wald_table(beta, V, names, self.conf_level, df=df)

    # ---- linear combinations of beta
    def _L_matrix(self, L) -> tuple[pd.Index, np.ndarray]:
        """The labels and the weight matrix (one row per label, one column per term) of
        ``L``, as :meth:`_L` gives them, built in NumPy for the usual inputs: a dict of dicts
        of numbers, or a DataFrame of numbers whose columns are the terms in order. Anything
        else (and every error) goes through :meth:`_L`."""
        names = self.cov_fixed.index.tolist()
        try:
            if isinstance(L, pd.DataFrame):
                if (L.columns.tolist() == names and L.shape[0] > 0
                        and all(dt.kind in "fi" for dt in L.dtypes)):
                    M = L.to_numpy(dtype=float, copy=True)
                    M[np.isnan(M)] = 0.0
                    return L.index, M
            elif isinstance(L, Mapping) and L:
                pos = {n: j for j, n in enumerate(names)}
                # column-major, as a DataFrame's array is: the products below then add up in
                # the same order as on the general path, to the last bit
                M = np.zeros((len(L), len(names)), order="F")
                for i, row in enumerate(L.values()):
                    for term, w in dict(row).items():
                        if isinstance(w, (str, bytes)):
                            raise TypeError("a weight is text")
                        w = float(w)
                        M[i, pos[term]] = 0.0 if math.isnan(w) else w  # a missing weight is 0
                labels = [str(k) for k in L]
                if len(set(labels)) == len(labels):
                    return pd.Index(labels), M
        except (KeyError, TypeError, ValueError):
            pass  # the general path gives the message
        Ld = self._L(L)
        return Ld.index, Ld.to_numpy()

    def _L(self, L) -> pd.DataFrame:
        names = list(self.tables["fixed"]["term"])
        if isinstance(L, pd.DataFrame):
            Ld = L.copy()
        elif isinstance(L, Mapping):
            Ld = pd.DataFrame.from_dict({str(k): dict(v) for k, v in L.items()}, orient="index")
        else:
            raise TypeError("L must be a dict {label: {term: weight}} or a DataFrame")
        unknown = [c for c in Ld.columns if c not in names]
        if unknown:
            raise ValueError(f"unknown fixed-effect term(s) in L: {unknown}; terms are {names}")
        Ld = Ld.reindex(columns=names).fillna(0.0).astype(float)
        return Ld

    def cov_of(self, L, ddf: str | None = None) -> pd.DataFrame:
        """Covariance matrix :math:`L V L^\\top` of the linear combinations ``L β``
        (:math:`V` = :meth:`vcov` of the method)."""
        index, Lm = self._L_matrix(L)
        cov = Lm @ self._vcov_array(self.inference(ddf)) @ Lm.T
        return pd.DataFrame(cov, index=index, columns=index)

    def _vcov_array(self, inf) -> np.ndarray:
        """:meth:`vcov` as an array, for the method whose machinery is ``inf``."""
        if inf is None or inf.method == "satterthwaite":
            return self.cov_fixed.to_numpy()
        return inf.vcov()

    def contrast(self, L, ddf: str | None = None) -> pd.DataFrame:
        """Tidy test table (like ``tables["fixed"]``) of the linear combinations ``L β``.

        ``L`` is a dict ``{label: {term: weight}}`` (missing terms weigh 0) or a
        DataFrame with one row per label and fixed-effect terms as columns; the
        labels become the ``term`` column. ``ddf`` (default: the fit's) chooses the
        test: ``"satterthwaite"`` or ``"kenward-roger"`` t with their degrees of
        freedom, or ``"z"``.
        """
        index, est, cov, df = self._contrast_parts(L, ddf)
        return wald_table(est, cov, list(index), self.conf_level, df=df)

    def _contrast_parts(self, L, ddf: str | None = None) -> tuple:
        """What :meth:`contrast` tests: the labels, the estimates ``L β``, their covariance and
        degrees of freedom (for :func:`alliance.moderation.contrast_table`, which labels the
        rows itself)."""
        index, Lm = self._L_matrix(L)
        beta = self._beta if self._beta is not None else self.coef.to_numpy()
        est = Lm @ beta
        inf = self.inference(ddf)
        df = np.full(len(Lm), np.inf) if inf is None else inf.df(Lm)
        cov = Lm @ self._vcov_array(inf) @ Lm.T
        return index, est, cov, df

    def compare_tests(self, L, methods=("z", "satterthwaite", "kenward-roger")) -> pd.DataFrame:
        """The linear combinations ``L β`` under several tests, one row per (combination, method).

        Columns ``term``, ``method`` (``DDF_LABEL``: "Wald z", "Satterthwaite t",
        "Kenward-Roger t"), ``estimate``, ``se``, ``statistic``, ``df``, ``p``, ``ci_low``,
        ``ci_high``. Kenward-Roger is left out of an ML fit (it is defined for REML).
        """
        out = []
        for m in methods:
            m = normalise_ddf(m)
            if m == "kenward-roger" and self.method != "REML":
                continue
            tab = self.contrast(L, ddf=m)
            tab.insert(1, "method", DDF_LABEL[m])
            out.append(tab)
        return pd.concat(out, ignore_index=True)

    # ---- random effects
    def random_cov(self, group: str) -> pd.DataFrame:
        """Estimated covariance matrix :math:`G_k` of a grouping factor's random effects."""
        if group not in self._re_tables():
            raise KeyError(f"no random term named {group!r}; terms are {list(self._re)}")
        vc = self.variance_components
        v = vc[vc["group"] == group]
        names = list(v.loc[v["term2"].isna(), "term1"])
        G = pd.DataFrame(0.0, index=names, columns=names)
        for r in v.itertuples(index=False):
            if r.term2 is None or (isinstance(r.term2, float) and math.isnan(r.term2)):
                G.loc[r.term1, r.term1] = r.variance
            else:
                G.loc[r.term1, r.term2] = G.loc[r.term2, r.term1] = r.variance
        return G

    def random_combination(self, group: str, L) -> pd.DataFrame:
        r"""Variances of linear combinations :math:`\ell^\top b` of a group's random effects.

        For random coefficients :math:`b \sim N(0, G)` of ``group`` and weights
        ``L`` (``{label: {random-effect column: weight}}``) the variance is
        :math:`\ell^\top G\ell`. Its SE is the delta method with the covariance of the
        variance parameters of Satterthwaite's method (:math:`2H^{+}` from the
        deviance Hessian in :math:`(\theta, \rho, \sigma)`), and is NaN ("not defined")
        when that Hessian is singular, e.g. on the boundary. Nestler et al. (2019) use
        this for the level-2 variances of the surface parameters a1-a5.

        Returns
        -------
        pandas.DataFrame
            ``term`` (label), ``variance``, ``sd``, ``se`` (of the variance).
        """
        spec = {name: (cols, struct) for name, cols, struct in self._random_spec}
        if group not in spec:
            raise KeyError(f"no random term named {group!r}; terms are {list(spec)}")
        cols, _struct = spec[group]
        Ld = (pd.DataFrame.from_dict({str(k): dict(v) for k, v in L.items()}, orient="index")
              if isinstance(L, Mapping) else L.copy())
        unknown = [c for c in Ld.columns if c not in cols]
        if unknown:
            raise ValueError(f"unknown random-effect column(s) {unknown}; {group} has {list(cols)}")
        Lm = Ld.reindex(columns=list(cols)).fillna(0.0).astype(float).to_numpy()
        G = self.random_cov(group).loc[list(cols), list(cols)].to_numpy()
        var = np.einsum("kq,qr,kr->k", Lm, G, Lm)
        se = np.full(var.size, np.nan)
        curv = self._curv
        if curv is not None:
            ev = np.linalg.eigvalsh(curv.hess_deviance)
            if ev[0] > 1e-8:
                A = 2.0 * np.linalg.inv(curv.hess_deviance)
                J = self._random_combination_jacobian(group, Lm)
                se = np.sqrt(np.einsum("kv,vw,kw->k", J, A, J))
        return pd.DataFrame({"term": list(Ld.index), "variance": var,
                             "sd": np.sqrt(np.clip(var, 0, None)), "se": se})

    def _random_combination_jacobian(self, group: str, Lm: np.ndarray) -> np.ndarray:
        """d (l' sigma^2 Lambda Lambda' l) / d (theta, rho, sigma), analytically."""
        start = 0
        for name, cols, struct in self._random_spec:
            q = len(cols)
            tmpl = ([(r, c) for c in range(q) for r in range(c, q)] if struct == "unstructured"
                    else [(r, r) for r in range(q)])
            if name == group:
                th = self.theta[start : start + len(tmpl)]
                lam = np.zeros((q, q))
                for (r, c), v in zip(tmpl, th):
                    lam[r, c] = v
                break
            start += len(tmpl)
        s2 = self.sigma2
        npsi = self._curv.hess_deviance.shape[0]
        J = np.zeros((Lm.shape[0], npsi))
        Ll = Lm @ lam  # rows: (Lambda' l)'
        for e, (r, c) in enumerate(tmpl):
            J[:, start + e] = 2.0 * s2 * Lm[:, r] * Ll[:, c]
        J[:, -1] = 2.0 * math.sqrt(s2) * np.sum(Ll * Ll, axis=1)
        return J

    def random_effects(self, name: str) -> pd.DataFrame:
        """Conditional modes (BLUPs) of the random effects of grouping factor ``name``."""
        if name not in self._re_tables():
            raise KeyError(f"no random term named {name!r}; terms are {list(self._re)}")
        return self._re[name].copy()

    def _re_tables(self) -> dict:
        """The conditional modes by grouping factor, as tables (built on first use)."""
        for name, (levels, cols, vals) in self._modes.items():
            if name not in self._re:
                self._re[name] = pd.DataFrame(vals, index=pd.Index(levels, name=name),
                                              columns=cols)
        return self._re

    def _fitted_series(self) -> pd.Series:
        if self._fitted is None and self._fitted_values is not None:
            values, index = self._fitted_values
            self._fitted = pd.Series(values, index=index, name="fitted")
        return self._fitted

    def fitted(self) -> pd.Series:
        """Conditional fitted values :math:`X\\hat\\beta + Z\\hat b` (row order of the input)."""
        return self._fitted_series().copy()

    def residuals(self) -> pd.Series:
        """Conditional residuals :math:`y - X\\hat\\beta - Z\\hat b`."""
        fitted = self._fitted_series()
        return pd.Series(self._y - fitted.to_numpy(), index=fitted.index,
                         name="residual")

    def summary(self) -> str:
        """Plain-text report: fixed effects, variance components, fit statistics, flags."""
        lines = [
            f"Linear mixed model fit by {self.method} ({self.optimizer}); data: {self.source}",
            f"  n = {self.n_obs}; groups: "
            + ", ".join(f"{k} {v}" for k, v in self.n_groups.items())
            + f"; independent blocks: {self.n_blocks}",
            (
                f"  logLik = {self.loglik:.4f}  deviance{' (REML crit)' if self.method == 'REML' else ''}"
                f" = {self.deviance:.4f}  AIC = {self.aic:.2f}  BIC = {self.bic:.2f}"
                f"  (parameters: {self.n_params})"
            ),
            "",
            f"Fixed effects ({DDF_LABEL[self.ddf]}, {100 * self.conf_level:g}% CI):",
            self.tables["fixed"].to_string(index=False, float_format=lambda v: f"{v:.6g}"),
            "",
            "Variance components:",
            self.variance_components.to_string(
                index=False, na_rep="", float_format=lambda v: f"{v:.6g}"
            ),
            "",
            f"converged: {self.converged}   boundary (singular) fit: {self.boundary}",
        ]
        if self.warnings:
            lines.append("Warnings:")
            lines.extend(f"  - {w}" for w in self.warnings)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready dict (the CLI convention) plus the fit statistics; NaN becomes ``None``."""
        out = super().to_dict()
        out.update(
            boundary=bool(self.boundary), loglik=self.loglik, deviance=self.deviance,
            aic=self.aic, bic=self.bic, sigma2=self.sigma2, n_params=int(self.n_params),
            method=self.method, optimizer=self.optimizer, ddf=self.ddf,
        )
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in out.items()}


# --------------------------------------------------------------------------- fitting


_CONTROLLER = None


def _single_threaded_blas(func):
    """Run ``func`` with one BLAS thread.

    Every evaluation of the criterion works on many small matrices; a threaded
    BLAS spends more time starting threads than computing (measured: a fit of the
    study-sized model took about 8 times longer with OpenBLAS threads on two
    cores, see benchmarks/bench_mixed.py). The controller that finds the BLAS
    libraries is built once (scanning the loaded libraries costs milliseconds).
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        global _CONTROLLER
        if _CONTROLLER is None:
            _CONTROLLER = ThreadpoolController()
        with _CONTROLLER.limit(limits=1, user_api="blas"):
            return func(*args, **kwargs)

    return wrapper


def _check_distinct_groupings(terms, source: str) -> None:
    """Refuse two random terms whose grouping factors split the rows the same way and whose
    columns are the same: their variances are one variance written twice (for example
    patients nested in therapists with one patient per therapist), and any split of it
    between the two terms is arbitrary, not an estimate."""
    for i, a in enumerate(terms):
        for b in terms[i + 1:]:
            if len(a.levels) != len(b.levels) or a.Z.shape != b.Z.shape:
                continue
            pairs = a.codes.astype(np.int64) * len(b.levels) + b.codes
            if len(np.unique(pairs)) == len(a.levels) and np.array_equal(a.Z, b.Z):
                raise FitError(
                    f"{source}: random terms '{a.name}' and '{b.name}' group the rows "
                    f"identically ({len(a.levels)} groups each, e.g. one {b.name} per "
                    f"{a.name}); their variances cannot be told apart "
                    "[rule: distinct grouping factors]"
                )


def _residual_levels(residual_groups, n: int, source: str, index):
    """Codes 0..L-1 (sorted labels) of a residual-variance factor, or (None, None)."""
    if residual_groups is None:
        return None, None
    from alliance.data.cells import Source

    g = pd.Series(residual_groups.to_numpy(dtype=object) if isinstance(residual_groups, pd.Series)
                  else np.asarray(residual_groups, dtype=object))
    if g.shape[0] != n:
        raise ValueError(f"residual_groups has {g.shape[0]} rows but y has {n}")
    default = index is None or (isinstance(index, pd.RangeIndex) and index.start == 0
                                and index.step == 1)
    src = Source(str(source), None, None if default else index)
    miss = g.isna().to_numpy()
    if miss.any():
        raise fail(src, "identifiers present", "the residual-variance factor is missing in "
                   f"{rows_text(np.flatnonzero(miss), src)}")
    try:
        codes, levels = pd.factorize(g, sort=True)
    except TypeError:
        codes, levels = pd.factorize(g.astype(str), sort=True)
    counts = np.bincount(codes, minlength=len(levels))
    if len(levels) < 2:
        raise ValueError("residual_groups has a single level: one residual variance is the "
                         "default; pass None")
    if counts.min() < 2:
        raise FitError(f"{source}: residual-variance level {levels[int(np.argmin(counts))]!r} has "
                       f"{int(counts.min())} row(s); a variance per level needs at least 2 "
                       "[rule: rows per residual-variance level]")
    return np.asarray(codes, dtype=np.intp), pd.Index(levels)


def _rho_start(model: Model, y: np.ndarray, Xa: np.ndarray, codes) -> np.ndarray:
    """log SD ratios of the OLS residuals per level (start of the variance function)."""
    if codes is None:
        return np.zeros(0)
    beta, *_ = np.linalg.lstsq(Xa, y, rcond=None)
    e = y - Xa @ beta
    sd = np.array([np.sqrt(np.mean(e[codes == k] ** 2)) for k in range(model.n_levels)])
    sd = np.where(sd > 0, sd, np.max(sd))
    return np.log(sd[1:] / sd[0])


@_single_threaded_blas
def fit_lmm(
    y,
    X,
    random: Sequence[RandomTerm] | RandomTerm,
    method: str = "REML",
    source: str = "<DataFrame>",
    conf_level: float = 0.95,
    *,
    df: str = "satterthwaite",
    residual_groups=None,
    optimizers: Sequence[str] = OPTIMIZERS,
    restarts: str = "boundary",
    ddf: str | None = None,
) -> MixedFit:
    r"""Fit a linear mixed model by REML or ML, the way lme4's ``lmer`` does.

    Model: :math:`y = X\beta + Zb + \varepsilon`, :math:`b \sim N(0, G)`,
    :math:`\varepsilon \sim N(0, \sigma^2 D)`. Each :class:`RandomTerm` contributes,
    for every level of its grouping factor, :math:`q_k` coefficients (columns of its
    ``Z``) with covariance :math:`G_k`; levels and terms are independent. :math:`D = I`
    unless ``residual_groups`` gives every level :math:`l` of a factor its own
    residual variance, :math:`D_{ii} = \delta_{l(i)}^2` with :math:`\delta_1 = 1`
    (nlme's ``weights = varIdent(form = ~ 1 | g)``).

    Parameters
    ----------
    y : array-like, shape (n,)
        Outcome.
    X : pandas.DataFrame, shape (n, p)
        Fixed-effect design; column names are the term names. Include the
        intercept yourself (a column ``"Intercept"`` of ones).
    random : list of RandomTerm
        Random-effect terms (e.g. a therapist intercept and a patient intercept
        and slope). Nested and crossed factors are both allowed.
    method : {"REML", "ML"}
        Criterion. Use ML to compare fixed effects with :func:`lrt`.
    source : str
        Name of the data set, used in error messages.
    conf_level : float
        Level of the confidence intervals.
    df : {"satterthwaite", "kenward-roger", "z"}, keyword-only
        Tests of the fixed effects and of every contrast: t tests with
        Satterthwaite's (default, as lmerTest) or Kenward-Roger's (REML only, as
        pbkrtest; SEs from the adjusted covariance) degrees of freedom, or Wald z
        (the ``df`` of every analysis). Any method is also available afterwards
        (``fit.contrast(L, ddf=...)``, ``fit.fixed_effects(ddf)``); the fit records
        it as ``fit.ddf``.
    residual_groups : array-like, shape (n,), optional, keyword-only
        A factor whose levels get their own residual variance (variance function).
    optimizers : sequence of str, keyword-only
        Optimizers to try in order (default ``("L-BFGS-B", "Nelder-Mead", "Powell")``).
    restarts : {"boundary", "always", "never"}, keyword-only
        When to restart from other starting points and keep the best criterion:
        when the optimum is on the boundary (default), always, or never.
    ddf : str, optional, keyword-only
        The former name of ``df`` (accepted for one release).

    Returns
    -------
    MixedFit
        ``fixed`` (estimate, se, statistic = t or z, df, p, ci_low, ci_high),
        ``cov_fixed`` (:math:`\hat\sigma^2(X^\top\hat V_0^{-1}X)^{-1}`, lme4's ``vcov``),
        ``variance_components`` (group, term1, term2, variance, sd, corr; last the
        ``Residual`` row, one per level with ``residual_groups``),
        ``residual_variances`` (per level, or None), ``sigma2`` (the residual
        variance of the first level), ``loglik``, ``deviance`` (-2 logLik for ML, the
        REML criterion for REML), ``aic``, ``bic`` (with ``n_params`` = p + len(theta)
        + variance-function parameters + 1, and ``n_obs``, as lme4/nlme), ``n_groups``,
        ``method``, ``ddf``, ``converged``, ``diagnostics``, ``optimizer``, ``boundary``
        (lme4's ``isSingular``: a bounded element of ``theta`` below 1e-4),
        ``warnings`` and ``theta``; methods ``contrast``, ``cov_of``, ``df_of``,
        ``vcov``, ``fixed_effects``, ``inference``, ``random_cov``,
        ``random_combination``, ``random_effects``, ``fitted``, ``residuals``,
        ``summary``, ``to_dict``.

    Raises
    ------
    DataError
        Missing or infinite values in ``y``, ``X``, ``Z`` or the groups (the message
        names ``source`` and the rows).
    FitError
        A degenerate model or fit: a constant outcome, ``y`` an exact linear function
        of ``X`` (zero residual variance), a rank-deficient ``X`` (names the aliased
        columns), no more rows than fixed effects, more random effects in a term
        than observations, or a non-finite criterion with every optimizer.
    ValueError
        Mismatched shapes or unknown options (Kenward-Roger with ML).

    Warns
    -----
    AllianceWarning
        Boundary (singular) fit, a fit that needed a fallback optimizer, or a fit
        that failed its convergence checks (``converged`` is then False); also
        recorded in ``fit.warnings``.

    Notes
    -----
    :math:`\theta` holds the column-wise lower triangle of each relative
    covariance factor :math:`\Lambda_k` (:math:`G_k = \sigma^2\Lambda_k\Lambda_k^\top`),
    started at the identity. The profiled criterion (module docstring) is
    minimised by L-BFGS-B with its exact analytic gradient and bounds
    :math:`\Lambda_{k,jj} \ge 0`. A bounded optimizer can stop on the boundary
    where the covariance matrix is not optimal (see :mod:`alliance.mixed.optimize`);
    such points are left by reflecting a column of :math:`\Lambda_k`, and when the
    optimum is on the boundary the fit restarts from other points and keeps the best
    criterion. ``converged`` is True only if, at the solution, the gradient is zero
    in every parameter (a Newton step would lower the criterion by less than 1e-6)
    and the Hessian has no negative eigenvalue; otherwise the fit warns and
    ``diagnostics["problem"]`` says why. Invalid results (non-finite criterion)
    fall back to bounded Nelder-Mead and Powell. Independent blocks of rows
    (connected components of the grouping factors) are processed with batched
    small Cholesky factorisations, so the cost grows linearly with the number of
    clusters; fully crossed designs form one large block and are correspondingly
    slower.

    Validated (``tests/test_mixed*.py``) against published values for
    ``sleepstudy`` (Bates et al. 2015), ``Orthodont`` (Pinheiro & Bates 2000) and
    ``dietox``; against lme4 1.1 run by ``tests/r/mixed_reference.R`` (REML and ML,
    a three-level nested model, crossed Penicillin) and
    ``tests/r/mixed_optimum_reference.R`` (Nestler et al.'s Example 1 by REML, whose
    optimum a bounded gradient method misses); the degrees of freedom against
    lmerTest 3.1 (Satterthwaite) and pbkrtest 0.5 (Kenward-Roger)
    (``tests/r/ddf_reference.R``); the variance function against ``nlme::lme`` with
    ``varIdent`` (``tests/r/varident_reference.R``).

    References
    ----------
    Bates, D., Mächler, M., Bolker, B. & Walker, S. (2015). Fitting linear
    mixed-effects models using lme4. *Journal of Statistical Software*, 67(1).
    Pinheiro, J. C., & Bates, D. M. (2000). *Mixed-effects models in S and S-PLUS*.
    Springer (variance functions, ch. 5).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from alliance.mixed import fit_lmm, RandomTerm
    >>> rng = np.random.default_rng(1)
    >>> patient = np.repeat(np.arange(30), 6)
    >>> session = np.tile(np.arange(6.0), 30)
    >>> b0 = rng.normal(0, 1.0, 30)[patient]
    >>> b1 = rng.normal(0, 0.3, 30)[patient]
    >>> y = 5 + 0.5 * session + b0 + b1 * session + rng.normal(0, 0.5, 180)
    >>> X = pd.DataFrame({"Intercept": 1.0, "session": session})
    >>> fit = fit_lmm(y, X, [RandomTerm("patient", patient, X)], method="REML")
    >>> fit.coef["session"].round(1)
    np.float64(0.5)
    >>> fit.converged, fit.boundary
    (True, False)
    >>> round(float(fit.estimates.set_index("term").loc["session", "df"]))  # about 30 patients
    29
    """
    method = str(method).upper()
    if method not in ("REML", "ML"):
        raise ValueError(f"method must be 'REML' or 'ML'; got {method!r}")
    if not (0 < conf_level < 1):
        raise ValueError("conf_level must be between 0 and 1")
    if ddf is not None:  # the former name
        if df != "satterthwaite" and normalise_ddf(ddf) != normalise_ddf(df):
            raise ValueError(f"df={df!r} and ddf={ddf!r} (its former name) disagree; give df only")
        df = ddf
    df = ddf = normalise_ddf(df)
    if ddf == "kenward-roger" and method != "REML":
        raise ValueError("Kenward-Roger's method is defined for REML fits (as in pbkrtest and "
                         "lmerTest); use method='REML' or df='satterthwaite'")
    if restarts not in RESTARTS:
        raise ValueError(f"restarts must be one of {RESTARTS}; got {restarts!r}")
    y_num, Xa, xnames, terms, index = prepare(y, X, random, source)
    n = Xa.shape[0]
    # The criterion is evaluated on the orthonormal Q of X = QR (see below); its R also
    # clears the rank check of a well-conditioned design (check_rank)
    Qx, Rx = np.linalg.qr(Xa)
    check_rank(Xa, xnames, source, R=Rx)
    for t in terms:
        if len(t.levels) < 2:
            # lme4's check.nlev.gtr.1: the variance among the levels of a factor with one
            # level is not identifiable (it is the intercept's); a fit would return a number
            raise FitError(
                f"{source}: random term '{t.name}' has {len(t.levels)} level; a variance "
                "among its levels needs at least 2 [rule: levels per grouping factor]"
            )
        nre = len(t.levels) * t.q
        if nre >= n:
            raise FitError(
                f"{source}: random term '{t.name}' has {nre} random effects "
                f"({len(t.levels)} levels x {t.q}) for {n} observations; the variance "
                "components and the residual variance are not identifiable [rule: n > random effects]"
            )
    _check_distinct_groupings(terms, source)
    rcodes, rlevels = _residual_levels(residual_groups, n, source, index)
    # The criterion is evaluated on the orthonormal Q of X = QR: the fixed-effect
    # algebra (X'V^-1 X by Woodbury subtractions) then loses no precision to badly scaled
    # or nearly collinear columns (covariates near 100 next to centred ones). ML is
    # invariant to X -> Q; REML changes by the constant 2 log|det R|, added back; beta
    # and its covariance are mapped back below.
    model = Model(y_num, Qx, terms, reml=(method == "REML"), x_R=Rx, resid=rcodes)
    # The residual of y after projecting on X, relative to y itself (not to its spread,
    # which is 0 for a constant outcome: then only rounding noise is left, and a
    # "fit" to it reports z of 1e17 and p values from numerical noise).
    yy = float(y_num @ y_num)
    if model.yty <= 1e-20 * max(model.tss, yy, 1e-300) or model.yty == 0.0:
        what = ("the outcome is constant" if model.tss <= 1e-20 * max(yy, 1e-300) else
                f"the outcome is an exact linear function of the fixed effects {xnames}")
        raise FitError(
            f"{source}: {what} (residual sum of squares {model.yty:.3g}); the residual "
            "variance is zero and no mixed model can be fitted [rule: outcome varies]"
        )
    bounds = bounds_of(terms, model.nrho)
    x0 = theta0(terms, model.nrho)
    x0[model.ntheta :] = _rho_start(model, y_num, Xa, rcodes)
    res, failures = minimise(model, x0, bounds, optimizers)
    if res is None:
        raise FitError(
            f"{source}: the mixed model could not be fitted: every optimizer failed the "
            f"sanity checks ({'; '.join(failures)}). This usually means a degenerate model "
            "(zero residual variance, or an outcome fully explained by the grouping)"
        )
    fit_warnings: list[str] = []
    if failures:
        fit_warnings.append(
            f"fit needed a fallback optimizer: {'; '.join(failures)}; reported fit from "
            f"{res.optimizer}"
        )
    Rinv = triangular_inverse(model.x_R)
    curv, diag = _diagnose(model, res, Rinv)
    n_restarts = 0
    if restarts != "never":
        if not diag["converged"]:
            res2 = _recover(model, res, bounds, diag)
            if res2 is not None:
                curv2, diag2 = _diagnose(model, res2, Rinv)
                if diag2["converged"] or res2.fun < res.fun - 1e-8:
                    res, curv, diag = res2, curv2, diag2
        res3, n_restarts = restart_search(model, res, bounds, always=(restarts == "always"),
                                          confirmed=bool(diag["converged"]))
        if res3 is not None:
            curv3, diag3 = _diagnose(model, res3, Rinv)
            res, curv, diag = res3, curv3, diag3
    x = np.asarray(res.x, dtype=float).copy()
    # the curvature evaluated the criterion at the solution already (with its gradient: the
    # same criterion, r2, delta and RX); evaluated again only where it could not be computed
    f = (curv.at if curv is not None and curv.at is not None and np.array_equal(curv.x, x)
         else model.evaluate(x, full=True))
    sigma2 = f["r2"] / f["dfr"]
    ysd2 = max(model.tss, 1e-20 * yy) / max(n - 1, 1)
    if not np.isfinite(sigma2) or sigma2 <= 1e-10 * max(ysd2, 1e-300):
        raise FitError(
            f"{source}: degenerate fit: the residual variance is estimated as {sigma2:.3g}, "
            "i.e. the random effects reproduce the outcome exactly; the model is not identifiable"
        )
    diag.update(optimizer_success=bool(res.success), optimizer_message=str(res.message),
                restarts=n_restarts, evaluations=int(model.nevals))
    if not diag["converged"]:
        fit_warnings.append(
            f"the fit did not converge to a minimum ({diag['problem']}); the criterion "
            f"{float(f['dev']):.6f} may not be the optimum and the results should not be trusted"
        )
    problem = _Problem(y=y_num, X=Xa, xnames=xnames, index=index, terms=terms, rlevels=rlevels,
                       rcodes=rcodes, method=method, source=source, conf_level=conf_level, df=df)
    return _assemble(problem, _Optimum(model=model, x=x, f=f, sigma2=sigma2,
                                       optimizer=res.optimizer, warnings=fit_warnings, Rinv=Rinv,
                                       curv=curv, diag=diag))


def _diagnose(model: Model, res, Rinv):
    """Curvature at the solution and the convergence diagnostics built on it."""
    try:
        curv = curvature(model, np.asarray(res.x, dtype=float), Rinv)
    except (FloatingPointError, np.linalg.LinAlgError) as exc:
        return None, {"converged": False, "problem": f"no curvature at the solution ({exc})"}
    return curv, diagnose(curv.grad, curv.hess_profiled)


def _recover(model: Model, res, bounds, diag):
    """One more attempt after failed checks: leave a saddle along its direction of
    negative curvature (either way), or continue the gradient run from the solution;
    the first start that lowers the criterion is kept."""
    x = np.asarray(res.x, dtype=float)
    v = diag.get("negative_direction")
    starts = [x + 0.05 * v, x - 0.05 * v] if v is not None else [x]
    lo = np.array([b[0] if b[0] is not None else -np.inf for b in bounds])
    for s in starts:
        try:
            cand = run(model, "L-BFGS-B", np.maximum(s, lo), bounds)
        except (FloatingPointError, np.linalg.LinAlgError):
            continue
        if not check(model, cand)[0]:
            continue
        cand = escape_false_boundary(model, cand, bounds)
        if cand.fun < res.fun - 1e-8 or (v is None and cand.fun <= res.fun + 1e-10):
            cand.optimizer = f"{res.optimizer} (continued)"
            return cand
    return None


@dataclass(frozen=True)
class _Problem:
    """What :func:`fit_lmm` was asked to fit, as prepared and checked: the outcome ``y``, the
    design ``X`` (its ``xnames``; the caller's row ``index``), the random ``terms``, the
    residual variance groups (``rlevels``, ``rcodes``; None without a variance function), and
    the options (``method``, ``source``, ``conf_level``, ``df``)."""

    y: np.ndarray
    X: np.ndarray
    xnames: list
    index: object
    terms: list
    rlevels: object
    rcodes: object
    method: str
    source: str
    conf_level: float
    df: str

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def p(self) -> int:
        return int(self.X.shape[1])


@dataclass
class _Optimum:
    """Where the optimizer stopped: the ``model`` (the criterion), its solution ``x`` and
    evaluation ``f`` there, the residual variance ``sigma2``, the ``optimizer`` that found it,
    the ``warnings`` so far, ``Rinv`` (the inverse of X's R factor), the curvature ``curv``
    and the convergence diagnostics ``diag``."""

    model: Model
    x: np.ndarray
    f: dict
    sigma2: float
    optimizer: str
    warnings: list
    Rinv: np.ndarray
    curv: object
    diag: dict


def _assemble(problem: _Problem, optimum: _Optimum) -> MixedFit:
    """The :class:`MixedFit` of a solved ``problem``: estimates, variance components,
    conditional modes, fit statistics and the fixed-effect table under its ``df``."""
    model, x, f, sigma2 = optimum.model, optimum.x, optimum.f, optimum.sigma2
    opt_name, fit_warnings, Rinv = optimum.optimizer, optimum.warnings, optimum.Rinv
    curv, diag = optimum.curv, optimum.diag
    y_num, Xa, xnames, index, terms = problem.y, problem.X, problem.xnames, problem.index, problem.terms
    rlevels, rcodes, n, p = problem.rlevels, problem.rcodes, problem.n, problem.p
    method, source, conf_level, ddf = problem.method, problem.source, problem.conf_level, problem.df
    theta = x[: model.ntheta]
    beta = Rinv @ (model.beta_ols + f["delta"])
    XVXinv = Rinv @ cho_inverse(f["RX"]) @ Rinv.T
    cov = sigma2 * XVXinv
    cov = (cov + cov.T) / 2
    names_index = labels_index(xnames)
    cov_df = pd.DataFrame(cov, index=names_index, columns=names_index)

    # variance components
    rows = []
    boundary_terms = []
    Gs = []
    for t in terms:
        th = theta[t.theta_slice]
        lam = np.zeros((t.q, t.q))
        for (r, c), v in zip(t.template, th):
            lam[r, c] = v
        G = sigma2 * lam @ lam.T
        Gs.append(G)
        sd = np.sqrt(np.clip(np.diag(G), 0, None))
        for j in range(t.q):
            rows.append({"group": t.name, "term1": t.zcols[j], "term2": None,
                         "variance": G[j, j], "sd": sd[j], "corr": np.nan})
        if t.structure == "unstructured":
            for j in range(t.q):
                for k in range(j + 1, t.q):
                    corr = G[j, k] / (sd[j] * sd[k]) if sd[j] > 0 and sd[k] > 0 else np.nan
                    rows.append({"group": t.name, "term1": t.zcols[j], "term2": t.zcols[k],
                                 "variance": G[j, k], "sd": np.nan, "corr": corr})
        at_bound = [t.zcols[r] for (r, c), v in zip(t.template, th) if r == c and v < BOUNDARY_TOL]
        if at_bound:
            boundary_terms.append((t.name, at_bound))
    if rlevels is None:
        resid_var = np.array([sigma2])
        rows.append({"group": "Residual", "term1": None, "term2": None, "variance": sigma2,
                     "sd": math.sqrt(sigma2), "corr": np.nan})
        residual_variances = None
    else:
        resid_var = sigma2 / model.weights(x[model.ntheta :])
        for lv, v in zip(rlevels, resid_var):
            rows.append({"group": "Residual", "term1": str(lv), "term2": None, "variance": v,
                         "sd": math.sqrt(v), "corr": np.nan})
        residual_variances = pd.Series(resid_var, index=[str(v) for v in rlevels],
                                       name="residual_variance")
    # built once from its columns (the same dtypes as from the rows, at a fraction of the cost)
    vc_cols = ("group", "term1", "term2", "variance", "sd", "corr")
    vc = columns_frame({c: ([r[c] for r in rows] if c in ("group", "term1", "term2")
                            else np.array([r[c] for r in rows], dtype=float)) for c in vc_cols})

    boundary = bool(boundary_terms)
    if boundary:
        desc = "; ".join(f"'{g}': {', '.join(cols)}" for g, cols in boundary_terms)
        fit_warnings.append(
            "boundary (singular) fit: a random-effect variance is estimated as zero or a "
            f"correlation as +/-1 (relative Cholesky factor diagonal < {BOUNDARY_TOL:g} for {desc}); "
            "consider simplifying the random-effect structure"
        )

    # conditional modes b = Lambda M^-1 Lambda' Z' W (y - X beta)
    modes = {}
    fitted = Xa @ beta
    for t, vals in zip(terms, model.modes(x)):
        modes[t.name] = (t.levels, t.zcols, vals)
        fitted = fitted + np.sum(t.Z * vals[t.codes], axis=1)

    dev = float(f["dev"])
    loglik = -dev / 2.0
    n_params = p + model.npar + 1
    aic = dev + 2 * n_params
    bic = dev + n_params * math.log(n)
    for w in fit_warnings:
        warnings.warn(f"{source}: {w}", AllianceWarning, stacklevel=4)
    fit_index = index if index is not None else pd.RangeIndex(n)
    blocks = model.row_blocks
    kr_parts = (Xa, blocks, terms, Gs,
                rcodes if rcodes is not None else np.zeros(n, dtype=np.intp), resid_var)
    out = MixedFit(
        title=f"Linear mixed model fit by {method}",
        tables={"fixed": None, "variance_components": vc},  # "fixed" is built last, below
        cov_fixed=cov_df,
        sigma2=float(sigma2),
        loglik=float(loglik),
        deviance=dev,
        aic=float(aic),
        bic=float(bic),
        n_obs=int(n),
        n_groups={t.name: len(t.levels) for t in terms},
        n_params=int(n_params),
        method=method,
        converged=bool(diag["converged"]),
        optimizer=opt_name,
        boundary=boundary,
        warnings=list(fit_warnings),
        theta=theta.copy(),
        conf_level=conf_level,
        source=source,
        n_blocks=model.n_blocks,
        ddf=ddf,
        residual_variances=residual_variances,
        diagnostics={k: v for k, v in diag.items() if k != "negative_direction"},
        _modes=modes,
        _fitted_values=(fitted, fit_index),
        _y=y_num,
        _X=Xa,
        _random_spec=tuple((t.name, tuple(t.zcols), t.structure) for t in terms),
        _curv=curv,
        _kr_parts=kr_parts,
        _beta=np.asarray(beta, dtype=float),
    )
    # the table needs the fit's df machinery, so it is built last
    if ddf == "z":
        out.tables["fixed"] = wald_table(beta, cov, xnames, conf_level)
    else:
        try:
            out.tables["fixed"] = out.fixed_effects(ddf)
        except FitError:
            out.tables["fixed"] = wald_table(beta, cov, xnames, conf_level)
            msg = "degrees of freedom unavailable (no curvature at the solution): Wald z tests"
            out.warnings.append(msg)
            warnings.warn(f"{source}: {msg}", AllianceWarning, stacklevel=4)
            out.ddf = "z"
    return out


def lrt(fit0: MixedFit, fit1: MixedFit) -> dict:
    r"""Likelihood-ratio test of a smaller model ``fit0`` nested in ``fit1``.

    :math:`\chi^2 = 2(\ell_1 - \ell_0)` on ``n_params1 - n_params0`` degrees of
    freedom. Fixed effects may differ only between ML fits (REML likelihoods of
    different fixed-effect designs are not comparable); REML fits with the same
    fixed effects may be compared to test random effects or a variance function.
    A variance tested at its boundary (zero) makes the chi-square p value
    conservative (roughly twice the mixture-based one).

    Returns
    -------
    dict
        ``statistic``, ``df``, ``p``, ``loglik0``, ``loglik1``, ``method``.
    """
    for f in (fit0, fit1):
        if not isinstance(f, MixedFit):
            raise TypeError("lrt needs two MixedFit results")
    if fit0.method != fit1.method:
        raise ValueError(f"cannot compare a {fit0.method} fit with a {fit1.method} fit")
    if fit0.n_obs != fit1.n_obs or not np.array_equal(fit0._y, fit1._y):
        raise DataError("the two fits were not made on the same outcome data (same rows, same y)")
    same_fixed = fit0._X.shape == fit1._X.shape and np.allclose(fit0._X, fit1._X)
    if fit0.method == "REML" and not same_fixed:
        raise ValueError(
            "REML fits with different fixed effects cannot be compared by a likelihood-ratio "
            "test; refit both with method='ML'"
        )
    if not same_fixed:
        X1 = fit1._X
        coef, *_ = np.linalg.lstsq(X1, fit0._X, rcond=None)
        resid = fit0._X - X1 @ coef
        if np.max(np.abs(resid)) > 1e-8 * max(1.0, np.max(np.abs(fit0._X))):
            raise ValueError("the fixed effects of fit0 are not nested in those of fit1")
    df = fit1.n_params - fit0.n_params
    if df <= 0:
        raise ValueError(
            f"fit1 must have more parameters than fit0 (got {fit1.n_params} vs {fit0.n_params})"
        )
    stat = max(0.0, 2.0 * (fit1.loglik - fit0.loglik))
    return {
        "statistic": stat,
        "df": int(df),
        "p": float(stats.chi2.sf(stat, df)),
        "loglik0": fit0.loglik,
        "loglik1": fit1.loglik,
        "method": fit0.method,
    }
