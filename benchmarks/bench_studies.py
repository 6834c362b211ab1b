"""What a draw of a study costs: each model's fit beside statsmodels and lme4, and draws per second.

A draw of chapter 7's replication study (:func:`alliance.findings.findings_draw`)
simulates one trial and fits five mixed models (:func:`alliance.findings.fit_paper_models`);
a draw of chapter 9's power study fits four of them. For each model, on the shipped
data, this script prints

* ``analysis s``: the analysis function as a draw calls it (data preparation included);
* ``engine s``: :func:`alliance.mixed.fit_lmm` alone on the same design (the engine's
  inputs are captured from the analysis call);
* ``statsmodels s``: ``MixedLM`` on the same design where it can express the model
  (nested random intercepts: therapist groups with a patient variance component);
  statsmodels cannot fit correlated random slopes of a nested factor, so the growth
  and truth-and-bias models show ``n/a``;
* ``lme4 s``: frozen timings of ``lmer`` on the same designs, measured by
  ``tests/r/lme4_timing.R`` on exported design matrices (``--export DIR``) and stored
  in ``benchmarks/frozen/lme4_timing.json`` (CI never runs R), with the machine they
  were measured on;

then draws per second per core of both studies, from serial runs (one process,
BLAS single-threaded as the engine sets it). Run:
``.venv/bin/python benchmarks/bench_studies.py [--draws 10] [--repeats 5] [--export DIR]``.
Times depend on the machine and on what else it runs.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from _common import add_smoke, record, timed

import alliance
from alliance.draws.runner import run_draws
from alliance.findings import MODELS, findings_draw, fit_paper_models
from alliance.mixed import fit_lmm
from alliance.studies.power import design_params, power_draw
from alliance.synthetic import scenario_params

ROOT = Path(__file__).resolve().parents[1]
LME4 = ROOT / "benchmarks" / "frozen" / "lme4_timing.json"
_MODULES = ("alliance.growth", "alliance.truth_bias", "alliance.rsa.fit")


def capture_designs(data) -> dict:
    """The engine's inputs ``(y, X, random, method)`` of every model of a draw, by name."""
    designs = {}
    for model in MODELS:
        # the model's (first) engine call
        _, [(args, kw), *_] = record(lambda m=model: fit_paper_models(data, only=[m]), _MODULES)
        y, X, random, *rest = args
        designs[model] = (y, X, random, kw.get("method", rest[0] if rest else "REML"))
    return designs


def _frame(y, X, random) -> pd.DataFrame:
    X = pd.DataFrame(np.asarray(X, float)).add_prefix("x")
    d = X.assign(y=np.asarray(y, float))
    for term in random:
        d[f"g_{term.name}"] = np.asarray(term.groups).astype(str)
        if term.Z is not None:
            Z = pd.DataFrame(np.asarray(term.Z, float))
            for j in range(Z.shape[1]):
                d[f"z_{term.name}_{j}"] = Z[j].to_numpy()
    return d


def statsmodels_fit(y, X, random, method):
    """statsmodels MixedLM on the same design, or None when it cannot express the model."""
    import statsmodels.api as sm

    intercept_only = all(t.Z is None or np.asarray(t.Z).shape[1] == 1 and
                         np.allclose(np.asarray(t.Z, float), 1.0) for t in random)
    names = [t.name for t in random]
    if not intercept_only or sorted(names) != ["patient", "therapist"]:
        return None
    d = _frame(y, X, random)
    xcols = [c for c in d.columns if c.startswith("x")]
    model = sm.MixedLM.from_formula(
        "y ~ 0 + " + " + ".join(xcols), d, groups="g_therapist", re_formula="1",
        vc_formula={"patient": "0 + C(g_patient)"})
    return lambda: model.fit(reml=(method == "REML"))


def export(designs: dict, folder: Path) -> None:
    """Write each model's design as CSV for ``tests/r/lme4_timing.R``."""
    folder.mkdir(parents=True, exist_ok=True)
    meta = {}
    for model, (y, X, random, method) in designs.items():
        _frame(y, X, random).to_csv(folder / f"{model}.csv", index=False)
        meta[model] = {"method": method, "terms": [
            {"name": t.name, "q": 1 if t.Z is None else int(np.asarray(t.Z).shape[1]),
             "structure": t.structure} for t in random]}
    (folder / "designs.json").write_text(json.dumps(meta, indent=1) + "\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=10, help="serial draws per study timed")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--export", type=Path, help="write the designs for tests/r/lme4_timing.R")
    args = add_smoke(ap).parse_args(argv)
    if args.smoke:
        args.draws, args.repeats = 1, 1
    data = alliance.load_example()
    designs = capture_designs(data)
    if args.export:
        export(designs, args.export)
        print(f"designs written to {args.export}")
        return 0
    lme4 = json.loads(LME4.read_text()) if LME4.exists() else {"models": {}}
    print(f"one draw's models on the shipped data (median of {args.repeats}; seconds)")
    print(f"{'model':18s} {'n':>5s} {'analysis':>9s} {'engine':>8s} {'statsmodels':>12s} "
          f"{'lme4*':>7s} {'engine/lme4':>12s} {'logLik engine':>14s} {'logLik lme4':>12s}")
    for model in MODELS:
        y, X, random, method = designs[model]
        t_an = timed(lambda m=model: fit_paper_models(data, only=[m]), args.repeats).median
        t = timed(lambda: fit_lmm(y, X, random, method=method), args.repeats)  # noqa: B023
        t_en, fit = t.median, t.result
        sm_fn = statsmodels_fit(y, X, random, method)
        t_sm = timed(sm_fn, args.repeats).median if sm_fn else None
        ref = lme4["models"].get(model, {})
        t_l4 = ref.get("seconds")
        print(f"{model:18s} {len(y):5d} {t_an:9.3f} {t_en:8.3f} "
              f"{'n/a' if t_sm is None else f'{t_sm:.3f}':>12s} "
              f"{'' if t_l4 is None else f'{t_l4:.3f}':>7s} "
              f"{'' if not t_l4 else f'{t_en / t_l4:.1f}':>12s} {fit.loglik:14.4f} "
              f"{ref.get('loglik', float('nan')):12.4f}")
    if lme4.get("meta"):
        m = lme4["meta"]
        print(f"* lme4 {m.get('lme4_version')} ({m.get('R_version')}), frozen "
              f"{m.get('date')} on {m.get('machine')} by tests/r/lme4_timing.R")
    print()
    for label, fn, params in (
            ("replication draw (5 models, chapter 7)", findings_draw, scenario_params()),
            ("power draw (4 models, chapter 9, 40 therapists)", power_draw, design_params())):
        t = timed(lambda f=fn, p=params: run_draws(f, args.draws, seed=99, args=(p, 0.05),
                                                   jobs=1), 1)
        rows, wall = t.result, t.best
        print(f"{label}: {args.draws / wall:.2f} draws per second per core "
              f"({wall / args.draws:.2f} s a draw; {int((rows['error'] != '').sum())} failed)")
    print(f"(cores on this machine: {os.cpu_count()}; a study with --jobs N runs about N times "
          f"as many when the cores are free)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
