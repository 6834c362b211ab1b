"""``alliance fit truth-bias``: how closely one rater's judgments follow the other's."""

from __future__ import annotations

import argparse

from alliance.cli.common import (
    UsageError,
    add_df_option,
    add_input_options,
    check_df_method,
    parse_columns,
)
from alliance.data.validate import read_sessions, read_table
from alliance.truth_bias import (
    THERAPIST_EFFECTS,
    TruthBiasResult,
    fit_truth_bias,
    fit_truth_bias_cross,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``alliance fit truth-bias FILE``."""
    add_input_options(parser)
    parser.add_argument("--perspective", choices=["therapist", "patient"], default="therapist",
                        help="who judges: the therapist (truth = patient rating, default) or the "
                             "patient (truth = therapist rating)")
    parser.add_argument("--bias", default=None,
                        help="bias variable: 'anchoring' (the judge's own rating in the previous "
                             "session) or a column name on the truth's scale")
    parser.add_argument("--therapist-effects", choices=list(THERAPIST_EFFECTS), default="intercept",
                        help="random intercept per therapist (default), none, or an intercept and "
                             "a tracking slope per therapist (intercept+slope)")
    parser.add_argument("--no-moderator", action="store_true",
                        help="one set of forces instead of forces per arm")
    parser.add_argument("--method", choices=["REML", "ML"], default="REML")
    parser.add_argument("--conf-level", type=float, default=0.95)
    add_df_option(parser)
    parser.add_argument("--moderator-at", type=float, action="append", metavar="G",
                        help="numeric moderator: value to report the forces at (repeatable; "
                             "default mean - SD, mean, mean + SD)")
    g = parser.add_argument_group(
        "cross-sectional form (any file: one judgment per row, a dyad/group id)",
        "give --judgment, --truth and --group to fit the cross-sectional model on any CSV")
    g.add_argument("--judgment", help="column of the judgment")
    g.add_argument("--truth", help="column of the truth")
    g.add_argument("--group", help="dyad or group id column (random intercept)")
    g.add_argument("--moderator", help="column moderating every force (cross-sectional form); "
                                       "a numeric column with more than two values moderates "
                                       "linearly")
    g.add_argument("--residual-by", metavar="C",
                   help="column whose levels get their own residual variance (distinguishable "
                        "dyads, e.g. the judge's gender)")


def run(args) -> TruthBiasResult:
    """Run the fit requested on the command line (see :func:`add_arguments`)."""
    check_df_method(args.df, args.method)
    generic = any(getattr(args, k, None) for k in ("judgment", "truth", "group"))
    if args.residual_by and not generic:
        raise UsageError("--residual-by applies to the cross-sectional form (--judgment/--truth/--group)")
    if generic:
        if not (args.judgment and args.truth and args.group):
            raise UsageError("the cross-sectional form needs --judgment, --truth and --group")
        if args.bias == "anchoring":
            raise UsageError("--bias anchoring needs session data (drop --judgment/--truth)")
        numeric = [args.judgment, args.truth] + ([args.bias] if args.bias else [])
        # the group (an id) by the one id rule; a moderator may be numeric: read as it is
        required = [args.group] + ([args.residual_by] if args.residual_by else [])
        data = read_table(args.file, numeric=numeric, required=required, sep=args.sep,
                          decimal=args.decimal, ids=args.ids)
        return fit_truth_bias_cross(data, judgment=args.judgment, truth=args.truth, bias=args.bias,
                                    group=args.group, moderator=args.moderator,
                                    method=args.method, conf_level=args.conf_level, df=args.df,
                                    residual_by=args.residual_by, moderator_at=args.moderator_at)
    data = read_sessions(args.file, parse_columns(args.column), sep=args.sep, decimal=args.decimal,
                         ids=args.ids)
    judgment, truth = ("alliance_therapist", "alliance_patient")
    if args.perspective == "patient":
        judgment, truth = truth, judgment
    return fit_truth_bias(data, judgment=judgment, truth=truth, bias=args.bias,
                          moderator=None if args.no_moderator else "condition",
                          therapist_effects=args.therapist_effects, method=args.method,
                          conf_level=args.conf_level, df=args.df)
