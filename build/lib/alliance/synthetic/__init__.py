"""The synthetic trial: the documented generative model, its parameters and what it implies."""

from __future__ import annotations

from alliance.synthetic.params import EXAMPLE_SEED, SimulationParams, describe_parameters
from alliance.synthetic.simulate import simulate

__all__ = ["EXAMPLE_SEED", "SimulationParams", "describe_parameters", "simulate"]
