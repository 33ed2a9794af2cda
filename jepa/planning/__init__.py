"""Planning in a world model's latent space: CEM and MPPI behind one ``plan`` interface, and an MPC loop."""

from jepa.planning.base import METRICS, REDUCTIONS, Planner, RolloutFn, SamplingPlanner, goal_energy
from jepa.planning.cem import CEM
from jepa.planning.mpc import MPC
from jepa.planning.mppi import MPPI

PLANNERS = {"cem": CEM, "mppi": MPPI}

__all__ = [
    "CEM",
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
