"""The engine beside statsmodels ``MixedLM`` on every model both can express: time and optimum.

For each case of ``tests/mixed_cases.py`` (REML): the median wall time of
:func:`alliance.mixed.fit_lmm` and of statsmodels' ``mixedlm(...).fit()`` (its
default optimizer), and the log-likelihood each reached. Run:
``.venv/bin/python benchmarks/bench_statsmodels.py [--repeats 3] [--freeze FILE]``;
``--freeze`` writes the table as JSON with the machine and versions (the book's
appendix on the engine reads ``benchmarks/frozen/engine_vs_statsmodels.json``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import time
from importlib.metadata import version
from pathlib import Path

import statsmodels.formula.api as smf
from _common import add_smoke, timed

from alliance.mixed import fit_lmm

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("mixed_cases", ROOT / "tests" / "mixed_cases.py")
mixed_cases = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mixed_cases)


def run(repeats: int = 3, cases: int | None = None) -> list[dict]:
    """The table: every case of ``tests/mixed_cases.py`` (the first ``cases`` of them)."""
    rows = []
    for name, case in list(mixed_cases.CASES.items())[:cases]:
        (y, X, random), theirs, _ = case()
        spec = dict(theirs)
        formula, data = spec.pop("formula"), spec.pop("data")
        t_ours = timed(lambda: fit_lmm(y, X, random, method="REML"), repeats)  # noqa: B023
        t_sm = timed(lambda: smf.mixedlm(formula, data, **spec).fit(reml=True),  # noqa: B023
                     repeats)
        ours, res = t_ours.result, t_sm.result
        rows.append({"model": name, "n": len(y), "alliance_seconds": t_ours.median,
                     "statsmodels_seconds": t_sm.median, "speedup": t_sm.median / t_ours.median,
                     "alliance_loglik": float(ours.loglik), "statsmodels_loglik": float(res.llf),
                     "statsmodels_converged": bool(res.converged)})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--freeze", type=Path, help="write the table (JSON) to this file")
    args = add_smoke(parser).parse_args(argv)
    if args.smoke:
        args.repeats = 1
    rows = run(args.repeats, 2 if args.smoke else None)
    print(f"{'model':28s} {'n':>6s} {'alliance s':>11s} {'statsmodels s':>14s} {'x':>6s} "
          f"{'logLik alliance':>16s} {'logLik statsmodels':>19s}")
    for r in rows:
        print(f"{r['model']:28s} {r['n']:6d} {r['alliance_seconds']:11.3f} "
              f"{r['statsmodels_seconds']:14.3f} {r['speedup']:6.1f} {r['alliance_loglik']:16.4f} "
              f"{r['statsmodels_loglik']:19.4f}{'' if r['statsmodels_converged'] else ' (not converged)'}")
    if args.freeze:
        meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
                "python": platform.python_version(), "alliance": version("alliance"),
                "statsmodels": version("statsmodels"), "numpy": version("numpy"),
                "date": time.strftime("%Y-%m-%d"), "repeats": args.repeats,
                "command": "python benchmarks/bench_statsmodels.py --freeze " + str(args.freeze)}
        args.freeze.parent.mkdir(parents=True, exist_ok=True)
        args.freeze.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
        print(f"wrote {args.freeze}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
