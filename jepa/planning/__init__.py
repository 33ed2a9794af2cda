"""Planning in a world model's latent space: CEM and MPPI behind one ``plan`` interface, an MPC loop, and
subgoals along shortest paths through recorded latents."""

from jepa.planning.base import METRICS, REDUCTIONS, Planner, RolloutFn, SamplingPlanner, goal_energy
from jepa.planning.cem import CEM
from jepa.planning.mpc import MPC
from jepa.planning.mppi import MPPI
from jepa.planning.subgoals import LatentGraph

PLANNERS = {"cem": CEM, "mppi": MPPI}

__all__ = [
    "CEM",
    "LatentGraph",
    "METRICS",
    "MPC",
    "MPPI",
    "PLANNERS",
    "REDUCTIONS",
    "Planner",
    "RolloutFn",
    "SamplingPlanner",
    "goal_energy",
]
