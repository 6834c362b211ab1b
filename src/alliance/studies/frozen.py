"""Studies too long for a book build, frozen in ``data/studies/`` with their provenance.

:data:`PLAN` lists every frozen study: the replication study of chapter 7 for
each scenario, and the power curves of chapter 9 (one axis of the design at a
time around the trial's design). ``make studies`` runs
``python -m alliance.cli.make_studies``, which calls :func:`make_study` for each:
the draws go into ``data/studies/<name>/`` as chunk files of
:func:`alliance.draws.run_draws` (a killed run resumes without losing or
repeating a draw; more draws can be added later by raising ``--draws``), and a
``manifest.json`` records the study's specification, the generative model's
parameters of every design point, the seed, the package and library versions,
the date, the command and the SHA-256 of every chunk file -- the same
provenance as the shipped example data (``data/README.md``).

:func:`load_study` reads a study back, refusing it when a chunk's checksum no
longer matches its manifest; :func:`summarise_study` turns it into the rates
the chapters print. The tests recompute a few frozen draws of each study and
require the same rows (identical on the recording machine with the same code;
elsewhere within the optimizer's convergence tolerance).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

from alliance.draws.rates import StudyResult
from alliance.draws.runner import read_store, run_draws
from alliance.errors import DataError
from alliance.findings import findings_draw, summarise_draws
from alliance.provenance import machine, source_sha256
from alliance.studies.power import (
    POWER_SEED,
    design_params,
    design_point,
    point_name,
    power_draw,
    summarise_power,
)
from alliance.synthetic.scenarios import scenario_params

__all__ = ["PLAN", "STUDIES_DIR", "load_study", "make_study", "readme_text", "summarise_study",
           "versions"]

#: Where frozen studies live in a checkout of the repository (``ALLIANCE_STUDIES_DIR``
#: overrides it, e.g. to try a chapter on small studies made elsewhere).
STUDIES_DIR = Path(os.environ.get("ALLIANCE_STUDIES_DIR",
                                  Path(__file__).resolve().parents[3] / "data" / "studies"))

#: Seeds: chapter 7's studies share one seed across scenarios (common random numbers).
FINDINGS_SEED = 2023
# POWER_SEED (2024) is defined beside power_study, whose default it is.

_AXES = {
    "therapists": [20, 30, 40, 60, 80, 120],
    "patients_per_therapist": [1.5, 2, 2.925, 4, 6],
    "sessions": [4, 6, 8, 10, 12],
    "effect": [0.5, 0.75, 1.0, 1.25, 1.5],
}

#: Draws per study (per design point for power studies): 1000 for every findings study
#: (Monte Carlo SE of a share at most 1.6 points); 300 per point for the power curve over the
#: number of therapists (at most 2.9 points; the curve runs to 120 therapists, so a point costs
#: up to three trial-sized fits per draw) and 150 per point along the other design axes (at most
#: 4.1 points), which chapter 9's logistic reading smooths. More draws resume into the same
#: stores: ``make studies DRAWS=1000``.
_DRAWS = {"power-therapists": 300}

#: name -> specification of every frozen study (``kind`` findings or power).
PLAN: dict[str, dict] = {
    **{f"findings-{s}": {"kind": "findings", "scenario": s, "seed": FINDINGS_SEED,
                          "alpha": 0.05, "draws": _DRAWS.get(f"findings-{s}", 1000)}
       for s in ("default", "null", "null_therapist_slopes", "ceiling", "rupture_dropout",
                 "therapist_slopes", "control_association", "confounded_level", "realistic")},
    **{f"power-{axis}": {"kind": "power", "scenario": "default", "axis": axis, "values": values,
                         "seed": POWER_SEED, "alpha": 0.05,
                         "draws": _DRAWS.get(f"power-{axis}", 150)}
       for axis, values in _AXES.items()},
}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def versions() -> dict:
    """Python and the versions of the package and its numerical libraries (provenance)."""
    out = {"python": platform.python_version()}
    for pkg in ("alliance", "numpy", "scipy", "pandas", "statsmodels"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
            out[pkg] = "not installed"
    return out


def _points(spec: dict) -> list[tuple[str, dict]]:
    """(store sub-folder, design_params keywords) of every point of a study."""
    if spec["kind"] == "findings":
        return [("", {})]
    out = []
    for v in spec["values"]:
        kw = {spec["axis"]: v}
        p = design_params(spec["scenario"], **kw)
        out.append((point_name(**design_point(p, kw.get("effect", 1.0))), kw))
    return out


def _params(spec: dict, kw: dict):
    return (scenario_params(spec["scenario"]) if spec["kind"] == "findings"
            else design_params(spec["scenario"], **kw))


def make_study(name: str, *, draws: int | None = None, jobs: int = 1, scheduler=None,
               root: Path | None = None, progress: bool = False, chunk_size: int = 25,
               security=None) -> Path:
    """Run (or resume, or extend) the frozen study ``name`` of :data:`PLAN`; write its manifest.

    ``draws`` overrides the plan's number of draws (per design point). ``scheduler`` and
    ``security`` (a ``distributed.security.Security`` for a ``tls://`` address) send the
    draws to a Dask cluster (:func:`alliance.draws.runner.run_draws`). Returns the
    study's folder.
    """
    spec = dict(PLAN[name])
    if draws is not None:
        spec["draws"] = int(draws)
    folder = Path(root or STUDIES_DIR) / name
    fn = findings_draw if spec["kind"] == "findings" else power_draw
    points = {}
    for sub, kw in _points(spec):
        params = _params(spec, kw)
        run_draws(fn, spec["draws"], seed=spec["seed"], args=(params, spec["alpha"]), jobs=jobs,
                  scheduler=scheduler, store=folder / sub if sub else folder,
                  chunk_size=chunk_size, progress=progress,
                  **({"security": security} if security is not None else {}))
        points[sub or "."] = {"design": kw, "params": dataclasses.asdict(params)}
    files = sorted(folder.rglob("chunk-*.csv"))
    manifest = {
        "study": name, "spec": spec,
        "synthetic": "every row comes from synthetic trials of alliance.simulate; no real data",
        "draw_seed": f"numpy.random.SeedSequence({spec['seed']}, spawn_key=(draw,))",
        "points": points, "versions": versions(),
        # where and with which code the draws were computed: a test recomputes a few of them
        # and expects identical rows only when both are the same (tests/test_studies.py)
        "machine": machine(),
        "code_sha256": source_sha256(),
        "date": time.strftime("%Y-%m-%d"),
        "command": f"python -m alliance.cli.make_studies --only {name} --draws {spec['draws']}",
        "chunk_size": chunk_size,
        "files": {f.relative_to(folder).as_posix(): _sha256(f) for f in files},
    }
    tmp = folder / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    tmp.replace(folder / "manifest.json")
    return folder


def _verified(name: str, root: Path | None) -> tuple[Path, dict]:
    folder = Path(root or STUDIES_DIR) / name
    mpath = folder / "manifest.json"
    if not mpath.exists():
        raise DataError(f"{mpath}: no frozen study {name!r} here (run `make studies`) "
                        f"[rule: study-exists]")
    manifest = json.loads(mpath.read_text(encoding="utf-8"))
    present = {f.relative_to(folder).as_posix() for f in folder.rglob("chunk-*.csv")}
    for f in sorted(present ^ set(manifest["files"])):
        where = "not listed in" if f in present else "missing, though listed in"
        raise DataError(f"{folder / f}: chunk {where} manifest.json [rule: study-checksum]")
    for f, digest in manifest["files"].items():
        if _sha256(folder / f) != digest:
            raise DataError(f"{folder / f}: SHA-256 differs from manifest.json "
                            f"[rule: study-checksum]")
    return folder, manifest


def _parts(folder: Path, spec: dict) -> list:
    base = scenario_params(spec["scenario"])
    return [(_params(spec, kw), float(kw.get("effect", 1.0)),
             kw.get("patients_per_therapist", base.n_patients / base.n_therapists),
             read_store(folder / sub))
            for sub, kw in _points(spec)]


def load_study(name: str, root: Path | None = None) -> tuple[pd.DataFrame, dict]:
    """The draws of a frozen study and its manifest; checksums verified.

    For a power study the draws carry their design columns and ``reject_<test>``.

    Raises
    ------
    DataError
        When the study is missing, or a chunk file is missing, unlisted or changed.
    """
    folder, manifest = _verified(name, root)
    spec = manifest["spec"]
    if spec["kind"] == "findings":
        return read_store(folder), manifest
    res = summarise_power(_parts(folder, spec), alpha=spec["alpha"])
    return res.tables["draws"], manifest


def summarise_study(name: str, root: Path | None = None, conf_level: float = 0.95) -> StudyResult:
    """The rates of a frozen study, with its manifest in ``info["manifest"]``.

    Chapter 7's studies are summarised by :func:`alliance.findings.summarise_draws`,
    chapter 9's by :func:`alliance.studies.power.summarise_power`.
    """
    folder, manifest = _verified(name, root)
    spec = manifest["spec"]
    if spec["kind"] == "findings":
        res = summarise_draws(read_store(folder), scenario_params(spec["scenario"]),
                              alpha=spec["alpha"], conf_level=conf_level,
                              title=f"Replication rates: {spec['scenario']} scenario")
    else:
        res = summarise_power(_parts(folder, spec), alpha=spec["alpha"], conf_level=conf_level,
                              title=f"Power over {spec['axis']} ({spec['scenario']} scenario)",
                              info={"axis": spec["axis"]})
    res.info["manifest"] = manifest
    return res


_README_HEAD = """\
# Frozen studies: Monte Carlo draws of synthetic trials (not real data)

**Everything here is synthetic.** Each folder holds the draws of one study of the book: synthetic
trials drawn from the generative model of `src/alliance/synthetic/` (a named scenario of
`alliance.synthetic.scenarios`) and analysed with the book's models. Chapter 7 reads the
`findings-*` studies (how often each published finding comes out, per scenario) and chapter 9 the
`power-*` studies (power of each primary test over one design axis around the trial's design).

## How they were made, and how to remake or extend them

`make studies` (that is, `python -m alliance.cli.make_studies --jobs 2`) runs every
study of `alliance.studies.frozen.PLAN` with `alliance.draws.run_draws`. Draw *i* of a study uses
the random numbers of `numpy.random.SeedSequence(seed, spawn_key=(i,))`, so it is reproducible on
its own, whatever the order, the number of workers or the machine (a Dask cluster gives the same
rows: `make studies SCHEDULER=tcp://host:8786`). Draws are written in chunk files of 25
(`chunk-<first>-<last>.csv`, written whole or not at all): an interrupted run resumes without losing
or repeating a draw, and a larger `DRAWS` adds draws to what is here. Re-run the target after a change
of the default tests, the recorded tests or the generative model (delete a study's folder first to
recompute it from scratch; a store made by another package version is refused, not mixed). The
verdicts are not stored: chapter 7 applies the rules of `alliance.findings.judge` to the stored
tests, so a change of the rules alone needs no new draws. This file is generated by the same command.

Each folder's `manifest.json` records the study's specification (kind, scenario, design axis and
values, seed, alpha, draws), the full parameters of the generative model at every design point, the
package and library versions, the machine (platform, processor, BLAS, NumPy's SIMD extensions), a
fingerprint of the package's source, the date, the command and the SHA-256 of every chunk file;
`alliance.studies.frozen.load_study` refuses a study whose files do not match it. The tests recompute a
few draws of each study, chosen deterministically across its chunks, and require the same rows:
identical on the recording machine with the same code, elsewhere within the tolerance the mixed-model
optimizer's convergence criterion allows (`tests/test_studies.py` derives it).

## Columns of a draw's row

| column | meaning |
|---|---|
| `draw` | draw number *i* (its seed is `SeedSequence(seed, spawn_key=(i,))`) |
| `est_<test>`, `se_<test>`, `df_<test>`, `p_<test>` | estimate, standard error, degrees of freedom (`inf`: Wald z) and p value of each test of `alliance.findings.PRIMARY_TESTS`: `g_ther`, `g_pat` (arm difference in therapist- and patient-rated growth), `g_rater` (rater x condition x time, findings studies only), `tc_diff` (arm difference in temporal congruence), `a1_training`, `a4_training`, `a1_control`, `a1_difference` (within-patient lagged surface: patient means and their products with the arm at level 2), `raw_a1_training`, `raw_a4_training`, `raw_a1_control`, `raw_a1_difference` (chapter 5's raw lagged surface, findings studies only) |
| `margin_g_pat`, `margin_a1_control` | the equivalence margins of the analysis plan in the estimates' units, from the trial's own spread (`alliance.findings.MARGINS`); `sd_g_pat` is the SD behind the first, `sdw_wellbeing_control` and `sdw_alliance_control` the within-patient SDs behind the second |
| `congruence_training` | 1 if the congruence checklist of the within-patient surface's training arm holds (broad or strict); context, not used by a verdict |
| `ridge_consistent_training` | 1 if the CIs of p10, p11 and a3 of the training arm's within-patient surface include 0, 1 and 0 (the ridge's position is consistent with the line of congruence; reported, never used as evidence) |
| `converged_<model>`, `boundary_<model>` | 1 if that model's fit converged / ended on the boundary (a variance estimated as zero) |
| `n_obs` | rows of the synthetic trial |
| `warnings` | every warning the draw raised, separated by a vertical bar |
| `error` | empty, or the exception of a draw that failed (such draws are counted apart, never dropped silently) |
| `seconds` | wall time of the draw |

## The studies

| study | kind | scenario | design | seed | draws per point | chunk files |
|---|---|---|---|---|---|---|
"""


def readme_text(root: Path | None = None) -> str:
    """``data/studies/README.md``: what the studies are, how they are made, what each holds."""
    root = Path(root or STUDIES_DIR)
    rows = []
    for name in PLAN:
        mpath = root / name / "manifest.json"
        if not mpath.exists():
            rows.append(f"| `{name}` | {PLAN[name]['kind']} | not made yet | | | | |")
            continue
        m = json.loads(mpath.read_text(encoding="utf-8"))
        spec = m["spec"]
        design = (f"{spec['axis']}: {', '.join(f'{v:g}' for v in spec['values'])}"
                  if spec["kind"] == "power" else "the trial's (40 therapists, 117 patients)")
        rows.append(f"| `{name}` | {spec['kind']} | {spec['scenario']} | {design} | "
                    f"{spec['seed']} | {spec['draws']} | {len(m['files'])} |")
    return _README_HEAD + "\n".join(rows) + "\n"
