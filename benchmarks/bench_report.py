"""Time ``alliance report`` end to end, per analysis, on the shipped data and on large files.

Designs: the shipped data (636 rows) and draws of the book's generative model with the
trial's caseloads scaled up to about 100k rows (6,300 therapists, 18,500 patients) and, with
``--big``, about 365k rows (23,000 therapists, 67,000 patients: a 19 MB file, the size at
which issue 15 reported that the report did not finish). Each design is written to a CSV file
and reported through the command line's code path (``run_report`` on the file: reading,
validation, every analysis, figures, the atomic move into place). Printed: wall and CPU time
of the whole report, then the seconds of every analysis (from ``status.json``), including the
lagged fits in both directions.
Run: ``.venv/bin/python benchmarks/bench_report.py [--big] [--skip-100k]``.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import pandas as pd
from _common import add_smoke, timed

import alliance
from alliance.data.example import write_sessions
from alliance.report import ANALYSES, run_report
from alliance.synthetic import SimulationParams, simulate

DESIGNS = {
    "shipped": None,
    "100k": (6_300, 18_500),
    "365k": (23_000, 67_000),
}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--big", action="store_true", help="also the 365k-row file (several minutes)")
    ap.add_argument("--skip-100k", action="store_true", help="only the shipped data (quick check)")
    args = add_smoke(ap).parse_args(argv)
    if args.smoke:
        args.skip_100k, args.big = True, False
    names = ["shipped"] + ([] if args.skip_100k else ["100k"]) + (["365k"] if args.big else [])
    totals, per = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            if DESIGNS[name] is None:
                path = alliance.example_path()
            else:
                nt, npat = DESIGNS[name]
                path = write_sessions(simulate(SimulationParams(n_therapists=nt, n_patients=npat),
                                               seed=5), Path(tmp) / f"{name}.csv")
            out = Path(tmp) / f"report-{name}"
            t = timed(lambda p=path, o=out: run_report(p, o), 1)
            res, wall, cpu = t.result, t.best, t.median_cpu
            status = json.loads((out / "status.json").read_text())
            rows = len(path.read_text().splitlines()) - 1
            totals.append({"design": name, "rows": rows, "MB": path.stat().st_size / 1e6,
                           "wall_s": wall, "cpu_s": cpu, "failed": len(res["failed"])})
            per[name] = {k: v["seconds"] for k, v in status["analyses"].items()}
    print(pd.DataFrame(totals).to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    print()
    table = pd.DataFrame(per).reindex(list(ANALYSES))
    table.index.name = "analysis (wall s)"
    print(table.to_string(float_format=lambda v: f"{v:.2f}"))


if __name__ == "__main__":
    main()
