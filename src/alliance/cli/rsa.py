"""``alliance fit rsa``: the command-line front end of :func:`alliance.rsa.fit_rsa`."""

from __future__ import annotations

import argparse

from alliance.cli.common import add_df_option, add_input_options, check_df_method
from alliance.data.validate import read_table
from alliance.rsa.fit import RSAResult, fit_rsa

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``alliance fit rsa`` (FILE and --json are added by :mod:`alliance.cli`)."""
    parser.description = (
        "Response surface analysis of an outcome on two commensurable predictors X and Y: "
        "single level (OLS) or multilevel (--group), optionally lagged (--time/--lag) and "
        "moderated (--moderator). Works on any long CSV with its own column names."
    )
    add_input_options(parser, columns=False)
    parser.add_argument("--outcome", required=True, help="outcome column (z)")
    parser.add_argument("--x", required=True, help="first predictor column (X)")
    parser.add_argument("--y", help="second predictor column (Y), same scale as X")
    parser.add_argument("--y-as-group-mean", action="store_true",
                        help="Y = mean of X within the (innermost) --group instead of a column")
    parser.add_argument("--group", action="append", default=[], metavar="C",
                        help="grouping column for a random intercept (repeatable, outermost first); "
                             "omit for a single-level OLS fit")
    parser.add_argument("--time", help="time column (with --lag)")
    parser.add_argument("--lag", type=int, help="take X and Y this many sessions earlier (same unit "
                                                "of the innermost --group; never across gaps)")
    parser.add_argument("--lag-within", metavar="C",
                        help="unit lags stay within (default: the innermost --group); lets a "
                             "single-level fit be lagged")
    parser.add_argument("--prior-outcome", action="store_true",
                        help="with --lag: control for the outcome --lag sessions earlier")
    parser.add_argument("--moderator", help="binary or numeric moderator column")
    parser.add_argument("--moderator-levels", nargs=2, metavar=("REF", "FOCAL"),
                        help="the two levels of a binary moderator (reference first)")
    parser.add_argument("--at", type=float, action="append",
                        help="numeric moderator: value to pick surfaces at (repeatable; default "
                             "mean - SD, mean, mean + SD)")
    parser.add_argument("--covariate", action="append", default=[], metavar="C",
                        help="numeric control variable (repeatable)")
    parser.add_argument("--center", default="pooled",
                        help="common centre of X and Y: pooled (mean of both, default), none, "
                             "variablewise (warns) or a number such as the scale midpoint")
    parser.add_argument("--se", choices=["classical", "hc0", "ml"],
                        help="single level: standard errors (default hc0, the RSA package's default)")
    parser.add_argument("--random", choices=["intercept", "full"], default="intercept",
                        help="random intercept only, or also random slopes of the five terms")
    parser.add_argument("--level2-means", action="store_true",
                        help="add the group means of the five terms at level 2 (Nestler et al. 2019)")
    parser.add_argument("--method", choices=["ml", "reml", "ML", "REML"], default="ml",
                        help="multilevel criterion (default ml)")
    add_df_option(parser)


def run(args) -> RSAResult:
    """Read FILE with :func:`alliance.read_table` (its own column names) and fit."""
    check_df_method(args.df, args.method)
    numeric = [args.outcome, args.x] + ([args.y] if args.y else []) + list(args.covariate)
    numeric += [args.time] if args.time else []
    required = list(args.group) + ([args.moderator] if args.moderator else [])
    required += [args.lag_within] if args.lag_within else []
    data = read_table(args.file, numeric=numeric, required=required, sep=args.sep,
                      decimal=args.decimal)
    return fit_rsa(
        data,
        args.outcome,
        args.x,
        args.y,
        group=list(args.group) or None,
        time=args.time,
        lag=args.lag,
        lag_within=args.lag_within,
        prior_outcome=args.prior_outcome,
        moderator=args.moderator,
        moderator_levels=args.moderator_levels,
        at=args.at,
        covariates=args.covariate,
        center=args.center,
        se=args.se,
        random=args.random,
        level2_means=args.level2_means,
        y_as_group_mean=args.y_as_group_mean,
        method=args.method.upper(),
        df=args.df if args.group else None,
    )
