r"""Power of the primary tests for the next trial's design: curves and therapists needed.

A design point is a scenario of the generative model
(:mod:`alliance.synthetic.scenarios`) with a number of therapists :math:`J`,
patients per therapist :math:`m`, sessions :math:`S` and an effect multiplier
:math:`k` (:func:`alliance.synthetic.scenarios.scale_effects`: :math:`k = 1` is
the scenario's effects, :math:`k = 0.5` half of each). For each point,
:func:`power_study` draws trials with :func:`alliance.draws.run_draws`, fits the
models behind the verdicts (:data:`alliance.findings.VERDICT_MODELS`: growth per
rater and stacked, truth and bias, the within-patient lagged response surface; the
same specifications as chapter 7) and counts rejections at level :math:`\alpha`:

.. math::

   \widehat{\text{power}} = \frac{1}{n}\sum_{i=1}^{n}
       \mathbb{1}\{p_i < \alpha,\ \operatorname{sign}\hat\theta_i = \operatorname{sign}\theta\},

with a Clopper-Pearson interval; for a test whose effect is zero in the
scenario the count is of any rejection (a false-positive rate). The per-draw
rows (estimates, SE, df, p, convergence, boundary fits, warnings, failures,
seconds) are kept, and the verdict of every finding in every draw by the rules of
chapter 7 (:func:`alliance.findings.judge`): the share of trials of the design in
which each finding would come out *replicated*, *inconclusive*, ... :func:`therapists_needed` reads the number of therapists for
a target power off a logistic regression of rejection on :math:`\log J`
(smooth, using every draw) and off the grid.

Draw *i* of every design point uses ``SeedSequence(seed, spawn_key=(i,))``:
points share their random numbers as far as their sizes allow (common random
numbers make the curves smoother), and each draw is reproducible on its own.

Not validated against simr (R): the simulation is the definition of power
here; the tests check reproducibility, the false-positive rate under the null
scenario and that power grows with the number of therapists.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import statsmodels.api as sm

from alliance.draws.rates import StudyResult, rate
from alliance.draws.runner import all_failed, run_draws
from alliance.errors import FitError
from alliance.findings import (
    CLAIMS,
    PRIMARY_TESTS,
    VERDICT_MODELS,
    VERDICTS,
    draw_verdicts,
    fit_paper_models,
    primary_tests,
)
from alliance.options import (
    check_alpha,
    check_conf_level,
    check_count,
    check_memory,
    check_number,
)
from alliance.synthetic.params import SimulationParams
from alliance.synthetic.scenarios import scale_effects, scenario_params
from alliance.synthetic.simulate import simulate

__all__ = ["design_params", "design_point", "point_name", "power_draw", "power_study",
           "summarise_power", "therapists_needed"]

#: Columns that identify a design point (``patients_per_therapist`` is the realised caseload).
DESIGN = ("therapists", "caseload", "sessions", "effect")

#: The seed of the frozen power study (``data/studies/power-*``) and the default of
#: :func:`power_study` and of ``alliance power --seed``: a study with the defaults draws
#: the frozen study's first draws.
POWER_SEED = 2024
#: Memory one data row of a simulated trial needs while its primary models are fitted, in bytes:
#: measured with tracemalloc at about 2-3.6 kB per row (J = 40 to 2560 therapists), times 2.5
#: for the interpreter's and allocator's overhead that tracemalloc does not see.
BYTES_PER_ROW = 9_000
#: The largest effect multiplier: beyond it every rating is pushed against an end of its scale.
MAX_EFFECT = 10.0


def design_params(scenario: str = "default", *, therapists: int | None = None,
                  patients_per_therapist: float | None = None, sessions: int | None = None,
                  effect: float = 1.0) -> SimulationParams:
    """The generative model of one design point.

    ``therapists`` keeps the scenario's mean caseload (117 / 40 by default) unless
    ``patients_per_therapist`` is given; caseloads stay uneven (1 to
    ``max(6, 2 m)`` per therapist); ``effect`` scales every training effect.

    Examples
    --------
    >>> p = design_params(therapists=80, sessions=8)
    >>> p.n_therapists, p.n_patients, p.n_sessions
    (80, 234, 8)
    """
    base = scenario_params(scenario)
    J = (check_count(therapists, "therapists", low=4, why=" (two therapists per arm at least)")
         if therapists is not None else base.n_therapists)
    m = (check_number(patients_per_therapist, "patients_per_therapist", low=1,
                      rule="a finite number >= 1") if patients_per_therapist is not None
         else base.n_patients / base.n_therapists)
    effect = check_number(effect, "effect", low=-MAX_EFFECT, high=MAX_EFFECT)
    S = sessions if sessions is not None else base.n_sessions
    rows = float(J) * m * float(check_count(S, "sessions", low=2))
    check_memory(rows * BYTES_PER_ROW, "therapists x patients_per_therapist x sessions",
                 f"a trial of {rows:.3g} rows")
    changes = {"n_therapists": J, "n_patients": int(round(J * m)),
               "max_caseload": max(base.max_caseload, int(math.ceil(2 * m))),
               "min_caseload": 1}
    if sessions is not None:
        changes["n_sessions"] = int(sessions)
    params = dataclasses.replace(base, **changes)
    return scale_effects(params, effect) if effect != 1 else params


def point_name(therapists, patients_per_therapist, sessions, effect, **_other) -> str:
    """Folder name of a design point's chunk store, e.g. ``J40-m2.925-S6-k1``."""
    return f"J{therapists}-m{patients_per_therapist:g}-S{sessions}-k{effect:g}"


