"""``alliance simulate --scenario NAME --seed N --out FILE``: write one synthetic trial.

The file is written whole or not at all (:func:`alliance.outputs.atomic_file`); an existing
``--out`` is refused unless ``--force``.
"""

from __future__ import annotations

from alliance.cli.common import nonnegative_int
from alliance.data.example import write_sessions
from alliance.outputs import atomic_file
from alliance.synthetic.scenarios import SCENARIOS, scenario_params
from alliance.synthetic.simulate import simulate

__all__ = ["add_arguments", "run"]


def add_arguments(parser) -> None:
    """Options of ``alliance simulate``."""
    parser.add_argument("--seed", type=nonnegative_int, required=True)
    parser.add_argument("--out", required=True, help="CSV file to write (written whole or not at all)")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument("--scenario", default="default", choices=sorted(SCENARIOS),
                        help="scenario of the generative model (default: the book's model); "
                             "see alliance.synthetic.scenarios")


def run(args) -> int:
    """Draw the trial, write it in the package's fixed CSV format; exit code 0."""
    with atomic_file(args.out, force=args.force, option="--out") as tmp:
        data = simulate(scenario_params(args.scenario), seed=args.seed)
        write_sessions(data, tmp)
    print(f"wrote {len(data)} synthetic rows ({args.scenario} scenario, seed {args.seed}) "
          f"to {args.out}")
    return 0
