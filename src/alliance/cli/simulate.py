"""``alliance simulate --scenario NAME --seed N --out FILE``: write one synthetic trial."""

from __future__ import annotations

__all__ = ["add_arguments", "run"]


def add_arguments(parser) -> None:
    """Options of ``alliance simulate``."""
    from alliance.synthetic.scenarios import SCENARIOS

    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True, help="CSV file to write")
    parser.add_argument("--scenario", default="default", choices=sorted(SCENARIOS),
                        help="scenario of the generative model (default: the book's model); "
                             "see alliance.synthetic.scenarios")


def run(args) -> int:
    """Draw the trial, write it in the package's fixed CSV format; exit code 0."""
    from alliance.data.example import write_sessions
    from alliance.synthetic.scenarios import scenario_params
    from alliance.synthetic.simulate import simulate

    data = simulate(scenario_params(args.scenario), seed=args.seed)
    write_sessions(data, args.out)
    print(f"wrote {len(data)} synthetic rows ({args.scenario} scenario, seed {args.seed}) "
          f"to {args.out}")
    return 0