def power_draw(draw: int, rng, params: SimulationParams, alpha: float = 0.05) -> dict:
    """One draw of a power study: a trial of the design and its primary tests.

    Returns :func:`alliance.findings.primary_tests` of the fits of
    :data:`alliance.findings.VERDICT_MODELS` and the rows used (``n_obs``).
    """
    data = simulate(params, seed=rng)
    fits, _ = fit_paper_models(data, only=VERDICT_MODELS)
    return {"n_obs": len(data), **primary_tests(fits)}


def _power_tests() -> list[str]:
    """The tests a power study records: those of :data:`PRIMARY_TESTS` on :data:`VERDICT_MODELS`."""
    return [k for k, t in PRIMARY_TESTS.items() if t.model in VERDICT_MODELS]


def _rejections(draws: pd.DataFrame, params: SimulationParams, alpha: float) -> pd.DataFrame:
    truth = params.truth()
    failed = draws["error"].fillna("").astype(str) != ""
    out = {}
    for key in _power_tests():
        p, est = draws[f"p_{key}"], draws[f"est_{key}"]
        effect = truth[PRIMARY_TESTS[key].truth]
        hit = (p < alpha) & ((np.sign(est) == np.sign(effect)) if effect != 0 else True)
        out[f"reject_{key}"] = hit.astype(float).where(~failed & p.notna())
    return pd.DataFrame(out, index=draws.index)


def design_point(params: SimulationParams, effect: float = 1.0,
                 caseload: float | None = None) -> dict:
    """The design columns of a point.

    ``therapists``, ``patients_per_therapist`` (realised: patients / therapists),
    ``caseload`` (the mean caseload asked for; by default the realised one),
    ``sessions`` and ``effect``.
    """
    ppt = params.n_patients / params.n_therapists
    return {"therapists": params.n_therapists, "patients_per_therapist": ppt,
            "caseload": float(caseload) if caseload is not None else ppt,
            "sessions": params.n_sessions, "effect": float(effect)}


