"""``alliance fit rsa``: the command-line front end of :func:`alliance.rsa.fit_rsa`."""

from __future__ import annotations

import argparse

from alliance.cli.common import UsageError, add_df_option, add_input_options, check_df_method
from alliance.data.validate import read_table
from alliance.options import MAX_DRAWS, check_count, check_jobs, check_seed
from alliance.results import Result
from alliance.rsa.bootstrap import bootstrap_rsa
from alliance.rsa.fit import fit_rsa
from alliance.rsa.models import MODELS

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``alliance fit rsa`` (FILE and --json are added by :mod:`alliance.cli`)."""
    parser.description = (
        "Response surface analysis of an outcome on two commensurable predictors X and Y: "
        "single level (OLS) or multilevel (--group), optionally lagged (--time/--lag) and "
        "moderated (--moderator). Works on any long CSV with its own column names. The model "
        "family of the R package RSA (--compare, --model, --cubic), the automatic congruence "
        "verdict (--verdict) and percentile bootstrap CIs (--bootstrap N)."
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
    parser.add_argument("--se", choices=["classical", "hc0", "hc1", "hc3", "ml"],
                        help="single level: standard errors (default hc0, the RSA package's default)")
    parser.add_argument("--model", metavar="NAME",
                        help="model of the surface tables: full (default), or a constrained model of "
                             "the family (" + ", ".join(MODELS) + ")")
    parser.add_argument("--compare", action="store_true",
                        help="fit and compare the model family (AICc weights, LR tests -- scaled "
                             "as lavaan's MLR when the SEs are robust -- every model's "
                             "estimates); with --cubic also the cubic models")
    parser.add_argument("--family", metavar="SPEC",
                        help="models to compare: default, cubic, all (also diff, mean and the "
                             "piecewise absdiff, absunc), or names separated by commas")
    parser.add_argument("--cubic", action="store_true",
                        help="third-order surface (X^3, X^2Y, XY^2, Y^3; Humberg et al. 2022)")
    parser.add_argument("--verdict", action="store_true",
                        help="print only the congruence verdict per surface and its conditions")
    parser.add_argument("--outliers", choices=["bj1980"],
                        help="single level: drop Bollen & Jackman (1980) outliers, as the RSA "
                             "package does by default (reported)")
    parser.add_argument("--bootstrap", type=int, metavar="N",
                        help="add percentile bootstrap CIs from N draws (cases; units of the "
                             "outermost --group for multilevel fits)")
    parser.add_argument("--seed", type=int, default=1,
                        help="seed of the bootstrap, a whole number >= 0 (default 1)")
    parser.add_argument("--jobs", type=int, default=1, help="bootstrap worker processes")
    parser.add_argument("--random", choices=["intercept", "full"], default="intercept",
                        help="random intercept only, or also random slopes of the five terms")
    parser.add_argument("--level2-means", action="store_true",
                        help="add the group means of the five terms at level 2 (Nestler et al. 2019)")
    parser.add_argument("--method", choices=["ml", "reml", "ML", "REML"], default="ml",
                        help="multilevel criterion (default ml)")
    add_df_option(parser)


def run(args) -> Result:
    """Read FILE with :func:`alliance.read_table` (its own column names) and fit.

    ``--bootstrap N`` adds the table ``bootstrap`` (:func:`alliance.rsa.bootstrap_rsa`);
    ``--verdict`` returns only the tables ``verdict`` and ``verdict_conditions``.
    """
    check_df_method(args.df, args.method)
    if args.bootstrap is not None:
        check_count(args.bootstrap, "bootstrap", low=2, high=MAX_DRAWS)
    check_seed(args.seed)
    check_jobs(args.jobs)
    numeric = [args.outcome, args.x] + ([args.y] if args.y else []) + list(args.covariate)
    numeric += [args.time] if args.time else []
    # ids (groups, the lag unit) by the one id rule; a moderator may be numeric: read as it is
    required = list(args.group) + ([args.lag_within] if args.lag_within else [])
    data = read_table(args.file, numeric=numeric, required=required, sep=args.sep,
                      decimal=args.decimal, ids=args.ids)
    family = args.family or (("cubic" if args.cubic else "default") if args.compare else "auto")
    try:
        res = fit_rsa(
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
        model=args.model,
        family=family,
        cubic=args.cubic,
        outliers=args.outliers,
        df=args.df,
        )
        if args.bootstrap is not None:
            boot = bootstrap_rsa(res, args.bootstrap, seed=args.seed, jobs=args.jobs)
            res.tables["bootstrap"] = boot.tables["bootstrap"]
            res.warnings += boot.warnings
            res.info["bootstrap"] = boot.info
    except ValueError as exc:  # options that do not fit together
        raise UsageError(str(exc)) from None
    if args.verdict:
        keep = {"verdict": res.tables["verdict"], "verdict_conditions": res.tables["verdict_conditions"]}
        return Result(title=f"Congruence verdict: {res.title}", tables=keep, n_obs=res.n_obs,
                      n_groups=res.n_groups, converged=res.converged, warnings=res.warnings,
                      info={k: res.info[k] for k in ("model", "family", "rows_used", "center_x")})
    return res
