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

It prints the power table and the median wall-clock seconds per draw (:func:`draw_seconds`:
the cost of a draw, issue 23's measure; the cores are shared, so quote the load with it).

The draws are computed into ``DIR.partial/`` (chunk files, one per 25 draws):
an interrupted run (exit code 130) resumes there when the same command is run
again. ``DIR.partial/run.json`` records the arguments that define the study
(scenario, design values, draws, seed, alpha): a run with any of them different
is refused (exit code 2, naming each argument that differs) rather than mixed,
or, with ``--force``, deletes the unfinished draws and starts clean
(:func:`alliance.draws.runner.claim_run`). One run at a time works in
``DIR.partial``: a second one is refused at once, before it computes anything
(:func:`alliance.draws.runner.folder_lock`). A damaged chunk file is named,
removed and recomputed. The finished folder is moved into place whole
(:func:`alliance.outputs.atomic_dir`). An existing non-empty ``DIR`` is refused
(exit code 2), before any draw is computed, unless ``--force`` is given.

Every option is checked before anything is computed (exit code 2 with the
allowed range): design values, effect multipliers, draws, seed, alpha, jobs,
and an estimate of the memory one trial's fits need (a design that cannot fit
in this machine's memory is refused, not started).

**The cluster path runs pickles.** ``--scheduler`` sends the work to a Dask
scheduler pickled and unpickles the rows its workers send back: a scheduler
someone else controls can run code on this machine. Use only a cluster of your
own; across a network, use TLS: a ``tls://`` address with ``--tls-ca-file``,
``--tls-cert`` and ``--tls-key`` (Dask's ``distributed.security.Security``).
"""

from __future__ import annotations

import os

from alliance.cli.common import add_scheduler_options, scheduler_security

__all__ = ["STUDY_ARGUMENTS", "add_arguments", "draw_seconds", "run"]

#: The options that define a study: resuming ``DIR.partial`` with any of them different is refused.
STUDY_ARGUMENTS = ("scenario", "therapists", "patients_per_therapist", "sessions", "effect",
                   "draws", "seed", "alpha")

def add_arguments(parser) -> None:
    """Options of ``alliance power``."""
    from alliance.synthetic.scenarios import SCENARIOS

    parser.add_argument("--scenario", default="default", choices=sorted(SCENARIOS),
                        help="scenario of the generative model (default: the book's model)")
    parser.add_argument("--therapists", type=int, nargs="+", metavar="J",
                        help="numbers of therapists (randomised 1:1; at least 4, two per arm)")
    parser.add_argument("--patients-per-therapist", type=float, nargs="+", metavar="M",
                        help="mean caseloads (at least 1; caseloads stay uneven)")
    parser.add_argument("--sessions", type=int, nargs="+", metavar="S",
                        help="sessions rated (at least 2)")
    parser.add_argument("--effect", type=float, nargs="+", metavar="K",
                        help="multipliers of every training effect (1 = the scenario's, 0 = none; "
                             "from -10 to 10)")
    parser.add_argument("--draws", type=int, default=1000,
                        help="draws per design point (1 to 1,000,000)")
    parser.add_argument("--seed", type=int, default=2024,
                        help="seed of the study, a whole number >= 0 (draw i uses "
                             "SeedSequence(seed, spawn_key=(i,)))")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="level of the tests (between 0 and 0.5; default 0.05)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="local worker processes (default: every core)")
    add_scheduler_options(parser)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--force", action="store_true",
                        help="replace a non-empty --out folder whole (never mixed with new files)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _sorted_unique(values):
    return None if values is None else sorted(set(values))


def check_options(args) -> None:
    """Every option of ``alliance power`` within its range, and a design that fits in memory.

    Raises :class:`~alliance.errors.OptionError` (exit code 2) naming the option,
    its allowed range and the value given, before anything is computed.
    """
    from alliance.data.cells import MAX_SESSION
    from alliance.errors import OptionError
    from alliance.options import (
        MAX_DRAWS,
        available_memory,
        check_alpha,
        check_count,
        check_jobs,
        check_number,
        check_seed,
    )
    from alliance.studies.power import BYTES_PER_ROW, MAX_EFFECT
    from alliance.synthetic.scenarios import scenario_params

    check_count(args.draws, "draws", high=MAX_DRAWS)
    check_seed(args.seed)
    check_alpha(args.alpha)
    check_jobs(args.jobs)
    for j in args.therapists or []:
        check_count(j, "therapists", low=4, why=" (two therapists per arm at least)")
    for m in args.patients_per_therapist or []:
        check_number(m, "patients_per_therapist", low=1, rule="a finite number >= 1")
    for s in args.sessions or []:
        check_count(s, "sessions", low=2, high=MAX_SESSION)
    for k in args.effect or []:
        check_number(k, "effect", low=-MAX_EFFECT, high=MAX_EFFECT,
                     rule=f"a number from -{MAX_EFFECT:g} to {MAX_EFFECT:g} (a multiplier of every "
                          "training effect: 1 = the scenario's, 0 = none; a larger one pushes "
                          "every rating against an end of its scale)")
    base = scenario_params(args.scenario)
    J = max(args.therapists or [base.n_therapists])
    m = max(args.patients_per_therapist or [base.n_patients / base.n_therapists])
    S = max(args.sessions or [base.n_sessions])
    rows = float(J) * float(m) * float(S)  # floats: no overflow, however large the values
    workers = 1 if args.scheduler else min(args.jobs, args.draws)
    needed = rows * BYTES_PER_ROW * workers
    avail = available_memory()
    if avail is not None and needed > avail:
        raise OptionError(
            f"--therapists {J:g} x --patients-per-therapist {m:g} x --sessions {S:g} make trials of "
            f"up to {rows:.3g} rows; fitting them in {workers} worker(s) needs about "
            f"{needed / 1e9:,.3g} GB of memory, more than the {avail / 1e9:,.3g} GB available on "
            "this machine; choose a smaller design (or fewer --jobs)")


def draw_seconds(draws, jobs: int) -> str:
    """The line on the cost of a draw: the median wall-clock seconds of the draws that did
    not fail (each timed in its worker by :func:`alliance.draws.runner.run_draws`; draws
    resumed from an earlier run keep the time they took then)."""
    failed = draws["error"].fillna("").astype(str) != ""
    secs = draws.loc[~failed, "seconds"].astype(float)
    if secs.empty:
        return "median seconds per draw: no draw succeeded"
    return (f"median seconds per draw: {secs.median():.3f} (wall clock, {len(secs)} draws, "
            f"{jobs} worker process{'es' if jobs != 1 else ''})")


def run(args) -> int:
    """Run the study into ``--out``; exit codes 0, 2 (usage), 3 (every draw of a design point
    failed), 130 (interrupted, resumable)."""
    from pathlib import Path

    from alliance.draws.runner import claim_run, folder_lock
    from alliance.outputs import check_target

    out = Path(args.out)
    check_options(args)
    security = scheduler_security(args)
    check_target(out, kind="folder", force=args.force, option="--out")  # refused before any draw
    partial = out.with_name(out.name + ".partial")
    study = {k: getattr(args, k) for k in STUDY_ARGUMENTS}
    for k in ("therapists", "patients_per_therapist", "sessions", "effect"):
        study[k] = _sorted_unique(study[k])
    with folder_lock(partial, what=f"--out {out}: its work folder {partial}"):
        resumed = claim_run(partial, study, force=args.force, what=f"--out {out}: {partial}",
                            option=lambda k: "--" + k.replace("_", "-"), clean_hint="--force")
        if resumed and not args.quiet:
            print(f"resuming the unfinished draws in {partial}")
        return _run_locked(args, out, partial, security)


def _run_locked(args, out, partial, security) -> int:
    """The study and its folder, while this run holds the lock on ``partial``."""
    import json
    import shutil

    from alliance.cli.common import UsageError
    from alliance.draws.runner import LOCK_FILE
    from alliance.outputs import atomic_dir
    from alliance.studies.frozen import versions
    from alliance.studies.power import power_study, therapists_needed

    try:
        res = power_study(
            args.scenario, therapists=args.therapists or [None],
            patients_per_therapist=args.patients_per_therapist or [None],
            sessions=args.sessions or [None], effects=args.effect or [1.0],
            n_draws=args.draws, seed=args.seed, alpha=args.alpha, jobs=args.jobs,
            scheduler=args.scheduler, store=partial / "store", progress=not args.quiet,
            **({"security": security} if security is not None else {}))
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
        shutil.copytree(partial / "store", tmp / "store",
                        ignore=shutil.ignore_patterns(LOCK_FILE, "*.tmp*"))
    shutil.rmtree(partial, ignore_errors=True)
    shown = power[["therapists", "caseload", "sessions", "effect", "test",
                   "estimates", "estimate", "ci_low", "ci_high"]]
    print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(draw_seconds(draws, args.jobs))
    print(f"wrote {out}/power.csv, verdicts.csv, draws.csv{', needed.csv' if needed else ''} "
          "and manifest.json")
    if res.info["failed"]:
        print(f"{res.info['failed']} draws failed (rows with an error in draws.csv)")
    return 0