def summarise_power(parts, *, alpha: float = 0.05, conf_level: float = 0.95, title: str = "",
                    info: dict | None = None) -> StudyResult:
    """Power per design point and test from ``[(params, effect, caseload, draws), ...]``.

    The summary of :func:`power_study` and of chapter 9's frozen studies: see
    :func:`power_study` for the tables.
    """
    rows, vrows, all_draws = [], [], []
    scenario = (info or {}).get("scenario")
    for params, effect, caseload, draws in parts:
        point = design_point(params, effect, caseload)
        rej = _rejections(draws, params, alpha)
        verdicts = draw_verdicts(draws, alpha)
        failed = draws["error"].fillna("").astype(str) != ""
        for c in CLAIMS:
            v = verdicts[f"verdict_{c.number}"]
            ok = ~failed & v.notna()
            for name in VERDICTS:
                r = rate((v == name).astype(float).where(ok), f"finding {c.number}",
                         "share of trials", conf_level)
                vrows.append({"finding": c.number, "verdict": name, "share": r["estimate"],
                              "ci_low": r["ci_low"], "ci_high": r["ci_high"], "n": r["n"],
                              "failed": r["failed"], "scenario": scenario, **point})
        truth = params.truth()
        for key in _power_tests():
            t = PRIMARY_TESTS[key]
            rows.append({**point, "test": key, "truth": truth[t.truth],
                         **rate(rej[f"reject_{key}"], t.label,
                                "power" if truth[t.truth] != 0 else "false-positive rate",
                                conf_level)})
        all_draws.append(pd.concat([draws.assign(**point), rej, verdicts], axis=1))
    power = pd.DataFrame(rows)
    first = ["term", "estimate", "se", "statistic", "p", "ci_low", "ci_high"]
    power = power[first + [c for c in power.columns if c not in first]]
    draws = pd.concat(all_draws, ignore_index=True)
    failed = int((draws["error"].fillna("").astype(str) != "").sum())
    return StudyResult(title=title, tables={"power": power, "verdicts": pd.DataFrame(vrows),
                                           "draws": draws},
                       n_obs=len(draws),
                       warnings=[f"{failed} draws failed"] if failed else [],
                       info={"alpha": alpha, "conf_level": conf_level, "failed": failed,
                             **(info or {})})


def power_study(scenario: str = "default", *, therapists=(None,), patients_per_therapist=(None,),
                sessions=(None,), effects=(1.0,), n_draws: int = 1000, seed: int = POWER_SEED,
                alpha: float = 0.05, conf_level: float = 0.95, jobs: int = 1,
                scheduler: str | None = None, store=None, chunk_size: int = 25,
                progress: bool = False, security=None) -> StudyResult:
    """Power of every primary test at every design point of a grid.

    The grid is the product of ``therapists``, ``patients_per_therapist``,
    ``sessions`` and ``effects`` (``None`` = the scenario's value). Each point is
    ``n_draws`` draws of :func:`power_draw` by :func:`alliance.draws.run_draws`
    (``jobs`` local processes, or the Dask ``scheduler``), stored under
    ``store/<point>/`` when ``store`` is given (a killed study resumes).

    Parameters
    ----------
    n_draws : int
        Simulated trials per design point (default 1000, as the frozen study).
    seed : int
        The study's seed: draw *i* of every design point uses
        ``SeedSequence(seed, spawn_key=(i,))``. The default is not the package's
        usual 1 but :data:`POWER_SEED` (2024), the frozen power study's seed, on
        purpose: a study with the defaults (here or ``alliance power``) draws the
        frozen study's first draws, row for row, so it can be checked against it
        (chapter 9's exercise does).

    Returns
    -------
    StudyResult
        ``power``: one row per point and test (``term`` (the test's label),
        ``estimate`` (the share), ``se``, ``ci_low``, ``ci_high``, then
        ``therapists``, ``patients_per_therapist``, ``sessions``, ``effect``,
        ``test``, ``truth``, ``k``, ``n``, ``failed``, ``estimates`` (power or
        false-positive rate)); ``verdicts``: one row per point, finding and verdict
        (``finding``, ``verdict``, ``share`` of the trials with that verdict,
        ``ci_low``, ``ci_high`` (Clopper-Pearson), ``n``, ``failed``, ``scenario`` and
        the design columns), by the rules of chapter 7; ``draws``: every draw's row
        with its design, ``reject_<test>`` and ``verdict_1`` .. ``verdict_4``.

    Examples
    --------
    >>> from alliance.studies.power import power_study
    >>> res = power_study(therapists=[20, 40], n_draws=2)  # doctest: +SKIP
    >>> res.tables["power"].query("test == 'g_ther'")[["therapists", "estimate"]]  # doctest: +SKIP
    """
    alpha, conf_level = check_alpha(alpha), check_conf_level(conf_level)
    parts = []
    base = scenario_params(scenario)
    for J in therapists:
        for m in patients_per_therapist:
            for S in sessions:
                for k in effects:
                    params = design_params(scenario, therapists=J, patients_per_therapist=m,
                                           sessions=S, effect=k)
                    sub = (None if store is None
                           else Path(store) / point_name(**design_point(params, k)))
                    draws = run_draws(power_draw, n_draws, seed=seed, args=(params, alpha),
                                      jobs=jobs, scheduler=scheduler, store=sub,
                                      chunk_size=chunk_size, progress=progress,
                                      security=security)
                    first = all_failed(draws)
                    if first is not None:  # no power to estimate: an error, never a table of NaN
                        raise FitError(f"every one of the {len(draws)} draws of design point "
                                       f"{point_name(**design_point(params, k))} failed; the "
                                       f"first: {first}")
                    m_asked = m if m is not None else base.n_patients / base.n_therapists
                    parts.append((params, k, m_asked, draws))
    return summarise_power(
        parts, alpha=alpha, conf_level=conf_level,
        title=f"Power of the primary tests ({scenario} scenario, {n_draws} draws per design)",
        info={"scenario": scenario, "seed": seed, "n_draws": n_draws})


