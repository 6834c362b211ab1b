"""Side by side in one run: the book's models in alliance, lme4 (R), nlme (R) and mixedlm.

Every model behind the findings (growth per rater with a therapist intercept or an intercept and
slope, the stacked two-rater model, truth and bias, the raw and within-patient lagged surfaces)
at 1x (the shipped data, 636 rows), 10x and 100x (``alliance.simulate`` with 400/1,170 and
4,000/11,700 therapists/patients, seed 1, as ``bench_growth.py``).

* alliance: the public call a reader makes (``fit_growth(data, ...)`` from a DataFrame: the
  data validated, the design built, the fit, Satterthwaite degrees of freedom for every test,
  the result tables), best of ``--repeats`` wall-clock runs; and ``fit_lmm`` alone on the
  design that call fitted (the engine against the engines, still with Satterthwaite df).
* lme4 (``lmer``, default settings) and, for the stacked model with a residual variance per
  rater, nlme (``lme`` with ``varIdent``: lme4 has no variance functions), through
  ``Rscript benchmarks/peers.R`` when R is installed; mixedlm (the Rust port of lme4 on PyPI,
  ``mixedlm.lmer``) when it is importable, each fit in a child process with a time limit.
  The peers fit the very rows and design columns the package fitted (exported to CSV: the
  fixed-effect columns, each random term's columns and grouping, the residual groups), from
  the formula ``y ~ 1 + x1 + ... + (1 + patient_z1 | patient) + ...`` (a column of ones is the
  formula's intercept, as a user writes it); only their fit is
  timed (best of the same number of runs), not reading the CSV. A peer that is not installed
  is skipped, one that exceeds ``--timeout`` is reported as such. Every engine runs on one
  thread (``ONE_THREAD``).

The table gives each time, the ratio of alliance to the fastest peer (< 1: alliance is
faster) and the largest difference in log-likelihood between alliance and each peer (the
same optimum). The machine and its load (``os.getloadavg``) are printed before and after: the
cores are shared, so quote the load with the figures.

Run: ``.venv/bin/python benchmarks/bench_peers.py [--scales 1,10,100] [--repeats 5]
[--timeout 300] [--models growth_patient,...] [--no-r] [--no-mixedlm] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from _common import add_smoke, data_at, load, machine, record, timed

from alliance import AllianceWarning
from alliance.findings import lagged_surface
from alliance.growth import fit_growth
from alliance.mixed import RandomTerm, fit_lmm
from alliance.truth_bias import fit_truth_bias

HERE = Path(__file__).parent
S = "intercept+slope"

#: name -> (the public call on validated-or-raw data, comparable by lme4 / mixedlm, by nlme).
#: Every growth model names its therapist level (``fit_growth`` defaults to
#: ``"intercept+slope"``): ``_none`` no therapist level, no suffix a therapist intercept,
#: ``_slope`` a therapist intercept and slope; ``growth_both*`` has a residual variance per
#: rater, ``growth_stacked_shared*`` one residual (lme4 and mixedlm have no variance functions).
I = "intercept"
MODELS = {
    "growth_patient_none": (lambda d: fit_growth(d, "patient", therapist_effects="none"), 1, 0),
    "growth_patient": (lambda d: fit_growth(d, "patient", therapist_effects=I), 1, 0),
    "growth_patient_slope": (lambda d: fit_growth(d, "patient", therapist_effects=S), 1, 0),
    "growth_therapist": (lambda d: fit_growth(d, "therapist", therapist_effects=I), 1, 0),
    "growth_therapist_slope": (lambda d: fit_growth(d, "therapist", therapist_effects=S), 1, 0),
    "growth_both": (lambda d: fit_growth(d, "both", therapist_effects=I), 0, 1),
    "growth_both_slope": (lambda d: fit_growth(d, "both", therapist_effects=S), 0, 1),
    "growth_stacked_shared": (
        lambda d: fit_growth(d, "both", residual="shared", therapist_effects=I), 1, 0),
    "growth_stacked_shared_slope": (
        lambda d: fit_growth(d, "both", residual="shared", therapist_effects=S), 1, 0),
    "truth_bias": (lambda d: fit_truth_bias(d, therapist_effects=I), 1, 0),
    "rsa": (lambda d: lagged_surface(d), 1, 0),
    "rsa_within": (lambda d: lagged_surface(d, level2_means=True), 1, 0),
}

_MIXEDLM_CHILD = r"""
import json, sys, time, warnings
warnings.simplefilter("ignore")
import pandas as pd, mixedlm
csv, formula, reml, reps, groups = sys.argv[1], sys.argv[2], sys.argv[3] == "1", int(sys.argv[4]), sys.argv[5].split(",")
d = pd.read_csv(csv)
for g in groups:
    d[g] = d[g].astype(str)
best, fit = float("inf"), None
for _ in range(reps):
    t = time.perf_counter()
    fit = mixedlm.lmer(formula, d, REML=reml)
    best = min(best, time.perf_counter() - t)
