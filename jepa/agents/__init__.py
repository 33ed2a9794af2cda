"""Agents that act in envs (MPC in a world model's latent space, learned policies) and the runner that evaluates
any of them."""

from evals.intervals import mean_interval, wilson_interval
from jepa.agents.mpc import MPCAgent
from jepa.agents.policy import PolicyAgent
from jepa.agents.protocol import Agent, RecordsEpisodes
from jepa.agents.runner import run_episodes

__all__ = ["Agent", "MPCAgent", "PolicyAgent", "RecordsEpisodes", "mean_interval", "run_episodes", "wilson_interval"]
