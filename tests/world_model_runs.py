"""Tiny world-model settings shared by the world-model test modules (their fixture is in conftest.py)."""

from tiny_runs import TINY_ENGINE

TINY_WORLD_MODEL = [
    "experiment=wm_two_rooms",
    *TINY_ENGINE,
    "method.frameskip=2",
    "method.window=3",
    "method.rollout_steps=2",
    "method.latent_dim=8",
    "method.predictor_dim=16",
    "method.predictor_depth=1",
    "method.predictor_heads=2",
    "method.probe_frames=50",
]

TINY_PLAN = ["episodes=1", "planner.samples=8", "planner.elites=2", "planner.iterations=1", "planner.horizon=2"]
