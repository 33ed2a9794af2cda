"""Agents that act in envs (MPC in a world model's latent space) and the runner that evaluates any of them."""

from jepa.agents.mpc import MPCAgent
from jepa.agents.protocol import Agent, RecordsEpisodes
from jepa.agents.runner import mean_interval, run_episodes, wilson_interval

__all__ = ["Agent", "MPCAgent", "RecordsEpisodes", "mean_interval", "run_episodes", "wilson_interval"]