def therapists_needed(draws: pd.DataFrame, test: str, target: float = 0.8) -> dict:
    """Therapists needed for ``target`` power, from the draws of a study over therapists.

    Two readings: ``logistic`` fits :math:`\\operatorname{logit} P(\\text{reject}) =
    \\beta_0 + \\beta_1 \\log J` to every draw (a binomial GLM, statsmodels) and solves
    for :math:`J` (rounded up to an even number, for 1:1 allocation); ``grid`` is
    the smallest number of therapists on the grid whose estimated power reaches
    the target (NaN when none does). Neither reading extrapolates: a target
    reached only beyond the largest number simulated gives NaN. The other design columns (``caseload``,
    ``sessions``, ``effect``) must be constant.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"therapists": [20] * 10 + [40] * 10 + [80] * 10,
    ...                   "reject_g_ther": [1] * 3 + [0] * 7 + [1] * 6 + [0] * 4 + [1] * 9 + [0]})
    >>> therapists_needed(d, "g_ther", 0.8)["grid"]
    80
    """
    for col in DESIGN[1:]:
        if col in draws and draws[col].nunique() > 1:
            raise ValueError(f"draws vary in {col}; select one value first")
    d = draws[["therapists", f"reject_{test}"]].dropna()
    y = d[f"reject_{test}"].to_numpy(float)
    X = sm.add_constant(np.log(d["therapists"].to_numpy(float)))
    out = {"test": test, "target": target, "logistic": np.nan, "grid": np.nan}
    grid = d["therapists"]
    if 0 < y.mean() < 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (quasi-)separation in tiny studies: no reading
            try:
                b0, b1 = sm.GLM(y, X, family=sm.families.Binomial()).fit().params
            except Exception:  # noqa: BLE001 - statsmodels raises several kinds here
                b0, b1 = np.nan, np.nan
        if b1 > 0:
            logJ = (math.log(target / (1 - target)) - b0) / b1
            # read off inside the grid only: no extrapolation beyond the numbers simulated
            if math.log(grid.min()) <= logJ <= math.log(grid.max()):
                out["logistic"] = int(2 * math.ceil(math.exp(logJ) / 2))
    shares = d.groupby("therapists")[f"reject_{test}"].mean()
    reached = shares[shares >= target]
    if len(reached):
        out["grid"] = int(reached.index.min())
    return out
