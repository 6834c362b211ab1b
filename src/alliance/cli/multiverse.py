"""``alliance multiverse FILE --out DIR``: each finding's key estimate under every defensible specification.

Runs :func:`alliance.studies.multiverse.multiverse` on FILE and writes into ``DIR``:

* ``specifications.csv``: one row per finding x specification (the choices, estimate,
  SE, df, p, CI, whether it agrees with the finding, the fit's warnings, and the
  error of a specification that could not be fitted);
* ``summary.csv``: per finding, how many specifications were fitted and the share
  agreeing, the median and range of the estimates, the book's specification;
* ``choices.csv``: which choice applies to which finding and how it is varied;
* ``specification_curve_finding<k>.png``: the specification curve of each finding;
* ``manifest.json``: the command, its arguments, the input's path and SHA-256, the
  package and library versions and the commit (:func:`alliance.provenance.provenance`).

``DIR`` is checked before anything is computed and written whole or not at all
(:func:`alliance.outputs.atomic_dir`); an existing non-empty ``DIR`` is refused (exit
code 2) unless ``--force``. Exit code 3 when some finding has no specification that
could be fitted (the folder is still written).
"""

from __future__ import annotations

__all__ = ["add_arguments", "run"]


def add_arguments(parser) -> None:
    """Options of ``alliance multiverse``."""
    from alliance.cli.common import add_input_options

    parser.add_argument("file")
    parser.add_argument("--out", required=True,
                        help="output folder: new or empty (written whole or not at all)")
    parser.add_argument("--force", action="store_true",
                        help="replace a non-empty --out folder whole (never mixed with new files)")
    parser.add_argument("--grid", choices=["small", "full"], default="full",
                        help="full: every combination of each model's choices (default); small: "
                             "the book's specification and each choice varied alone")
    parser.add_argument("--findings", type=int, nargs="+", choices=[1, 2, 3, 4],
                        default=[1, 2, 3, 4], metavar="K", help="findings to run (default: all)")
    parser.add_argument("--alpha", type=float, default=0.05,
                        help="significance level of 'agrees' (default 0.05)")
    parser.add_argument("--conf-level", type=float, default=0.95,
                        help="level of the confidence intervals (default 0.95)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress and no summary on standard output (errors and warnings "
                             "still on standard error)")
    add_input_options(parser)


def run(args) -> int:
    """Validate FILE, run the multiverse, write ``--out``; exit code 0 (3: a finding not fitted)."""
    import json
    import sys
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from alliance.cli.common import parse_columns
    from alliance.data.validate import read_sessions
    from alliance.errors import AllianceWarning
    from alliance.options import check_alpha, check_conf_level
    from alliance.outputs import atomic_dir, check_target
    from alliance.plots.multiverse import plot_specification_curve
    from alliance.plots.style import use_style
    from alliance.provenance import provenance
    from alliance.studies.multiverse import _multiverse

    check_alpha(args.alpha)
    check_conf_level(args.conf_level, "conf_level")
    keep = [args.file]  # --force must never delete the input
    out = check_target(args.out, kind="folder", force=args.force, option="--out", keep=keep)
    data = read_sessions(args.file, parse_columns(args.column), sep=args.sep, decimal=args.decimal,
                         ids=args.ids)  # validated once: the multiverse behind its door
    res = _multiverse(data, findings=args.findings, alpha=args.alpha, conf_level=args.conf_level,
                      grid=args.grid, progress=not args.quiet)
    specs, summary = res.tables["specifications"], res.tables["summary"]
    manifest = {
        "command": "alliance multiverse",
        "arguments": {k: v for k, v in vars(args).items() if k not in ("func", "module")},
        "provenance": provenance(input_path=args.file),
        "grid": res.grid, "alpha": res.alpha, "fits": res.info["fits"],
        "specifications": len(specs), "not_fitted": res.info["failed"],
        "warnings": res.warnings,
    }
    use_style()
    with atomic_dir(out, force=args.force, option="--out", keep=keep) as tmp:
        specs.to_csv(tmp / "specifications.csv", index=False)
        summary.to_csv(tmp / "summary.csv", index=False)
        res.tables["choices"].to_csv(tmp / "choices.csv", index=False)
        figures = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", AllianceWarning)
            for f in summary.loc[summary["fitted"] > 0, "finding"]:
                fig = plot_specification_curve(res, int(f))
                name = f"specification_curve_finding{int(f)}.png"
                try:
                    fig.savefig(tmp / name, dpi=130)
                finally:
                    plt.close(fig)
                figures.append(name)
        manifest["figures"] = figures
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, default=str) + "\n",
                                           encoding="utf-8")
    shown = summary[["finding", "term", "specifications", "fitted", "agreeing", "share_agreeing",
                     "median_estimate", "min_estimate", "max_estimate"]]
    if not args.quiet:
        print(shown.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(f"wrote {out}/specifications.csv, summary.csv, choices.csv, {len(figures)} figures "
              "and manifest.json")
    missing = summary.loc[summary["fitted"] == 0, "finding"].tolist()
    if missing:
        print(f"alliance: no specification of finding(s) {missing} could be fitted (their errors "
              "are in specifications.csv); exit code 3", file=sys.stderr)
        return 3
    return 0
