"""What one draw of the findings study costs, model by model, and what the frozen studies cost.

A draw (:func:`alliance.findings.findings_draw`) simulates a trial, validates it once and fits
the models behind the findings. Two specifications are timed, on the same draws
(``SeedSequence(1, spawn_key=(i,))``, as :func:`alliance.draws.run_draws` seeds draw ``i``):

* ``current``: :data:`alliance.findings.PAPER_MODELS` as they stand (``findings_draw`` itself);
* ``slopes``: issue 18's primary growth models, a therapist random slope in every growth model
  (``therapist_effects="intercept+slope"``: therapist- and patient-rated, and the stacked model
  with a residual variance per rater), with truth and bias and the raw and within-patient
  lagged surfaces unchanged.

Printed: the median seconds (wall clock and CPU of this process, one BLAS thread) of each
step, of a whole draw, and what regenerating ``--study-draws`` draws (the frozen studies: about
17,000) would take on ``--cores`` cores at that median. Run:
``.venv/bin/python benchmarks/bench_draw.py [--draws 24] [--study-draws 17000] [--cores 2]``.
The machine's load is printed with the figures: the cores are shared.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from _common import Timing, add_smoke, load

from alliance import AllianceWarning
from alliance.data.validate import read_sessions
from alliance.findings import _lagged_surface, findings_draw, primary_tests
from alliance.growth import _fit_growth
from alliance.synthetic.simulate import simulate
from alliance.truth_bias import _fit_truth_bias

S = "intercept+slope"
SLOPES = {
    "growth_therapist": lambda d: _fit_growth(d, "therapist", therapist_effects=S),
    "growth_patient": lambda d: _fit_growth(d, "patient", therapist_effects=S),
    "growth_both": lambda d: _fit_growth(d, "both", therapist_effects=S),
    "truth_bias": lambda d: _fit_truth_bias(d),
    "rsa": lambda d: _lagged_surface(d, 0.95),
    "rsa_within": lambda d: _lagged_surface(d, 0.95, level2_means=True),
}


def _rng(i: int):
    return np.random.default_rng(np.random.SeedSequence(1, spawn_key=(i,)))


def slopes_draw(i: int, steps: dict[str, Timing]) -> dict:
    def step(key, fn):
        return steps.setdefault(key, Timing()).add(fn)

    data = step("simulate", lambda: simulate(None, seed=_rng(i)))
    d = step("validate", lambda: read_sessions(data))
    fits = {k: step(k, lambda f=f: f(d)) for k, f in SLOPES.items()}
    return primary_tests(fits)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--draws", type=int, default=24)
    ap.add_argument("--study-draws", type=int, default=17000)
    ap.add_argument("--cores", type=int, default=2)
    a = add_smoke(ap).parse_args(argv)
    if a.smoke:
        a.draws = 1
    warnings.simplefilter("ignore", AllianceWarning)
    print(f"before: {load()}")
    if not a.smoke:
        findings_draw(10_000, _rng(10_000))  # warm-up (imports, caches)
        slopes_draw(10_000, {})
    totals = {"current": Timing(), "slopes": Timing()}
    steps: dict[str, Timing] = {}
    for i in range(a.draws):
        totals["current"].add(lambda i=i: findings_draw(i, _rng(i)))
        totals["slopes"].add(lambda i=i: slopes_draw(i, steps))
    print(f"after: {load()}\n")
    print(f"{'step (slopes draw)':24s} {'wall s':>8s} {'cpu s':>8s}   (median of {a.draws})")
    for k, t in steps.items():
        print(f"{k:24s} {t.median:8.4f} {t.median_cpu:8.4f}")
    print()
    for k, t in totals.items():
        wall, cpu = t.median, t.median_cpu
        hours = a.study_draws * cpu / a.cores / 3600
        print(f"draw ({k:7s}): median {wall:.3f} s wall, {cpu:.3f} s cpu; {a.study_draws:,} "
              f"draws on {a.cores} cores at that cpu time: {hours * 60:.0f} min")


if __name__ == "__main__":
    main()
