"""``alliance fit lagged``: does last session's alliance predict this session's well-being?"""

from __future__ import annotations

import argparse

from alliance.cli.common import add_df_option, add_input_options, check_df_method, parse_columns
from alliance.data.validate import read_sessions
from alliance.lagged import (
    DIRECTIONS,
    PRIOR_CENTRINGS,
    THERAPIST_EFFECTS,
    LaggedResult,
    fit_lagged,
)

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``alliance fit lagged FILE``."""
    add_input_options(parser)
    parser.add_argument("--direction", choices=list(DIRECTIONS), default=DIRECTIONS[0],
                        help="alliance at t-1 predicting well-being at t (default) or well-being "
                             "at t-1 predicting each rater's alliance at t")
    parser.add_argument("--no-prior", action="store_true",
                        help="do not control the prior (s-1) value of the model's outcome")
    parser.add_argument("--prior-centring", choices=list(PRIOR_CENTRINGS), default="person",
                        help="prior outcome centred on the patient's own mean (default; its own "
                             "coefficient is Nickell-biased in short series) or on the grand mean")
    parser.add_argument("--therapist-effects", choices=list(THERAPIST_EFFECTS), default="intercept",
                        help="random intercept per therapist (default), none, or an intercept and "
                             "the within-patient slopes of the lagged predictors (intercept+slopes)")
    parser.add_argument("--no-moderator", action="store_true",
                        help="one set of effects instead of effects per arm")
    parser.add_argument("--method", choices=["REML", "ML"], default="REML")
    parser.add_argument("--conf-level", type=float, default=0.95)
    add_df_option(parser)


def run(args) -> LaggedResult:
    """Run the fit requested on the command line (see :func:`add_arguments`)."""
    check_df_method(args.df, args.method)
    data = read_sessions(args.file, parse_columns(args.column), sep=args.sep, decimal=args.decimal,
                         ids=args.ids)
    return fit_lagged(data, direction=args.direction, control_prior=not args.no_prior,
                      prior_centring=args.prior_centring,
                      moderator=None if args.no_moderator else "condition",
                      therapist_effects=args.therapist_effects, method=args.method,
                      conf_level=args.conf_level, df=args.df)
