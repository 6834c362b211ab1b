"""``alliance fit growth``: linear growth of the alliance by arm."""

from __future__ import annotations

from alliance.cli.common import add_df_option, add_input_options, check_df_method, parse_columns
from alliance.data.validate import read_sessions
from alliance.growth import RESIDUALS, THERAPIST_EFFECTS, GrowthResult, fit_growth

__all__ = ["add_arguments", "run"]


def add_arguments(parser) -> None:
    """Options of ``alliance fit growth`` (FILE and --json are added by the CLI)."""
    parser.add_argument(
        "--rater",
        choices=("patient", "therapist", "both"),
        default="therapist",
        help="which alliance rating to model (both: stacked model); default therapist",
    )
    parser.add_argument(
        "--method",
        type=str.lower,
        choices=("reml", "ml"),
        default="reml",
        help="REML (default) or ML",
    )
    parser.add_argument(
        "--therapist-effects",
        choices=THERAPIST_EFFECTS,
        default="intercept",
        help="random effects at the therapist level (default intercept; intercept+slope lets "
             "growth vary by therapist, so the arm difference in growth is tested against it)",
    )
    parser.add_argument(
        "--residual",
        choices=RESIDUALS,
        default="rater",
        help="stacked model (--rater both): a residual variance per rater (default) or one "
             "shared by both",
    )
    add_df_option(parser)
    add_input_options(parser)


def run(args) -> GrowthResult:
    """Read FILE with the column mapping and fit the growth model."""
    check_df_method(args.df, args.method)
    data = read_sessions(args.file, parse_columns(args.column), sep=args.sep, decimal=args.decimal,
                         ids=args.ids)
    return fit_growth(
        data, args.rater, method=args.method.upper(), therapist_effects=args.therapist_effects,
        df=args.df, residual=args.residual,
    )
