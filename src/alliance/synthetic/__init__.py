"""The synthetic trial: the documented generative model, its parameters, its scenarios."""

from __future__ import annotations

from alliance.synthetic.params import EXAMPLE_SEED, SimulationParams, describe_parameters
from alliance.synthetic.scenarios import (
                                          SCENARIOS,
                                          describe_scenarios,
                                          scale_effects,
                                          scenario_params,
)
from alliance.synthetic.simulate import simulate

__all__ = ["EXAMPLE_SEED", "SCENARIOS", "SimulationParams", "describe_parameters",
           "describe_scenarios", "scale_effects", "scenario_params", "simulate"]
