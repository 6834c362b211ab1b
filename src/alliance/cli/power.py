"""``alliance power``: power of the primary tests for a planned trial, written to a folder.

``alliance power --scenario default --therapists 20 40 80 --draws 1000 --out DIR``
runs :func:`alliance.studies.power.power_study` over the product of the values
given (``--therapists``, ``--patients-per-therapist``, ``--sessions``,
``--effect``; each defaults to the scenario's) and writes into ``DIR``:

* ``power.csv``: power (or false-positive rate) of every primary test at every
  design point, with its Clopper-Pearson interval;
* ``verdicts.csv``: how often each finding would come out *replicated*,
  *inconclusive*, *not replicated* or *contradicted* by the rules of chapter 7
  (``finding``, ``verdict``, ``share``, ``ci_low``, ``ci_high``, ``n``, ``failed``,
  ``scenario`` and the design columns);
* ``needed.csv``: therapists needed for 80% and 90% power per test (when more
  than one number of therapists was given);
* ``draws.csv``: every draw's row (estimates, SE, df, p, convergence, boundary
  fits, warnings, failures, seconds);
* ``manifest.json``: the command, scenario, seed and versions.

* ``store/``: the draws' chunk files, one folder per design point.

The draws are computed into ``DIR.partial/`` (chunk files, one per 25 draws):
an interrupted run (exit code 130) resumes there when the same command is run
again; the same folder with another scenario, seed or design is refused (exit
code 2) rather than mixed. The finished folder is moved into place whole
(:func:`alliance.outputs.atomic_dir`). An existing non-empty ``DIR`` is refused
(exit code 2), before any draw is computed, unless ``--force`` is given.
"""

from __future__ import annotations

import os

__all__ = ["add_arguments", "run"]


def add_arguments(parser) -> None:
    """Options of ``alliance power``."""
    from alliance.synthetic.scenarios import SCENARIOS

    parser.add_argument("--scenario", default="default", choices=sorted(SCENARIOS),
                        help="scenario of the generative model (default: the book's model)")
    parser.add_argument("--therapists", type=int, nargs="+", metavar="J",
                        help="numbers of therapists (randomised 1:1)")
    parser.add_argument("--patients-per-therapist", type=float, nargs="+", metavar="M",
                        help="mean caseloads (caseloads stay uneven)")
    parser.add_argument("--sessions", type=int, nargs="+", metavar="S", help="sessions rated")
    parser.add_argument("--effect", type=float, nargs="+", metavar="K",
                        help="multipliers of every training effect (1 = the scenario's)")
    parser.add_argument("--draws", type=int, default=1000, help="draws per design point")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="local worker processes (default: every core)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="a running dask.distributed scheduler (tcp://host:8786) to use "
                             "instead of local processes")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--force", action="store_true",
                        help="replace a non-empty --out folder whole (never mixed with new files)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args) -> int:
    """Run the study into ``--out``; exit codes 0, 2 (usage), 130 (interrupted, resumable)."""
    import json
    import shutil
    from pathlib import Path

    from alliance.cli.common import UsageError
    from alliance.outputs import atomic_dir, check_target
    from alliance.studies.frozen import versions
    from alliance.studies.power import power_study, therapists_needed

    out = Path(args.out)
    if args.draws < 1:
        raise UsageError(f"--draws must be at least 1; got {args.draws}")
    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1; got {args.jobs}")
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha must lie between 0 and 1; got {args.alpha}")
    check_target(out, kind="folder", force=args.force, option="--out")  # refused before any draw
    partial = out.with_name(out.name + ".partial")
    try:
        res = power_study(
            args.scenario, therapists=args.therapists or [None],
            patients_per_therapist=args.patients_per_therapist or [None],
            sessions=args.sessions or [None], effects=args.effect or [1.0],
            n_draws=args.draws, seed=args.seed, alpha=args.alpha, jobs=args.jobs,
            scheduler=args.scheduler, store=partial / "store", progress=not args.quiet)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    except KeyboardInterrupt:
        print(f"interrupted: the finished draws are in {partial}; run the same command again "
              f"to resume")
        return 130
    power, draws = res.tables["power"], res.tables["draws"]
    needed = []
    if draws["therapists"].nunique() > 1:
        for keys, sub in draws.groupby(["caseload", "sessions", "effect"]):
            if sub["therapists"].nunique() < 2:
                continue
            for test in power["test"].unique():
                for target in (0.8, 0.9):
                    needed.append({"caseload": keys[0], "sessions": keys[1], "effect": keys[2],
                                   **therapists_needed(sub, test, target)})
    manifest = {"command": "alliance power", "arguments": {
        k: v for k, v in vars(args).items() if k not in ("func",)},
        "synthetic": "every row comes from synthetic trials of alliance.simulate",
        "draw_seed": f"numpy.random.SeedSequence({args.seed}, spawn_key=(draw,))",
        "versions": versions(), "failed_draws": res.info["failed"]}
    with atomic_dir(out, force=args.force, option="--out") as tmp:
        power.to_csv(tmp / "power.csv", index=False)
        res.tables["verdicts"].to_csv(tmp / "verdicts.csv", index=False)
        draws.to_csv(tmp / "draws.csv", index=False)
        if needed:
            import pandas as pd

            pd.DataFrame(needed).to_csv(tmp / "needed.csv", index=False)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str) + "\n")
        shutil.copytree(partial / "store", tmp / "store")
    shutil.rmtree(partial, ignore_errors=True)
    shown = power[["therapists", "caseload", "sessions", "effect", "test",
                   "estimates", "estimate", "ci_low", "ci_high"]]
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {out}/power.csv, verdicts.csv, draws.csv{', needed.csv' if needed else ''} "
          "and manifest.json")
    if res.info["failed"]:
        print(f"{res.info['failed']} draws failed (rows with an error in draws.csv)")
    return 0
