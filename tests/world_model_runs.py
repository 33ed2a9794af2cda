"""Tiny world-model settings and episode helpers shared by the world-model and goal-task test modules (their
fixture is in conftest.py)."""

import gymnasium as gym
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


def unwrap_to(env: gym.Env, wrapper: type) -> gym.Env:
    """The first wrapper of type ``wrapper`` in ``env``'s stack."""
    while not isinstance(env, wrapper):
        env = env.env
    return env


def run_episode(env: gym.Env, agent, seed: int) -> dict:
    """One seeded episode of ``agent`` (``reset(seed)``, ``act(obs, info)``): its last info and ``steps``."""
    obs, info = env.reset(seed=seed)
    agent.reset(seed)
    done, steps = False, 0
    while not done:
        obs, _, terminated, truncated, info = env.step(agent.act(obs, info))
        done, steps = terminated or truncated, steps + 1
    return {**info, "steps": steps}
