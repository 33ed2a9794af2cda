"""A learned chunked policy (ACT-JEPA, ACT, behaviour cloning) as an agent the episode runner can drive."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from envs import true_state
from jepa.data.trajectories import obs_to_tensor
from jepa.methods import ChunkPolicy


class PolicyAgent:
    """Each call reads the frame, the true state (as collection recorded it, :func:`envs.true_state`) and, for a
    goal-conditioned policy, ``info["goal_observation"]``, and returns the first ``execute`` actions of the
    predicted chunk (all of them with 0), which the runner executes open-loop before the next call."""

    def __init__(self, policy: ChunkPolicy, execute: int = 0):
        if not 0 <= execute <= policy.chunk:
            raise ValueError(f"execute must lie in [0, {policy.chunk}] (0 = the whole chunk), got {execute}")
        self.policy, self.execute = policy.eval(), execute or policy.chunk
        self.device = next(policy.parameters()).device

    def reset(self, seed: int) -> None:
        """Nothing to forget: the policy is deterministic and acts on the current step alone."""

    def _image(self, frame: np.ndarray) -> torch.Tensor:
        return obs_to_tensor(frame[None]).to(self.device)

    def act(self, observation: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        """The next ``execute`` actions (execute, A)."""
        goal = None
        if self.policy.goal_conditioned:
            if "goal_observation" not in info:
                raise KeyError("this policy was trained with goal images; the env gives no info['goal_observation']")
            goal = self._image(info["goal_observation"])
        proprio = torch.as_tensor(true_state(info), device=self.device).view(1, -1)
        chunk = self.policy.act(self._image(observation), proprio, goal)[0]
        return chunk[: self.execute].cpu().numpy()
