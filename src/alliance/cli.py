"""The ``alliance`` command line.

Conventions every subcommand follows:

* human-readable tables on stdout by default;
* with ``--json``: exactly one JSON object on stdout, whose tables are lists of
  records with at least ``term``, ``estimate``, ``se``, ``statistic``, ``p``,
  ``ci_low``, ``ci_high`` (plus ``level`` where a moderator splits the
  estimates), and ``n_obs``, ``n_groups``, ``converged``, ``warnings`` at the
  top level;
* invalid data: the validation message on stderr and exit code 1; a
  degenerate fit: the reason on stderr and exit code 3; bad usage: exit code 2.

``alliance fit KIND`` subcommands are provided by the analysis modules: each
module named in :data:`FIT_COMMANDS` defines ``cli_arguments(parser)`` and
``cli_run(args) -> Result``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

from alliance._errors import DataError, FitError
from alliance.schema import CANONICAL_COLUMNS

__all__ = ["main", "parse_columns", "add_column_option"]

#: ``alliance fit KIND`` -> module implementing it.
FIT_COMMANDS = {
    "growth": "alliance.growth",
    "truth-bias": "alliance.truth_bias",
    "rsa": "alliance.rsa",
    "lagged": "alliance.lagged",
}


def parse_columns(items: Sequence[str] | None) -> dict[str, str]:
    """Turn ``["canonical=theirs", ...]`` into ``{canonical: theirs}``."""
    mapping: dict[str, str] = {}
    for item in items or []:
        canon, sep, theirs = item.partition("=")
        if not sep or not canon or not theirs:
            raise SystemExit(f"alliance: --column expects canonical=yours, got {item!r}")
        if canon not in CANONICAL_COLUMNS:
            raise SystemExit(
                f"alliance: --column {item!r}: {canon!r} is not a canonical column "
                f"({', '.join(CANONICAL_COLUMNS)})"
            )
        mapping[canon] = theirs
    return mapping


def add_column_option(parser: argparse.ArgumentParser) -> None:
    """The ``--column canonical=yours`` option of commands reading session data."""
    parser.add_argument(
        "--column", action="append", metavar="CANONICAL=YOURS", default=[],
        help="map one of your column names onto a canonical one (repeatable), "
             "e.g. --column alliance_patient=wai_p",
    )


def _validate(args) -> int:
    from alliance.design import validation_summary
    from alliance.io import read_sessions

    data = read_sessions(args.file, columns=parse_columns(args.column))
    summary = validation_summary(data)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{args.file}: valid")
        for key, value in summary.items():
            print(f"  {key}: {value}")
    return 0


def _simulate(args) -> int:
    from alliance.datasets import write_sessions
    from alliance.simulate import simulate

    data = simulate(seed=args.seed)
    write_sessions(data, args.out)
    print(f"wrote {len(data)} synthetic rows (seed {args.seed}) to {args.out}")
    return 0


def _fit(args) -> int:
    module = importlib.import_module(FIT_COMMANDS[args.kind])
    result = module.cli_run(args)
    print(result.to_json(indent=2) if args.json else result.summary())
    return 0


def _report(args) -> int:
    from alliance.report import cli_run

    return cli_run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alliance",
        description="Validate and analyse session-by-session alliance data.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check a data file against the data model")
    p.add_argument("file")
    add_column_option(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_validate)

    p = sub.add_parser("simulate", help="write a synthetic trial (the book's generative model)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True, help="CSV file to write")
    p.set_defaults(func=_simulate)

    fit = sub.add_parser("fit", help="fit one of the book's models to a data file")
    kinds = fit.add_subparsers(dest="kind", required=True)
    for kind, modname in FIT_COMMANDS.items():
        try:
            module = importlib.import_module(modname)
        except ModuleNotFoundError:
            continue
        if not hasattr(module, "cli_arguments"):
            continue
        kp = kinds.add_parser(kind, help=(module.__doc__ or "").strip().splitlines()[0])
        kp.add_argument("file")
        module.cli_arguments(kp)
        kp.add_argument("--json", action="store_true",
                        help="print one JSON object instead of tables")
        kp.set_defaults(func=_fit)

    try:
        importlib.import_module("alliance.report")
    except ModuleNotFoundError:
        pass
    else:
        p = sub.add_parser("report", help="run every analysis of the book on a file")
        p.add_argument("file")
        p.add_argument("--out", required=True, help="output folder")
        add_column_option(p)
        p.set_defaults(func=_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except DataError as exc:
        print(f"alliance: invalid data: {exc}", file=sys.stderr)
        return 1
    except FitError as exc:
        print(f"alliance: fit failed: {exc}", file=sys.stderr)
        return 3
    except BrokenPipeError:  # output piped into e.g. `head`, which closed early
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
