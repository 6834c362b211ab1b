"""``python -m alliance.cli.make_studies``: produce the frozen studies of chapters 7 and 9.

A maintenance command for a checkout of the repository (``make studies`` runs
it): every study of :data:`alliance.studies.frozen.PLAN` is run into
``data/studies/<name>/`` with its manifest (:func:`alliance.studies.frozen.make_study`).
Draws already in a study's folder are kept, so an interrupted run resumes and
``--draws`` can only add draws. ``--only NAME`` (repeatable) runs some studies;
``--list`` prints the plan and how many draws each study holds. ``--scheduler`` sends
the draws to a Dask cluster of your own (the work travels pickled); across a network
give a ``tls://`` address with ``--tls-ca-file``, ``--tls-cert`` and ``--tls-key``, as
for ``alliance power``.
"""

from __future__ import annotations

import argparse
import os

__all__ = ["main"]


def main(argv=None) -> int:
    """Run (or resume) the frozen studies; return the exit code."""
    from alliance.cli.common import UsageError, add_scheduler_options, scheduler_security
    from alliance.draws.runner import read_store
    from alliance.studies.frozen import PLAN, STUDIES_DIR, make_study, readme_text

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", choices=sorted(PLAN), metavar="NAME",
                        help="run only this study (repeatable); default every study")
    parser.add_argument("--draws", type=int, help="draws per study or design point "
                        "(default: the plan's, 1000)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="local worker processes (default: every core)")
    add_scheduler_options(parser)
    parser.add_argument("--list", action="store_true", help="list the studies and their draws")
    args = parser.parse_args(argv)
    names = args.only or list(PLAN)
    try:
        security = scheduler_security(args)  # checked before any draw
    except UsageError as exc:
        parser.error(str(exc))
    if args.list:
        for name in names:
            folder = STUDIES_DIR / name
            n = sum(len(read_store(d)) for d in {f.parent for f in folder.rglob("chunk-*.csv")})
            print(f"{name}: {n} draws stored, plan {PLAN[name]['draws']} per point")
        return 0
    try:
        for name in names:
            print(f"{name}:", flush=True)
            folder = make_study(name, draws=args.draws, jobs=args.jobs, scheduler=args.scheduler,
                                security=security, progress=True)
            print(f"  -> {folder}", flush=True)
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", flush=True)
        return 130
    finally:
        if STUDIES_DIR.exists():
            (STUDIES_DIR / "README.md").write_text(readme_text(), encoding="utf-8", newline="\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
