"""Goal-image MPC in a world model's latent space as an agent the episode runner can drive on any env.

The goal is given only as an image (``info["goal_observation"]``), encoded once per episode; every replanning
encodes the current frame, plans ``horizon`` model steps with CEM or MPPI and returns the env actions of the
``execute`` steps it commits to, which the runner executes open-loop.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np
import torch

from envs import true_state
from jepa.data.trajectories import obs_to_tensor
from jepa.methods import WorldModel
from jepa.planning import METRICS, MPC, LatentGraph, Planner, RolloutFn, SamplingPlanner, goal_energy


def model_actions(plan: torch.Tensor, frameskip: int, hold: bool) -> torch.Tensor:
    """Planned actions (..., A or frameskip * A) -> the model's per-step input (..., frameskip * A): a held
    action is repeated for each of the step's env steps."""
    return plan.repeat(*([1] * (plan.dim() - 1)), frameskip) if hold else plan


def latent_rollout(model: WorldModel, proprio: torch.Tensor | None, frameskip: int, hold: bool) -> RolloutFn:
    """Batched rollouts from one observed step; the current proprio state (1, 1, P), if any, is every candidate's."""

    def rollout(z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        actions = model_actions(actions, frameskip, hold)
        return model.rollout(z0, actions, None if proprio is None else proprio.expand(len(z0), -1, -1))

    return rollout


class MPCAgent:
    """Receding-horizon planning towards the goal image with ``planner`` in ``model``'s latent space.

    One model step spans ``frameskip`` env steps; with ``hold`` the planner chooses one env action (A,) per
    model step, held for all of them, otherwise all ``frameskip`` of them (frameskip * A,), so its action bounds
    must be the env's tiled accordingly. ``proprio``: the model also takes the true state as a proprio token,
    read as collection recorded it (:func:`envs.true_state`). ``metric`` (l1 or l2) is
    the latent distance recorded at each replanning. ``graph``: plan towards subgoals along its shortest paths
    while the goal is further than its lookahead (else straight towards the goal).
    """

    def __init__(
        self,
        model: WorldModel,
        planner: Planner,
        *,
        horizon: int,
        execute: int,
        frameskip: int,
        hold: bool,
        proprio: bool,
        metric: str,
        graph: LatentGraph | None = None,
    ):
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
        if frameskip < 1:
            raise ValueError(f"frameskip must be >= 1, got {frameskip}")
        self.model, self.planner, self.mpc = model, planner, MPC(planner, horizon, execute)
        self.frameskip, self.hold, self.proprio, self.metric = frameskip, hold, proprio, metric
        self.graph = graph
        self.device = next(model.parameters()).device
        self.reset(0)

    def reset(self, seed: int) -> None:
        """Forget the goal and the last plan; a sampling planner is reseeded so that an episode's plans depend on
        its seed alone, not on the episodes run before it."""
        self.mpc.reset()
        if isinstance(self.planner, SamplingPlanner):
            self.planner.generator.manual_seed(seed)
        self.z_goal: torch.Tensor | None = None
        self.latent_distance: list[float] = []
        self.subgoals, self.subgoal_seconds = 0, []

    def _encode(self, frame: np.ndarray) -> torch.Tensor:
        """One uint8 frame (H, W, 3) -> its latent (1, N, D)."""
        return self.model.encode(obs_to_tensor(frame[None]).to(self.device))

    @torch.no_grad()
    def act(self, observation: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        """Replan from ``observation`` -> the env actions (execute * frameskip, A) of the committed model steps."""
        if self.z_goal is None:
            if "goal_observation" not in info:
                raise KeyError("MPCAgent needs info['goal_observation']; run_episodes adds it for envs that have one")
            self.z_goal = self._encode(info["goal_observation"])[0]
            if self.graph is not None:
                self.graph.set_goal(self.z_goal)
        z = self._encode(observation)
        start = time.perf_counter()
        target = None if self.graph is None else self.graph.subgoal(z[0])
        self.subgoal_seconds.append(time.perf_counter() - start)
        self.subgoals += target is not None
        target = self.z_goal if target is None else target
        proprio = None
        if self.proprio:
            proprio = torch.as_tensor(true_state(info), device=self.device).view(1, 1, -1)
        self.latent_distance.append(goal_energy(z[None], self.z_goal, self.metric).item())
        rollout = latent_rollout(self.model, proprio, self.frameskip, self.hold)
        plan = torch.stack([self.mpc.act(rollout, z, target) for _ in range(self.mpc.execute)])
        env_actions = model_actions(plan, self.frameskip, self.hold).reshape(self.mpc.execute * self.frameskip, -1)
        return env_actions.cpu().numpy()

    def episode_record(self) -> dict[str, Any]:
        """``plan_seconds``: mean seconds per replanning, the subgoal's lookup included; ``latent_distance``: to
        the goal at each replanning; ``subgoal_replannings``: how many aimed at a subgoal."""
        return {
            "plan_seconds": statistics.mean(self.mpc.plan_seconds) + statistics.mean(self.subgoal_seconds),
            "latent_distance": self.latent_distance,
            "subgoal_replannings": self.subgoals,
        }
