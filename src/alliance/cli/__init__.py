"""The ``alliance`` command line: thin adapters over the package's functions.

Conventions every subcommand follows:

* human-readable tables on stdout by default;
* with ``--json``: exactly one JSON object on stdout, whose tables are lists of
  records with at least ``term``, ``estimate``, ``se``, ``statistic``, ``p``,
  ``ci_low``, ``ci_high`` (plus ``level`` where a moderator splits the
  estimates), and ``n_obs``, ``n_groups``, ``converged``, ``warnings`` at the
  top level;
* exit codes: 0 success, 1 invalid data (the validation message on stderr),
  2 usage error, 3 a fit that cannot be trusted.

This is the only module that uses :mod:`argparse`. A command's module is
imported only when that command runs (``alliance validate`` never loads the
model code), so every command starts quickly. A new ``alliance fit KIND`` is one
adapter module in this package, defining ``add_arguments(parser)`` and
``run(args) -> Result``, and one line in :data:`FIT_COMMANDS`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

from alliance.cli.common import UsageError, add_input_options, parse_columns
from alliance.data.summary import validation_summary
from alliance.data.validate import read_sessions
from alliance.errors import DataError, FitError

__all__ = ["COMMANDS", "FIT_COMMANDS", "build_parser", "main"]

#: ``alliance NAME`` -> (adapter module with ``add_arguments`` and ``run(args) -> int``, help).
COMMANDS = {
    "simulate": ("alliance.cli.simulate",
                 "write a synthetic trial (the book's generative model or a named scenario)"),
    "power": ("alliance.cli.power",
              "power of the primary tests for a planned trial (simulation; local or Dask)"),
}

#: ``alliance fit KIND`` -> (adapter module, one-line help).
FIT_COMMANDS = {
    "growth": ("alliance.cli.growth", "linear growth of the alliance by arm"),
    "truth-bias": ("alliance.cli.truth_bias",
                   "truth and bias: how closely one rater's judgments follow the other's"),
    "rsa": ("alliance.cli.rsa", "response surface analysis of an outcome on two predictors"),
    "lagged": ("alliance.cli.lagged",
               "lagged outcomes: last session's alliance and this session's well-being"),
}


def _validate(args) -> int:
    data = read_sessions(args.file, parse_columns(args.column), sep=args.sep, decimal=args.decimal)
    summary = validation_summary(data)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{args.file}: valid")
        for key, value in summary.items():
            print(f"  {key}: {value}")
    return 0


def _command(args) -> int:
    return importlib.import_module(args.module).run(args)


def _fit(args) -> int:
    module = importlib.import_module(FIT_COMMANDS[args.kind][0])
    result = module.run(args)
    print(result.to_json(indent=2) if args.json else result.summary())
    return 0


def _report(args) -> int:
    return importlib.import_module("alliance.cli.report").run(args)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the ``fit`` kind named in ``argv`` loads its adapter (and its options)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(
        prog="alliance",
        description="Validate and analyse session-by-session alliance data.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check a data file against the data model")
    p.add_argument("file")
    add_input_options(p)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_validate)

    for name, (modname, helptext) in COMMANDS.items():
        p = sub.add_parser(name, help=helptext, description=helptext)
        if argv[:1] == [name]:  # only the command that runs loads its adapter
            importlib.import_module(modname).add_arguments(p)
        p.set_defaults(func=_command, module=modname)

    fit = sub.add_parser("fit", help="fit one of the book's models to a data file")
    kinds = fit.add_subparsers(dest="kind", required=True)
    wanted = argv[argv.index("fit") + 1] if "fit" in argv[:-1] else None
    for kind, (modname, helptext) in FIT_COMMANDS.items():
        kp = kinds.add_parser(kind, help=helptext, description=helptext)
        kp.add_argument("file")
        if kind == wanted:
            importlib.import_module(modname).add_arguments(kp)
        kp.add_argument("--json", action="store_true",
                        help="print one JSON object instead of tables")
        kp.set_defaults(func=_fit)

    p = sub.add_parser("report", help="run every analysis of the book on a file")
    p.add_argument("file")
    p.add_argument("--out", required=True, help="output folder")
    add_input_options(p)
    p.set_defaults(func=_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"alliance: error: {exc}", file=sys.stderr)
        return 2
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
