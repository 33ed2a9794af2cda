"""Data-collection policies for vectorised envs: ``policy(infos) -> actions (num_envs, A)``.

A world model only learns the dynamics its data covers. Uniform random actions barely leave the start
room of Two-Rooms, so it also has a scripted explorer that walks through the door to random waypoints.
"""

from __future__ import annotations

from typing import Any, Protocol

import gymnasium as gym
import numpy as np

from envs.two_rooms import TwoRoomsEnv

POLICIES = ("random", "waypoint")


class Policy(Protocol):
    def __call__(self, infos: dict[str, Any]) -> np.ndarray:
        """Actions ``(num_envs, A)`` given the vector env's latest ``infos``."""
        ...


def via_door(env: TwoRoomsEnv, pos: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Where to head next from ``pos`` (2,) for ``target`` (2,): the target itself in the same room, else the door.

    The straight line to the other room is mostly blocked by the wall, so the agent first lines up with the door
    a little beyond the wall's reach on its own side, then crosses on the door's centre line to as far beyond it
    on the other side, where it is in the target's room.
    """
    here, there = env.room(pos), env.room(target)
    if here == there:
        return target
    offset = env.WALL_HALF_WIDTH + env.agent_radius + env.max_step
    side = 1.0 if there == 1 else -1.0
    in_doorway = abs(pos[0] - env.WALL_X) <= offset + 1e-9 and env.door[0] < pos[1] < env.door[1]
    x = env.WALL_X + (side if in_doorway else -side) * offset
    return np.array([x, env.DOOR_Y])


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


def make_policy(name: str, env: gym.Env, num_envs: int, seed: int) -> Policy:
    """``random`` for any env with a Box action space; ``waypoint`` for Two-Rooms."""
    if name == "random":
        return RandomPolicy(env.action_space, num_envs, seed)
    if name == "waypoint":
        if not isinstance(env.unwrapped, TwoRoomsEnv):
            raise ValueError(f"policy 'waypoint' drives Two-Rooms only, not {env.spec.id if env.spec else env}")
        return WaypointPolicy(env.unwrapped, num_envs, seed)
    raise ValueError(f"unknown policy {name!r}; choose from {POLICIES}")