ll = fit.logLik()
print(json.dumps({"seconds": best, "loglik": float(getattr(ll, "value", ll))}))
"""


def export(args, kwargs, path: Path) -> dict:
    """The rows and design of a recorded fit as a CSV, and the peers' formulas."""
    y, X, random = args[0], args[1], args[2]
    random = [random] if isinstance(random, RandomTerm) else list(random)
    out = pd.DataFrame({"y": np.asarray(y, dtype=float)})
    Xa = np.asarray(X, dtype=float)
    fixed = [f"x{j}" for j in range(Xa.shape[1])]
    for j, c in enumerate(fixed):
        out[c] = Xa[:, j]

    def rhs(cols):  # a column of ones is the formula's intercept, as a user writes it
        ones = [c for c in cols if np.all(out[c].to_numpy() == 1.0)]
        rest = [c for c in cols if c not in ones[:1]]
        return " + ".join((["1"] if ones else ["0"]) + rest)

    terms, nlme_random, groups = [], {}, []
    # outer factor first (nlme nests the later ones in the earlier ones)
    for t in sorted(random, key=lambda t: pd.Series(np.asarray(t.groups)).nunique()):
        g = str(t.name)
        groups.append(g)
        out[g] = pd.Series(np.asarray(t.groups)).astype(str).to_numpy()
        Z = np.ones((len(out), 1)) if t.Z is None else np.asarray(t.Z, dtype=float)
        zc = [f"{g}_z{j}" for j in range(Z.shape[1])]
        for j, c in enumerate(zc):
            out[c] = Z[:, j]
        terms.append(f"({rhs(zc)} | {g})")
        nlme_random[g] = "~ " + rhs(zc)
    by = kwargs.get("residual_groups")
    if by is not None:
        out["rgroup"] = pd.Series(np.asarray(by)).astype(str).to_numpy()
    out.to_csv(path, index=False)
    lhs = "y ~ " + rhs(fixed)
    return {"csv": str(path), "formula": lhs + " + " + " + ".join(terms), "groups": groups,
            "reml": str(kwargs.get("method", "REML")).upper() == "REML",
            "nlme": ({"fixed": lhs, "random": nlme_random, "weights_by": "rgroup"}
                     if by is not None else None)}


#: Every engine on one thread: the package limits BLAS to one thread in every fit, and a
#: multithreaded peer on a shared 2-core machine spends its time waiting (measured: mixedlm
#: 0.01 s per growth fit on one thread, 0.1-0.4 s with its default threads under load).
ONE_THREAD = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                               "RAYON_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}


def run_r(jobs: list, workdir: Path) -> dict:
    jf, of = workdir / "jobs.json", workdir / "r_out.json"
    jf.write_text(json.dumps(jobs))
    subprocess.run(["Rscript", str(HERE / "peers.R"), str(jf), str(of)], check=True,
                   env={**os.environ, **ONE_THREAD})
    res = json.loads(of.read_text())
    print(f"  ({res['R']}; lme4 {res['lme4']}, nlme {res['nlme']}, Matrix {res['Matrix']})")
    return {j["name"]: j for j in res["jobs"]}


