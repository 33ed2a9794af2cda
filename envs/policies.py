"""Data-collection policies for vectorised envs: ``policy(infos) -> actions (num_envs, A)``.

A world model only learns the dynamics its data covers. Uniform random actions barely leave the start
room of Two-Rooms, so it also has a scripted explorer that walks through the door to random waypoints.
Demonstrations for policy learning come from the env's scripted expert; :class:`NoisyActions` perturbs any
policy's actions so that the data also holds the mistakes (and failed episodes) a learned policy must recover
from.
"""

from __future__ import annotations

from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from envs.experts import make_expert
from envs.two_rooms import TwoRoomsEnv, via_door

POLICIES = ("random", "waypoint", "expert")


class Policy(Protocol):
    def __call__(self, infos: dict[str, Any]) -> np.ndarray:
        """Actions ``(num_envs, A)`` given the vector env's latest ``infos``."""
        ...


class RandomPolicy:
    """Uniform samples of the (bounded) action space, from its own seeded generator."""

    def __init__(self, action_space: gym.spaces.Box, num_envs: int, seed: int):
        self.low, self.high, self.num_envs = action_space.low, action_space.high, num_envs
        self.rng = np.random.default_rng(seed)

    def __call__(self, infos: dict[str, Any]) -> np.ndarray:
        shape = (self.num_envs, *self.low.shape)
        return self.rng.uniform(self.low, self.high, size=shape).astype(np.float32)


class WaypointPolicy:
    """Two-Rooms explorer: head for a random free waypoint, via the door when it lies in the other room.

    Each env keeps its waypoint until the agent is within one step of it or ``patience`` steps have passed.
    A ``direct`` fraction of the waypoints is approached in a straight line whatever is in the way, so the
    agent also presses against the wall and slides along it: what a planner's candidate plans do, and what
    a world model must predict to rank them. Gaussian noise (``noise`` per action component, actions being
    directions of norm <= 1) varies the paths.
    """

    def __init__(
        self, env: TwoRoomsEnv, num_envs: int, seed: int, noise: float = 0.3, direct: float = 0.3, patience: int = 40
    ):
        self.env, self.noise, self.direct, self.patience = env, noise, direct, patience
        self.rng = np.random.default_rng(seed)
        self.waypoints = np.array([self._sample_waypoint() for _ in range(num_envs)])
        self.straight = self.rng.random(num_envs) < direct
        self.age = np.zeros(num_envs, dtype=int)

    def _sample_waypoint(self) -> tuple[float, float]:
        while True:
            p = tuple(float(v) for v in self.rng.uniform(0.0, 1.0, size=2))
            if self.env.is_free(p):
                return p

    def __call__(self, infos: dict[str, Any]) -> np.ndarray:
        positions = np.asarray(infos["pos"], dtype=np.float64)
        actions = np.empty((len(positions), 2), dtype=np.float32)
        for i, pos in enumerate(positions):
            self.age[i] += 1
            if np.linalg.norm(self.waypoints[i] - pos) < self.env.max_step or self.age[i] > self.patience:
                self.waypoints[i] = self._sample_waypoint()
                self.straight[i], self.age[i] = self.rng.random() < self.direct, 0
            target = self.waypoints[i] if self.straight[i] else via_door(self.env, pos, self.waypoints[i])
            delta = target - pos
            direction = delta / max(np.linalg.norm(delta), self.env.max_step)  # slows down on arrival
            actions[i] = np.clip(direction + self.noise * self.rng.standard_normal(2), -1.0, 1.0)
        return actions


class ExpertPolicy:
    """Each env copy driven by its scripted expert (:func:`envs.experts.make_expert`), which reads the true state
    from the env's info (experts ignore the frame)."""

    def __init__(self, envs: list[gym.Env]):
        self.experts = [make_expert(env) for env in envs]

    def __call__(self, infos: dict[str, Any]) -> np.ndarray:
        per_env = [{k: v[i] for k, v in infos.items() if not k.startswith("_")} for i in range(len(self.experts))]
        return np.stack([expert.act(None, info) for expert, info in zip(self.experts, per_env)]).astype(np.float32)


class NoisyActions:
    """``policy``'s actions plus Gaussian noise of ``std`` half-ranges of the Box action space, clipped into it.

    Demonstrations without mistakes teach a cloned policy nothing about recovering from its own: with noise the
    expert drifts, corrects itself, and sometimes fails, and all of it is recorded."""

    def __init__(self, policy: Policy, action_space: gym.spaces.Box, std: float, seed: int):
        if std < 0:
            raise ValueError(f"action noise std must be >= 0, got {std}")
        self.policy, self.std = policy, std
        self.low, self.high = action_space.low, action_space.high
        self.rng = np.random.default_rng((seed, 1))

    def __call__(self, infos: dict[str, Any]) -> np.ndarray:
        actions = self.policy(infos)
        noise = self.std * (self.high - self.low) / 2 * self.rng.standard_normal(actions.shape)
        return np.clip(actions + noise, self.low, self.high).astype(np.float32)


def make_policy(name: str, envs: list[gym.Env], seed: int, noise: float = 0.0) -> Policy:
    """The collection policy ``name`` for the env copies ``envs``: ``random`` for any env with a Box action
    space, ``waypoint`` for Two-Rooms, ``expert`` for envs with a scripted expert; ``noise`` > 0 adds
    :class:`NoisyActions`."""
    env = envs[0]
    if name == "random":
        policy: Policy = RandomPolicy(env.action_space, len(envs), seed)
    elif name == "waypoint":
        if not isinstance(env.unwrapped, TwoRoomsEnv):
            raise ValueError(f"policy 'waypoint' drives Two-Rooms only, not {env.spec.id if env.spec else env}")
        policy = WaypointPolicy(env.unwrapped, len(envs), seed)
    elif name == "expert":
        policy = ExpertPolicy(envs)
    else:
        raise ValueError(f"unknown policy {name!r}; choose from {POLICIES}")
    return NoisyActions(policy, env.action_space, noise, seed) if noise else policy
