r"""Linear mixed models: the one fitting path every model in :mod:`alliance` uses.

The model is

.. math::

    y = X\beta + Zb + \varepsilon,\qquad b \sim N(0, G),\qquad
    \varepsilon \sim N(0, \sigma^2 D),

with ``y`` the outcome (length :math:`n`), ``X`` the fixed-effect design
(columns = fixed-effect terms, :math:`\beta` their coefficients), and ``Z`` the
random-effect design built from one or more :class:`RandomTerm`\ s. A term with
grouping factor ``g`` (e.g. ``patient``) and columns ``Z_k`` (e.g.
``Intercept``, ``session``) gives every level of ``g`` its own vector of
:math:`q_k` random coefficients with covariance :math:`G_k` (``"unstructured"``
or ``"diagonal"``); :math:`G` is block diagonal in the :math:`G_k`. :math:`D = I_n`
unless a *variance function* gives every level :math:`l` of a factor its own residual
variance, :math:`D_{ii} = \delta^2_{l(i)}` (nlme's ``varIdent``; ``residual_groups``):
the statistics below are then sums over levels weighted by :math:`\delta_l^{-2}`, and the
criterion gains the Jacobian :math:`2\sum_i \log\delta_{l(i)}`.

Estimation follows lme4 (Bates, Mächler, Bolker & Walker 2015). Write
:math:`G_k = \sigma^2\Lambda_k\Lambda_k^\top` with :math:`\Lambda_k` lower
triangular (the *relative covariance factor*; its free elements, column by
column, form :math:`\theta`, diagonal elements bounded below by 0). For fixed
:math:`\theta`, :math:`\beta` and :math:`\sigma^2` have closed forms (GLS), so
only :math:`\theta` is optimised, on the *profiled* criterion

.. math::

    d_{ML}(\theta) = \log|M| + n\,[1 + \log(2\pi r^2/n)],\qquad
    d_{REML}(\theta) = \log|M| + \log|X^\top V_0^{-1}X|
        + (n-p)\,[1 + \log(2\pi r^2/(n-p))],

where :math:`V_0 = V/\sigma^2 = I + Z\Lambda\Lambda^\top Z^\top`,
:math:`M = I + \Lambda^\top Z^\top Z\Lambda` (so :math:`|M| = |V_0|`) and
:math:`r^2 = (y - X\hat\beta)^\top V_0^{-1}(y - X\hat\beta)` is the penalised
residual sum of squares. These are exactly lme4's ``deviance`` (ML) and
``REMLcrit`` (REML); ``loglik = -d/2``.

Speed comes from independence: rows linked (directly or through a chain) by any
grouping factor form one *block* (connected components; for sessions in
patients in therapists, a block is a therapist), :math:`V_0` is block diagonal,
and by Woodbury every criterion evaluation needs only sufficient statistics
(:math:`Z^\top Z`, :math:`Z^\top X`, :math:`Z^\top y` per level, computed once) and
small Cholesky factorisations. When the random effects are one grouping factor, two
nested ones, or three nested in a chain (every model of the book; a session effect within
patients is folded into the patients' blocks), :mod:`alliance.mixed.nested` eliminates them
level by level (patients, then therapists) in one compiled loop over the levels
(:mod:`alliance.mixed.kernel`, numba) on :math:`q \times q` matrices, linear in the number
of levels, with the exact gradient from the selected blocks of :math:`M^{-1}`. Otherwise (crossed
factors) blocks of similar size are padded to a common size and factorised together
with batched NumPy linear algebra; the exact gradient of the criterion is used by the primary
optimizer, L-BFGS-B *without* bounds (the criterion is invariant to the sign of a
column of :math:`\Lambda_k`, so the unconstrained minimum is the constrained one and a
projected method's false boundary optima are avoided; see
:mod:`alliance.mixed.optimize`), with bounded Nelder-Mead and Powell as fallbacks;
restarts on the boundary, and a gradient-and-Hessian check of every solution that
decides ``converged``. Tests of fixed effects use Satterthwaite or Kenward-Roger
degrees of freedom (:mod:`alliance.mixed.inference`). The fixed-effect design enters through the orthonormal :math:`Q` of
:math:`X = QR` (the criterion is invariant up to the constant
:math:`2\log|\det R|` in REML), so badly scaled covariates cannot spoil the
Woodbury subtractions; :math:`\hat\beta` and its covariance are mapped back.

Why an engine of its own, and not statsmodels' ``MixedLM``
----------------------------------------------------------
statsmodels is the project's tool for ordinary least squares and robust
covariances (single-level response surfaces use it), and its ``MixedLM`` is the
independent check of this engine: ``tests/test_mixed_statsmodels.py`` fits
every model both can express -- correlated intercepts and slopes in one
grouping factor, independent slopes, nested random intercepts with independent
subject slopes, the three-level ICC model, fully crossed intercepts (lme4's
Penicillin) -- and requires the same optimum. But ``MixedLM`` has one grouping
factor with correlated effects plus *independent* variance components inside
it, so it cannot express the book's central models: patients' *correlated*
intercepts and slopes nested in therapists (every growth model with a therapist
level, the stacked two-rater model with four correlated patient effects, the
truth-and-bias model with a random tracking slope). Where both apply, this
engine reaches the same log-likelihood faster in every case measured and, on dietox,
statsmodels' default optimizer stops short of the optimum that lme4 and this
engine reach (``benchmarks/bench_statsmodels.py``; the book's appendix on the
engine shows the measured table).
"""

from alliance.mixed.fit import DDF_LABEL, MixedFit, fit_lmm, lrt
from alliance.mixed.inference import DDF_METHODS, normalise_ddf
from alliance.mixed.model import BOUNDARY_TOL, RandomTerm
from alliance.mixed.optimize import OPTIMIZERS, RESTARTS

__all__ = ["BOUNDARY_TOL", "DDF_LABEL", "DDF_METHODS", "OPTIMIZERS", "RESTARTS", "MixedFit",
           "RandomTerm", "fit_lmm", "lrt", "normalise_ddf"]
