"""Scripted agents that solve our envs from their true state: the reference a learned planner is measured against.

They implement the agent protocol of ``jepa.agents`` structurally (``reset(seed)``, ``act(observation, info)``)
without importing it, so ``envs`` stays free of the model code. A planner that cannot beat ``RandomAgent``, or
that falls far short of the expert, tells apart a broken world model from a hard task.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from envs.push_t import Pusher
from envs.two_rooms import TwoRoomsEnv, via_door


class RandomAgent:
    """Uniform actions of a Box action space; episode ``seed`` and the agent's own ``seed`` fix the draws."""

    def __init__(self, action_space: gym.spaces.Box, seed: int = 0):
        self.action_space, self.seed = action_space, seed
        self.rng = np.random.default_rng(seed)

    def reset(self, seed: int) -> None:
        self.rng = np.random.default_rng((self.seed, seed))

    def act(self, observation: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        """One action (A,)."""
        low, high = self.action_space.low, self.action_space.high
        return self.rng.uniform(low, high).astype(self.action_space.dtype)


class TwoRoomsExpert:
    """Drive straight to ``info["goal"]`` from ``info["pos"]``, through the door when the goal is in the other
    room; steps shorten on arrival so the agent stops on the goal instead of overshooting it."""

    def __init__(self, env: gym.Env):
        if not isinstance(env.unwrapped, TwoRoomsEnv):
            raise ValueError(f"TwoRoomsExpert drives Two-Rooms only, not {env.unwrapped}")
        self.env: TwoRoomsEnv = env.unwrapped

    def reset(self, seed: int) -> None:
        """Nothing to forget: the expert acts on the current state alone."""

    def act(self, observation: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        """One action (2,): a direction of norm <= 1 (norm 1 moves ``max_step``)."""
        pos = np.asarray(info["pos"], dtype=np.float64)
        delta = via_door(self.env, pos, np.asarray(info["goal"], dtype=np.float64)) - pos
        return (delta / max(np.linalg.norm(delta), self.env.max_step)).astype(np.float32)


class PendulumExpert:
    """Swing-up and balance for Pendulum-v1 (θ = 0 upright) from ``info["state"]`` = (cos θ, sin θ, θ̇).

    With the env's constants the dynamics are θ̈ = 15 sin θ + 3 u, |u| <= 2, which conserve E = θ̇²/2 + 15 cos θ
    when u = 0 and change it at rate 3 u θ̇. The torque cannot lift the pole directly (3 · 2 < 15), so far from
    upright the expert pumps energy towards that of resting upright (E* = 15) by pushing along θ̇; within
    ``balance_angle`` of upright, where the pole arrives slowly enough, a PD law holds it there.
    """

    GRAVITY_GAIN, TORQUE_GAIN, MAX_TORQUE = 15.0, 3.0, 2.0

    def __init__(self, *, energy_gain: float = 1.0, kp: float = 10.0, kd: float = 2.0, balance_angle: float = 0.5):
        self.energy_gain, self.kp, self.kd, self.balance_angle = energy_gain, kp, kd, balance_angle

    def reset(self, seed: int) -> None:
        """Nothing to forget: the expert acts on the current state alone."""

    def act(self, observation: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        """One torque (1,) in [-2, 2]."""
        cos, sin, velocity = (float(v) for v in info["state"])
        angle = math.atan2(sin, cos)
        if abs(angle) < self.balance_angle:
            torque = -self.kp * angle - self.kd * velocity
        else:
            energy = velocity**2 / 2 + self.GRAVITY_GAIN * cos
            push = math.copysign(1.0, velocity)  # at rest at the bottom any push starts the swing
            torque = self.energy_gain * (self.GRAVITY_GAIN - energy) * push
        return np.array([np.clip(torque, -self.MAX_TORQUE, self.MAX_TORQUE)], dtype=np.float32)


def _pd(error: np.ndarray, velocity: np.ndarray, kp: float, kd: float) -> np.ndarray:
    """A PD law clipped to the [-1, 1] actions of the MuJoCo tasks (float32)."""
    return np.clip(kp * error - kd * velocity, -1.0, 1.0).astype(np.float32)


class PointMazeExpert:
    """Push the ball along the shortest path of free maze cells to the goal's cell, one cell centre at a time,
    then onto the goal, with a PD law on ``info["state"]`` = (x, y, ẋ, ẏ)."""

    def __init__(self, env: gym.Env, kp: float = 2.0, kd: float = 0.5):
        self.maze, self.kp, self.kd = env.unwrapped.maze, kp, kd

    def reset(self, seed: int) -> None:
        """Nothing to forget: the expert acts on the current state alone."""

    def _next_cell(self, start: tuple[int, int], goal: tuple[int, int]) -> tuple[int, int]:
        """The cell after ``start`` on a shortest 4-connected path of free cells to ``goal`` (breadth first)."""
        grid = self.maze.maze_map
        came_from = {goal: goal}
        frontier = [goal]
        while frontier and start not in came_from:
            row, col = frontier.pop(0)
            for cell in ((row + 1, col), (row - 1, col), (row, col + 1), (row, col - 1)):
                if cell not in came_from and grid[cell[0]][cell[1]] != 1:
                    came_from[cell] = (row, col)
                    frontier.append(cell)
        return came_from.get(start, goal)

    def act(self, observation: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        """One force (2,) in [-1, 1]."""
        state = np.asarray(info["state"], dtype=np.float64)
        position, goal = state[:2], np.asarray(info["goal"], dtype=np.float64)
        here, there = (tuple(int(v) for v in self.maze.cell_xy_to_rowcol(p)) for p in (position, goal))
        target = goal if here == there else self.maze.cell_rowcol_to_xy(np.array(self._next_cell(here, there)))
        return _pd(target - position, state[2:4], self.kp, self.kd)


class ReacherExpert:
    """Drive the two joints to the goal pose ``info["goal"]`` with a PD law on the wrapped angle errors, from
    ``info["state"]`` = (cos q, sin q, q̇)."""

    def __init__(self, kp: float = 4.0, kd: float = 0.3):
        self.kp, self.kd = kp, kd

    def reset(self, seed: int) -> None:
        """Nothing to forget: the expert acts on the current state alone."""

    def act(self, observation: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        """Two joint torques (2,) in [-1, 1]."""
        state = np.asarray(info["state"], dtype=np.float64)
        angles = np.arctan2(state[2:4], state[:2])
        error = np.angle(np.exp(1j * (np.asarray(info["goal"]) - angles)))  # wrapped into (-pi, pi]
        return _pd(error, state[4:6], self.kp, self.kd)


class PushTExpert:
    """Push-T's goals are where scripted pushes from the start led (``envs.push_t``): push the same way again, with
    the pusher of the episode's ``info["goal_seed"]``, which reaches the goal exactly when no noise is added."""

    def __init__(self, env: gym.Env):
        self.reach, self.seed, self.pusher = env.get_wrapper_attr("reach"), None, None

    def reset(self, seed: int) -> None:
        """Forget the pusher: the next action starts the new episode's."""
        self.seed = None

    def act(self, observation: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        """One relative move (2,) in [-1, 1]."""
        if info["goal_seed"] != self.seed:
            self.seed, self.pusher = info["goal_seed"], Pusher(int(info["goal_seed"]), self.reach)
        return self.pusher.act(info)


Expert = TwoRoomsExpert | PendulumExpert | PointMazeExpert | ReacherExpert | PushTExpert
EXPERTS: dict[str, Callable[[gym.Env], Expert]] = {
    "jepa/TwoRooms-v0": TwoRoomsExpert,
    "jepa/PixelPendulum-v0": lambda env: PendulumExpert(),
    "jepa/PixelPointMaze-v0": PointMazeExpert,
    "jepa/PixelReacher-v0": lambda env: ReacherExpert(),
    "jepa/PixelPushT-v0": PushTExpert,
    "jepa/PixelPushTCoverage-v0": PushTExpert,
}


def make_expert(env: gym.Env) -> Expert:
    """The scripted expert of ``env`` (made with ``gymnasium.make``, so that it has a spec id)."""
    env_id = env.spec.id if env.spec else None
    if env_id not in EXPERTS:
        raise ValueError(f"no scripted expert for {env_id}; experts exist for {', '.join(EXPERTS)}")
    return EXPERTS[env_id](env)
