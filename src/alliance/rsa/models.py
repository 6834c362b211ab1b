r"""The response surface model family: second-order and cubic models, as constraints on one design.

Every model of the family of the R package RSA (Schönbrodt & Humberg) is a set of
constraints on the coefficients :math:`b_1..b_9` of the cubic polynomial

.. math::

    z = b_0 + b_1 X + b_2 Y + b_3 X^2 + b_4 XY + b_5 Y^2
          + b_6 X^3 + b_7 X^2Y + b_8 XY^2 + b_9 Y^3 + \gamma^\top w

(the second-order models set :math:`b_6 = .. = b_9 = 0`). A *linear* model keeps
the coefficients in the column space of a weight matrix :math:`C` (terms x
free columns): the reduced design is :math:`P C` (:math:`P` the polynomial terms),
its coefficients :math:`c` map back as :math:`b = Cc`. Two models constrain the
quadratic form non-linearly, and are parametrised by an angle :math:`\varphi`
(:math:`c_\varphi = \cos\varphi`, :math:`s_\varphi = \sin\varphi`, :math:`u = c_\varphi X + s_\varphi Y`):

* SRRR (rotated and shifted rising ridge, :math:`b_4^2 = 4 b_3 b_5`):
  :math:`z = b_0 + b_1 X + b_2 Y + \lambda u^2`;
* SRSQD (rotated and shifted squared difference, also :math:`2 b_1 b_5 = b_2 b_4`):
  :math:`z = b_0 + \mu u + \lambda u^2`.

Both are linear given :math:`\varphi`, so the maximum-likelihood fit profiles the
likelihood over :math:`\varphi` (a grid over :math:`[0, \pi)`, a bounded
one-dimensional search, then Gauss-Newton steps that solve the score equation of
:math:`\varphi` to machine precision), and the covariance comes from the linearised
model (the design augmented by :math:`\partial\mu/\partial\varphi`), mapped back by
the Jacobian :math:`\partial b/\partial\theta`. This is the constrained expected
information that lavaan uses -- the information of the unconstrained coefficients
bordered by the Jacobian of the constraints, whose parameter block is the projection
onto the constraint's tangent space -- so the standard errors (ML, or the sandwich of
lavaan's ``MLR``) are RSA's. Validated against RSA run with tight optimiser
tolerances and the bordered matrix inverted exactly (``tests/r/rsa_rotated_reference.R``):
RSA's defaults stop lavaan's optimiser short of the constrained optimum (up to 4e-4
relative in the coefficients) and, for ill-conditioned cubic designs (selfother, IQ
scale), ``MASS::ginv`` drops directions of the bordered matrix, which moves lavaan's
SEs by up to 20%.

RSA's ``weak`` fit pattern is the full model under the inequality :math:`b_3 b_5 > 0`
(:func:`_fit_weak`: the full model, or its better face :math:`b_3 = 0` / :math:`b_5 = 0`
when the inequality binds); ``strong`` adds SRSQD's equalities, which already imply it,
so it is fitted as SRSQD.

Two models of RSA are not polynomials: the piecewise ``absdiff`` and ``absunc``
(Edwards 2002), linear in :math:`X, Y, WX, WY` with :math:`W = \mathrm{sign}(X - Y)`
(0 on the line of congruence): ``absunc`` :math:`z = b_0 + b_1 X + b_2 Y + w_2 WX +
w_3 WY`, ``absdiff`` the same with :math:`b_1 = b_2 = 0`, :math:`w_2 = -w_3`, that is
:math:`z = b_0 + w_2 |X - Y|`. Their estimates are in their own columns
(:data:`PIECE_NAMES`), they have no surface parameters, and their unrestricted model
(for robust covariances) is the regression on :math:`X, Y, W, WX, WY`, as lavaan's for
RSA's syntax. Unlike RSA, which leaves the control variables out of these two models
only, they keep the covariates, as every other model.

A moderated design (a moderator's main effect and its products with the
polynomial terms) is constrained level by level: the same :math:`C` acts on the
terms and on their products with the moderator, so every level's surface obeys
the model. Estimation goes through a *fitter* (OLS for single-level data, the
package's mixed model for multilevel data) that takes a design and returns the
coefficients, their covariance and the log-likelihood; every estimate is mapped
back to the columns of the full design, so the surface algebra, the per-level
surfaces and the figures read a constrained model exactly like the full one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize

from alliance.errors import DataError, FitError

__all__ = [
    "CUBIC_MODELS",
    "CUBIC_NAMES",
    "DEFAULT_MODELS",
    "MODELS",
    "PIECEWISE_MODELS",
    "PIECE_LABELS",
    "PIECE_NAMES",
    "POLY_NAMES",
    "ModelFit",
    "ModelSpec",
    "constrained_fits",
    "fit_model",
    "model_names",
    "piecewise_design",
]

#: b1..b5 and b6..b9: the design columns of the polynomial terms.
SECOND_NAMES = ("x", "y", "x2", "xy", "y2")
CUBIC_NAMES = ("x3", "x2y", "xy2", "y3")
POLY_NAMES = SECOND_NAMES + CUBIC_NAMES


def _w(**kw) -> tuple:
    return tuple(float(kw.get(t, 0.0)) for t in POLY_NAMES)


_SQD = _w(x2=1, xy=-2, y2=1)                       # (X - Y)^2
_CUBE_D = _w(x3=1, x2y=-3, xy2=3, y3=-1)           # (X - Y)^3
_LEVEL_SQD = _w(x3=1, x2y=-1, xy2=-1, y3=1)        # (X + Y)(X - Y)^2


@dataclass(frozen=True)
class ModelSpec:
    """One model: its name, meaning, order, and the columns of its constrained design."""

    name: str
    description: str
    order: int
    columns: tuple = ()        # ((label, weights over POLY_NAMES), ...) for linear models
    rotated: str | None = None  # "SRRR" or "SRSQD": the non-linear models
    piecewise: tuple = ()      # absdiff/absunc: weights over PIECE_NAMES (not a polynomial)
    inequality: bool = False   # weak: the full model with b3 b5 >= 0

    def weights(self, n_terms: int) -> np.ndarray:
        """The weight matrix C (n_terms x free columns) of a linear model."""
        if not self.columns:
            return np.zeros((n_terms, 0))
        return np.array([w[:n_terms] for _, w in self.columns], dtype=float).T


def _lin(name, desc, order, *cols):
    return ModelSpec(name, desc, order, tuple(cols))


_X, _Y = ("x", _w(x=1)), ("y", _w(y=1))

#: Every model, in the order of the family table. Names and constraints are RSA's.
MODELS: dict[str, ModelSpec] = {m.name: m for m in (
    _lin("null", "intercept only (and covariates): no surface", 2),
    _lin("onlyx", "only X: b1 free, all else 0", 2, _X),
    _lin("onlyy", "only Y: b2 free, all else 0", 2, _Y),
    _lin("onlyx2", "X and X^2: b1, b3 free", 2, _X, ("x2", _w(x2=1))),
    _lin("onlyy2", "Y and Y^2: b2, b5 free", 2, _Y, ("y2", _w(y2=1))),
    _lin("additive", "additive: b1, b2 free, no quadratic terms", 2, _X, _Y),
    _lin("diff", "difference: b1 = -b2, no quadratic terms", 2, ("x-y", _w(x=1, y=-1))),
    _lin("mean", "mean: b1 = b2, no quadratic terms", 2, ("x+y", _w(x=1, y=1))),
    _lin("IA", "interaction: b1, b2, b4 free; b3 = b5 = 0", 2, _X, _Y, ("xy", _w(xy=1))),
    _lin("SQD", "squared difference: z = b0 + b3 (X - Y)^2", 2, ("(x-y)^2", _SQD)),
    _lin("SSQD", "shifted squared difference: b1 = -b2, b3 = b5 = -b4/2", 2,
         ("x-y", _w(x=1, y=-1)), ("(x-y)^2", _SQD)),
    _lin("RR", "rising ridge: b1 = b2, b3 = b5 = -b4/2", 2, ("x+y", _w(x=1, y=1)), ("(x-y)^2", _SQD)),
    _lin("SRR", "shifted rising ridge: b1, b2 free; b3 = b5 = -b4/2", 2, _X, _Y, ("(x-y)^2", _SQD)),
    ModelSpec("SRRR", "rotated and shifted rising ridge: b4^2 = 4 b3 b5", 2, rotated="SRRR"),
    ModelSpec("SRSQD", "rotated and shifted squared difference: b4^2 = 4 b3 b5, 2 b1 b5 = b2 b4",
              2, rotated="SRSQD"),
    _lin("full", "full second-order polynomial", 2, *((t, _w(**{t: 1})) for t in SECOND_NAMES)),
    _lin("cubic", "full third-order polynomial", 3, *((t, _w(**{t: 1})) for t in POLY_NAMES)),
    _lin("CA", "cubic asymmetry: z = b0 + c1 (X - Y)^2 + c2 (X - Y)^3", 3,
         ("(x-y)^2", _SQD), ("(x-y)^3", _CUBE_D)),
    _lin("CL", "cubic level: z = b0 + c1 (X - Y)^2 + c3 (X + Y)(X - Y)^2", 3,
         ("(x-y)^2", _SQD), ("(x+y)(x-y)^2", _LEVEL_SQD)),
    _lin("RRCA", "rising ridge cubic asymmetry: CA + c4 (X + Y)", 3,
         ("x+y", _w(x=1, y=1)), ("(x-y)^2", _SQD), ("(x-y)^3", _CUBE_D)),
    _lin("RRCL", "rising ridge cubic level: CL + c4 (X + Y)", 3,
         ("x+y", _w(x=1, y=1)), ("(x-y)^2", _SQD), ("(x+y)(x-y)^2", _LEVEL_SQD)),
    ModelSpec("weak", "weak fit pattern: the full polynomial with b3 b5 > 0", 2, inequality=True),
    ModelSpec("strong", "strong fit pattern: SRSQD's constraints with b3 b5 > 0", 2, rotated="SRSQD"),
    ModelSpec("absdiff", "absolute difference (piecewise): z = b0 + w2 |X - Y|", 2,
              piecewise=(("|x-y|", (0.0, 0.0, 1.0, -1.0)),)),
    ModelSpec("absunc", "unconstrained absolute difference (piecewise): "
              "z = b0 + b1 X + b2 Y + w2 W X + w3 W Y, W = sign(X - Y)", 2,
              piecewise=tuple((t, tuple(float(i == j) for j in range(4)))
                              for i, t in enumerate(("x", "y", "w_x", "w_y")))),
)}

#: The columns of the piecewise models (Edwards 2002, as RSA): X, Y, W X, W Y with
#: W = sign(X - Y) (0 on the line of congruence); their coefficients are b1, b2, w2, w3.
PIECE_NAMES = ("x", "y", "w_x", "w_y")
PIECE_LABELS = {"x": "b1", "y": "b2", "w_x": "w2", "w_y": "w3"}
PIECEWISE_MODELS = ("absdiff", "absunc")

#: RSA's default second-order family (``RSA(..., models = "default")``).
DEFAULT_MODELS = ("null", "onlyx", "onlyy", "onlyx2", "onlyy2", "additive", "IA", "SQD", "SSQD",
                  "RR", "SRR", "SRRR", "SRSQD", "full")
#: The cubic family (``RSA(..., cubic = TRUE)`` adds these).
CUBIC_MODELS = ("cubic", "CA", "CL", "RRCA", "RRCL")


def model_names(models, moderated: bool = False) -> list[str]:
    """Resolve ``"default"``, ``"cubic"`` (default + cubic family), ``"all"`` or a list of names.

    ``"all"`` adds ``diff``, ``mean``, RSA's ``weak`` and ``strong`` fit patterns and the
    piecewise ``absdiff`` and ``absunc``. For a moderated surface the named sets leave
    out SRRR, SRSQD, strong (their non-linear constraints are not available there),
    weak and the piecewise models; naming them explicitly is an error later.
    """
    if models is None or models is False:
        return []
    if isinstance(models, str):
        key = models.strip()
        sets = {"default": DEFAULT_MODELS, "cubic": DEFAULT_MODELS + CUBIC_MODELS,
                "all": tuple(MODELS)}
        if key in sets:
            return [m for m in sets[key] if not (moderated and (
                MODELS[m].rotated or MODELS[m].piecewise or MODELS[m].inequality))]
        models = [m.strip() for m in key.split(",")]
    names = list(dict.fromkeys(models))
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        raise ValueError(f"unknown model(s) {unknown}; models are {list(MODELS)} "
                         "(or 'default', 'cubic', 'all')")
    return names


@dataclass
class Linear:
    """What a fitter returns for one design: coefficients, covariance, log-likelihood."""

    beta: np.ndarray
    cov: np.ndarray
    loglik: float
    extra: dict = field(default_factory=dict)


#: fitter(design DataFrame) -> Linear; the single-level one also takes ``saturated=`` (the
#: unrestricted design a robust covariance takes its residuals from, for the piecewise models)
Fitter = Callable[..., Linear]


@dataclass
class ModelFit:
    """One fitted model, its estimates expressed in the columns of the full design."""

    name: str
    beta: pd.Series          # every column of the full design (constrained ones implied)
    cov: pd.DataFrame        # their covariance (singular: the constraints)
    loglik: float
    k: int                   # free parameters counted by AIC: coefficients + residual variance
    n: int
    converged: bool = True
    rotation: str = ""       # SRRR/SRSQD: "up" (lambda > 0) or "down"
    extra: dict = field(default_factory=dict)


def _blocks(names: Sequence[str], mod_term: str | None):
    """Positions of the polynomial terms, their moderator products, and every other column."""
    idx = {n: i for i, n in enumerate(names)}
    poly = [t for t in POLY_NAMES if t in idx]
    inter = [f"{t}:{mod_term}" for t in poly] if mod_term else []
    rest = [n for n in names if n not in poly and n not in inter]
    return idx, poly, inter, rest


def _transform(names, mod_term, C, labels) -> tuple[np.ndarray, list[str]]:
    """T (p_full x m) with X_reduced = X T: other columns kept, C applied to terms and products."""
    idx, poly, inter, rest = _blocks(names, mod_term)
    p = len(names)
    cols, out_names = [], []
    for r in rest:
        v = np.zeros(p)
        v[idx[r]] = 1.0
        cols.append(v)
        out_names.append(r)
    for block, suffix in ((poly, ""), (inter, f":{mod_term}" if mod_term else "")):
        if not block:
            continue
        for j, lab in enumerate(labels):
            v = np.zeros(p)
            for i, t in enumerate(block):
                v[idx[t]] = C[i, j]
            cols.append(v)
            out_names.append(f"{lab}{suffix}")
    return np.column_stack(cols) if cols else np.zeros((p, 0)), out_names


def _design(X: pd.DataFrame, T: np.ndarray, names: list[str]) -> pd.DataFrame:
    return pd.DataFrame(X.to_numpy() @ T, columns=names, index=X.index)


def _finish(name, fit: Linear, T, full_names, n, beta_full=None, rotation="", extra=None):
    beta = T @ fit.beta if beta_full is None else beta_full
    cov = T @ fit.cov @ T.T
    cov = (cov + cov.T) / 2
    # ``tangent``: the columns T spanning the model's coefficients (for SRRR/SRSQD the tangent
    # space of the constraint surface at the estimate), used by the scaled likelihood-ratio tests
    return ModelFit(name, pd.Series(beta, index=full_names),
                    pd.DataFrame(cov, index=full_names, columns=full_names), float(fit.loglik),
                    int(T.shape[1]) + 1, n, True, rotation,
                    dict(extra or {}, **fit.extra, tangent=T))


def _rotated_T(kind, phi, names, mod_term, lam=0.0, mu=0.0):
    """T(phi) of SRRR/SRSQD and the derivative column t_phi (the linearised model)."""
    c, s = math.cos(phi), math.sin(phi)
    if kind == "SRRR":
        cols = (("x", _w(x=1)), ("y", _w(y=1)), ("lambda", _w(x2=c * c, xy=2 * c * s, y2=s * s)))
    else:
        cols = (("mu", _w(x=c, y=s)), ("lambda", _w(x2=c * c, xy=2 * c * s, y2=s * s)))
    n_terms = len([t for t in POLY_NAMES if t in names])
    C = np.array([w[:n_terms] for _, w in cols], dtype=float).T
    T, out = _transform(names, mod_term, C, [lab for lab, _ in cols])
    dphi = _w(x=-mu * s if kind == "SRSQD" else 0.0, y=mu * c if kind == "SRSQD" else 0.0,
              x2=-2 * lam * c * s, xy=2 * lam * (c * c - s * s), y2=2 * lam * c * s)
    td, _ = _transform(names, mod_term, np.array(dphi[:n_terms], dtype=float)[:, None], ["phi"])
    return T, out, td[:, -1]


def fit_model(name: str, z: np.ndarray, X: pd.DataFrame, fitter: Fitter, *,
              mod_term: str | None = None, source: str = "<DataFrame>", grid: int = 180) -> ModelFit:
    """Fit one model of :data:`MODELS` on the full design ``X`` with ``fitter``.

    ``X`` holds the intercept, the polynomial terms named as :data:`POLY_NAMES` (the
    cubic ones only for cubic fits), their products with ``mod_term`` when a
    moderator is given, and any other columns (covariates, level-2 means), which
    every model keeps free. Returns the estimates in the columns of ``X``.
    """
    spec = MODELS[name]
    names = list(X.columns)
    n = len(z)
    present = [t for t in POLY_NAMES if t in names]
    if spec.order == 3 and len(present) < 9:
        raise ValueError(f"model {name!r} is cubic: fit with cubic=True")
    if spec.piecewise:
        return _fit_piecewise(spec, z, X, fitter, mod_term)
    if spec.inequality:
        return _fit_weak(spec, z, X, fitter, mod_term, source)
    if spec.rotated is None:
        C = spec.weights(len(present))
        T, red = _transform(names, mod_term, C, [lab for lab, _ in spec.columns])
        return _finish(name, fitter(_design(X, T, red)), T, names, n)
    if mod_term:
        raise ValueError(f"model {name!r} (non-linear constraints) is not available for a "
                         "moderated surface")
    kind = spec.rotated

    def negll(phi):
        T, red, _ = _rotated_T(kind, phi, names, mod_term)
        try:
            return -fitter(_design(X, T, red)).loglik
        except (DataError, FitError, np.linalg.LinAlgError):
            return np.inf

    phis = np.linspace(0.0, math.pi, grid, endpoint=False)
    vals = np.array([negll(p) for p in phis])
    if not np.isfinite(vals).any():
        raise FitError(f"{source}: model {name} could not be fitted at any rotation")
    j = int(np.nanargmin(vals))
    step = math.pi / grid
    opt = optimize.minimize_scalar(negll, bounds=(phis[j] - step, phis[j] + step), method="bounded",
                                   options={"xatol": 1e-10})
    phi = float(opt.x) if opt.fun <= vals[j] else float(phis[j])

    def at(phi):
        """The fit at ``phi``, and the augmented (linearised) fit whose last coefficient is the
        Gauss-Newton step in phi (None on a flat ridge, where phi is not identified)."""
        T, red, _ = _rotated_T(kind, phi, names, mod_term)
        base = fitter(_design(X, T, red))
        theta = pd.Series(base.beta, index=red)
        lam = float(theta["lambda"])
        mu = float(theta["mu"]) if kind == "SRSQD" else 0.0
        T2, red2, td = _rotated_T(kind, phi, names, mod_term, lam=lam, mu=mu)
        Taug = np.column_stack([T2, td])
        try:
            aug = fitter(_design(X, Taug, red2 + ["phi"]))
        except (DataError, FitError, np.linalg.LinAlgError):
            aug = None
        return T, base, lam, mu, Taug, aug

    # The bounded search stops where the profile log-likelihood is flat to rounding; Gauss-Newton
    # steps (the linearised model's coefficient of d fitted / d phi, zero exactly at the maximum)
    # then solve the score equation of phi to machine precision.
    T, base, lam, mu, Taug, aug = at(phi)
    for _ in range(10):
        if aug is None:
            break
        step = float(aug.beta[-1])
        if not math.isfinite(step) or abs(step) <= 1e-14:
            break
        try:
            nxt = at(phi + step)
        except (DataError, FitError, np.linalg.LinAlgError):
            break
        if nxt[1].loglik < base.loglik - 1e-12 * abs(base.loglik):  # worse beyond rounding: stop
            break
        phi = phi + step
        T, base, lam, mu, Taug, aug = nxt
    phi = phi % math.pi
    beta_full = T @ base.beta
    converged = abs(lam) > 1e-8 and min(math.cos(phi) ** 2, math.sin(phi) ** 2) > 1e-12
    if aug is not None:
        cov_fit = Linear(aug.beta, aug.cov, base.loglik, base.extra)
    else:  # flat ridge: the angle is not identified
        cov_fit = Linear(np.zeros(Taug.shape[1]), np.full((Taug.shape[1],) * 2, np.nan), base.loglik)
        converged = False
    out = _finish(name, cov_fit, Taug, names, n, beta_full=beta_full,
                  rotation="up" if lam > 0 else "down",
                  extra={"phi": phi, "lambda": lam, **({"mu": mu} if kind == "SRSQD" else {})})
    out.k = int(Taug.shape[1]) + 1
    out.converged = converged
    return out


def _fit_weak(spec: ModelSpec, z, X: pd.DataFrame, fitter: Fitter, mod_term, source) -> ModelFit:
    """RSA's weak pattern: the full model if b3 b5 > 0, else the better fit with b3 = 0 or b5 = 0.

    The feasible set b3 b5 >= 0 is two convex cones; when the unconstrained optimum lies
    outside, the constrained optimum of the (concave) log-likelihood lies on a face
    b3 = 0 or b5 = 0, where the active constraint fixes that coefficient (lavaan's
    bordered information then equals the information of the model without it). k is
    the full model's: an inequality removes no parameter (as lavaan counts).
    """
    if mod_term:
        raise ValueError(f"model {spec.name!r} (an inequality) is not available for a moderated surface")
    full = fit_model("full", z, X, fitter, source=source)
    out = full
    if not float(full.beta["x2"]) * float(full.beta["y2"]) > 0:
        faces = []
        for drop in ("x2", "y2"):
            face = ModelSpec(f"weak_{drop}", "", 2, tuple((t, _w(**{t: 1})) for t in SECOND_NAMES
                                                          if t != drop))
            C = face.weights(len([t for t in POLY_NAMES if t in X.columns]))
            T, red = _transform(list(X.columns), None, C, [lab for lab, _ in face.columns])
            faces.append(_finish(spec.name, fitter(_design(X, T, red)), T, list(X.columns), len(z),
                                 extra={"inequality_active": drop}))
        out = max(faces, key=lambda f: f.loglik)
        out.k = full.k
    return ModelFit(spec.name, out.beta, out.cov, out.loglik, full.k, out.n, out.converged,
                    "", dict(out.extra))


def piecewise_design(X: pd.DataFrame) -> pd.DataFrame:
    """The columns of the piecewise models: every non-polynomial column, X, Y, W X, W Y."""
    _, _, _, rest = _blocks(list(X.columns), None)
    x, y = X["x"].to_numpy(), X["y"].to_numpy()
    w = np.sign(x - y)
    out = X[rest].copy()
    for name, v in zip(PIECE_NAMES, (x, y, w * x, w * y)):
        out[name] = v
    return out


def _fit_piecewise(spec: ModelSpec, z, X: pd.DataFrame, fitter: Fitter, mod_term) -> ModelFit:
    """absdiff / absunc: a linear model in the piecewise columns; estimates in those columns."""
    if mod_term:
        raise ValueError(f"model {spec.name!r} (piecewise) is not available for a moderated surface")
    P = piecewise_design(X)
    names = list(P.columns)
    rest = names[:-len(PIECE_NAMES)]
    cols, red = [], []
    for r in rest:
        cols.append(np.eye(len(names))[names.index(r)])
        red.append(r)
    for lab, w in spec.piecewise:
        cols.append(np.r_[np.zeros(len(rest)), w])
        red.append(lab)
    T = np.column_stack(cols)
    # the unrestricted model of RSA's piecewise syntax also holds W (its coefficient w1 fixed at 0)
    sat = np.column_stack([P.to_numpy(dtype=float), np.sign(X["x"].to_numpy() - X["y"].to_numpy())])
    out = _finish(spec.name, fitter(_design(P, T, red), saturated=sat), T, names, len(z))
    out.extra["design"] = P.to_numpy(dtype=float)
    return out


def constrained_fits(z: np.ndarray, X: pd.DataFrame, fitter: Fitter, spec, mod_term: str | None,
                     source: str = "<DataFrame>") -> dict[str, ModelFit]:
    """The models a fit needs: its family, its chosen model and the full second-order one.

    ``spec`` is the :class:`~alliance.rsa.spec.RSASpec`. Nothing is refitted when the
    main model is the unconstrained one and no family is asked for.
    """
    top = "cubic" if spec.cubic else "full"
    need = set(spec.family)
    if spec.model != top:
        need |= {spec.model, "full"}
    elif spec.cubic:
        need.add("full")
    return {m: fit_model(m, z, X, fitter, mod_term=mod_term, source=source)
            for m in MODELS if m in need}