def run_mixedlm(job: dict, reps: int, timeout: float) -> dict:
    cmd = [sys.executable, "-c", _MIXEDLM_CHILD, job["csv"], job["formula"],
           "1" if job["reml"] else "0", str(reps), ",".join(job["groups"])]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                           env={**os.environ, **ONE_THREAD})
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:g} s"}
    if p.returncode:
        return {"error": (p.stderr.strip().splitlines() or ["failed"])[-1][:80]}
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scales", default="1,10,100")
    ap.add_argument("--repeats", type=int, default=5, help="runs per fit at 1x (3 at 10x, "
                    "1 at 100x)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per peer fit")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--no-r", action="store_true")
    ap.add_argument("--no-mixedlm", action="store_true")
    ap.add_argument("--json", help="also write the table here")
    add_smoke(ap)
    a = ap.parse_args(argv)
    if a.smoke:  # 1x, one run, no peers, a model of each kind: the script's own code paths
        a.scales, a.repeats, a.no_r, a.no_mixedlm = "1", 1, True, True
        a.models = "growth_patient,growth_both,truth_bias,rsa_within"
    scales = [int(s) for s in a.scales.split(",")]
    names = [m for m in a.models.split(",") if m]
    unknown = set(names) - set(MODELS)
    if unknown:
        ap.error(f"unknown models {sorted(unknown)}; known: {list(MODELS)}")
    use_r = not a.no_r and shutil.which("Rscript") is not None
    try:
        import mixedlm  # noqa: F401

        use_mixedlm = not a.no_mixedlm
    except ImportError:
        use_mixedlm = False
    print(machine())
    print(f"before: {load()}")
    print(f"peers: lme4/nlme {'yes' if use_r else 'skipped (no Rscript)'}; mixedlm "
          f"{'yes' if use_mixedlm else 'skipped (not installed)'}\n", flush=True)
    rows = []
    warnings.simplefilter("ignore", AllianceWarning)
    with tempfile.TemporaryDirectory(prefix="bench-peers-") as tmp:
        work = Path(tmp)
        for scale in scales:
            reps = a.repeats if scale == 1 else (3 if scale == 10 else 1)
            data = data_at(scale)
            print(f"## {scale}x: {data['therapist'].nunique()} therapists, "
                  f"{data['patient'].nunique()} patients, {len(data)} rows "
                  f"(best of {reps})", flush=True)
            jobs, scale_rows = [], []
            for name in names:
                call, lme4_ok, nlme_ok = MODELS[name]
                _, [(args, kwargs), *_] = record(lambda: call(data))  # noqa: B023
                t = timed(lambda: call(data), reps)  # noqa: B023
                secs, res = t.best, t.result
                fit_secs = timed(lambda: fit_lmm(*args, **kwargs), reps).best  # noqa: B023
                job = export(args, kwargs, work / f"{scale}x-{name}.csv")
                fit = getattr(res, "fit", None)
                row = {"scale": f"{scale}x", "model": name, "rows": int(res.n_obs),
                       "alliance_s": secs, "fit_s": fit_secs,
                       "loglik": float(fit.loglik) if fit else np.nan}
                print(f"  alliance {name:28s} {secs:8.3f} s (fit_lmm {fit_secs:.3f} s)",
                      flush=True)
                jobs.append({"name": name, "reps": reps, "timeout": a.timeout,
                             **{k: job[k] for k in ("csv", "groups", "reml")},
                             "formula": job["formula"] if lme4_ok else None,
                             "nlme": job["nlme"] if nlme_ok else None})
                if use_mixedlm and lme4_ok:
                    m = run_mixedlm(job, reps, a.timeout)
                    row["mixedlm_s"] = m.get("seconds", np.nan)
                    row["mixedlm_dll"] = m.get("loglik", np.nan) - row["loglik"]
                    row["mixedlm_note"] = m.get("error", "")
                    print(f"  mixedlm  {name:28s} " + (f"{m['seconds']:8.3f} s" if "seconds" in m
                                                       else m["error"]), flush=True)
                scale_rows.append(row)
            if use_r:
                rres = run_r(jobs, work)
                for row in scale_rows:
                    r = rres.get(row["model"], {})
                    for peer in ("lme4", "nlme"):
                        if r.get(f"{peer}_seconds") is not None:
                            row[f"{peer}_s"] = r[f"{peer}_seconds"]
                            row[f"{peer}_dll"] = r[f"{peer}_loglik"] - row["loglik"]
                        elif r.get(f"{peer}_error"):
                            row[f"{peer}_note"] = str(r[f"{peer}_error"])[:60]
            rows.extend(scale_rows)
            print(flush=True)
    print(f"after: {load()}\n")
    tab = pd.DataFrame(rows)
    for c in ("lme4_s", "nlme_s", "mixedlm_s", "lme4_dll", "nlme_dll", "mixedlm_dll"):
        if c not in tab:
            tab[c] = np.nan
    peers = tab[["lme4_s", "nlme_s", "mixedlm_s"]]
    tab["fastest_peer_s"] = peers.min(axis=1, skipna=True)
    tab["ratio"] = tab["alliance_s"] / tab["fastest_peer_s"]
    tab["fit_ratio"] = tab["fit_s"] / tab["fastest_peer_s"]
    show = ["scale", "model", "rows", "alliance_s", "fit_s", "lme4_s", "nlme_s", "mixedlm_s",
            "ratio", "fit_ratio", "lme4_dll", "nlme_dll", "mixedlm_dll"]
    with pd.option_context("display.width", 220, "display.max_columns", 30):
        print(tab[show].to_string(index=False, na_rep="-",
                                  float_format=lambda v: f"{v:.3g}"))
    print("\nalliance_s: the public call (validation, design, fit, Satterthwaite df, result "
          "tables); fit_s: alliance.mixed.fit_lmm alone on the same design (with Satterthwaite "
          "df). ratio, fit_ratio: those / the fastest peer's fit (< 1: alliance faster); "
          "*_dll = peer logLik - alliance logLik (the same optimum: |dll| about 1e-6 or less)")
    notes = tab.filter(like="_note")
    for (_, r), (_, n) in zip(tab.iterrows(), notes.iterrows()):
        for k, v in n.items():
            if isinstance(v, str) and v:
                print(f"  {r['scale']} {r['model']}: {k.removesuffix('_note')} {v}")
    for scale in tab["scale"].unique():
        t = tab[tab["scale"] == scale].set_index("model")["alliance_s"]
        for stacked, single in (("growth_both_slope", "growth_therapist_slope"),
                                ("growth_both", "growth_therapist")):
            if stacked in t and single in t:
                print(f"{scale}: {stacked} / {single} = {t[stacked] / t[single]:.2f}")
    if a.json:
        Path(a.json).write_text(tab.to_json(orient="records", indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
