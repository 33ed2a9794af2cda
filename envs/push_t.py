"""Push-T (gym-pusht) as a goal-image task: push the T-shaped block into the pose of the goal image.

The field plans in Push-T towards goals taken from demonstrations a few seconds later (DINO-WM: 25 steps), not
towards the base env's one fixed pose, which no short plan reaches from a random start. We have no
demonstrations offline, so each episode's goal is made the same way from a scripted data source: from the
random start, :class:`Pusher` pushes the block for ``goal_steps`` steps, and the state it reaches (block and
agent) is the goal; the episode then restarts from the start. Success, which ends the episode, is by default
DINO-WM's rule for these goals (``success="state"``: agent and block positions together within 20 px of the
goal's, the block's angle within 20°); ``success="coverage"`` (``jepa/PixelPushTCoverage-v0``) is gym-pusht's
own for its fixed goal, the block covering at least 95 % of the goal pose's area, which asks for ~3 px and ~2°.

Actions are relative: a ∈ [-1, 1]² moves the agent's PD target to ``reach`` pixels from where the agent is
(gym-pusht's actions are absolute targets in [0, 512]², whose scale a planner's samples and a world model's
action input would have to learn first). Frames hide gym-pusht's green goal zone, so they show the agent and
the block only. ``info["state"]`` is the agent's own state (position and velocity, pixels and pixels/s), what a
proprio input may read; ``info["goal"]`` is the goal's block pose (x, y, angle), ``info["goal_seed"]`` seeds
the pushes that made it, ``info["coverage"]`` is the share of the goal pose the block covers and
``info["distance"]`` is 1 − coverage.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from envs.wrappers import PixelObservation, make_base_env

BOARD = 512.0  # gym-pusht's board is 512 pixels square
SUCCESS_COVERAGE = 0.95  # gym-pusht's success threshold
STATE_RADIUS, ANGLE_TOLERANCE = 20.0, np.pi / 9  # DINO-WM's: agent and block positions within 20 px, angle 20°
SUCCESS_RULES = ("state", "coverage")


class Pusher:
    """Scripted pushes of the block from its true state: pick a direction (biased towards the board's middle, so
    the block stays clear of the walls) and a sideways offset (off-centre pushes turn the T), circle round the
    block to stand behind it, then push through it for a few steps; repeat.

    ``act`` returns PushTGoal's relative actions (2,) in [-1, 1]; ``rng`` fixes every draw, so the same seed on
    the same states pushes the same way (how the expert replays an episode's goal).
    """

    standoff = 100.0  # from the block's centre to where a push starts; the T reaches ~75 px from it
    through = 40.0  # how far past the block's centre a push aims

    def __init__(self, seed: int, reach: float):
        self.rng, self.reach = np.random.default_rng(seed), reach
        self.push: tuple[np.ndarray, np.ndarray, int] | None = None  # direction, aim point, steps left
        self.approach: tuple[np.ndarray, float] | None = None  # direction, offset

    def _new_push(self, block: np.ndarray) -> None:
        to_middle = (BOARD / 2 - block) / (BOARD / 2)
        angle = self.rng.uniform(-np.pi, np.pi)
        direction = np.array([np.cos(angle), np.sin(angle)]) + 1.5 * to_middle
        self.approach = (direction / np.linalg.norm(direction), self.rng.uniform(-35.0, 35.0))

    def act(self, info: dict[str, Any]) -> np.ndarray:
        agent = np.asarray(info["pos_agent"], dtype=np.float64)
        block = np.asarray(info["block_pose"], dtype=np.float64)[:2]
        if self.push is not None:
            direction, aim, left = self.push
            self.push = (direction, aim, left - 1) if left > 1 else None
            target = aim
        else:
            if self.approach is None:
                self._new_push(block)
            direction, offset = self.approach
            side = np.array([-direction[1], direction[0]])
            start = block - self.standoff * direction + offset * side
            away = agent - block
            if np.linalg.norm(agent - start) < 12.0:
                self.push = (direction, block + self.through * direction + offset * side, int(self.rng.integers(4, 10)))
                self.approach = None
                target = self.push[1]
            elif np.linalg.norm(away) < self.standoff + 10.0 and away @ direction > -0.7 * np.linalg.norm(away):
                # on the wrong side: walk round the block, along the nearer way to the back
                turn = 1.0 if direction[0] * away[1] - direction[1] * away[0] > 0 else -1.0
                tangent = turn * np.array([-away[1], away[0]]) / max(np.linalg.norm(away), 1e-6)
                target = block + (self.standoff + 15.0) * (away / max(np.linalg.norm(away), 1e-6)) + 60.0 * tangent
            else:
                target = start
        return np.clip((target - agent) / self.reach, -1.0, 1.0).astype(np.float32)


class PushTGoal(PixelObservation):
    """Pixel observations of gym-pusht's PushT with a goal image per episode (see the module's docstring)."""

    def __init__(
        self, env: gym.Env, image_size: int = 64, reach: float = 64.0, goal_steps: int = 25, success: str = "state"
    ):
        if success not in SUCCESS_RULES:
            raise ValueError(f"success={success!r}: choose from {SUCCESS_RULES}")
        super().__init__(env, image_size)
        self.reach, self.goal_steps, self.success_rule = reach, goal_steps, success
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.goal, self.goal_agent = np.zeros(3), np.zeros(2)
        self.goal_frame = np.zeros(self.observation_space.shape, dtype=np.uint8)
        self.goal_seed = 0

    @property
    def sim(self) -> Any:
        """gym-pusht's PushTEnv (``agent``, ``block``, ``space``, ``goal_pose``)."""
        return self.env.unwrapped

    def _state(self, state: Any) -> np.ndarray:
        return np.concatenate([self.sim.agent.position, self.sim.agent.velocity]).astype(np.float32)

    def _target(self, action: np.ndarray) -> np.ndarray:
        """The absolute PD target (2,) of a relative action, kept on the board."""
        relative = np.clip(np.asarray(action, dtype=np.float64), -1.0, 1.0)
        return np.clip(np.asarray(self.sim.agent.position) + self.reach * relative, 0.0, BOARD)

    def frame(self) -> np.ndarray:
        """The current frame without the goal zone and the last action's marker (H, W, 3) uint8."""
        sim = self.sim
        saved = sim.goal_pose, sim._last_action
        sim.goal_pose, sim._last_action = np.array([-BOARD, -BOARD, 0.0]), None  # the zone drawn off the board
        try:
            return super().frame()
        finally:
            sim.goal_pose, sim._last_action = saved

    def goal_observation(self) -> np.ndarray:
        """The frame of the goal state (H, W, 3) uint8, drawn when the goal was made: posing the bodies there and
        back would leave rounding in the live simulation, which contacts amplify."""
        return self.goal_frame.copy()

    def _coverage(self) -> float:
        return float(self.sim._get_coverage())

    def _at_goal(self) -> bool:
        """DINO-WM's rule: agent and block positions together within 20 px of the goal's, the angle within 20°."""
        here = np.concatenate([self.sim.agent.position, self.sim.block.position])
        apart = float(np.linalg.norm(here - np.concatenate([self.goal_agent, self.goal[:2]])))
        turn = abs(np.angle(np.exp(1j * (self.sim.block.angle - self.goal[2]))))
        return apart < STATE_RADIUS and turn < ANGLE_TOLERANCE

    def _goal_info(self, info: dict[str, Any]) -> dict[str, Any]:
        coverage = self._coverage()
        success = self._at_goal() if self.success_rule == "state" else coverage >= SUCCESS_COVERAGE
        goal = {"goal": self.goal.copy(), "goal_seed": self.goal_seed}
        return {**info, **goal, "coverage": coverage, "distance": 1.0 - coverage, "success": bool(success)}

    def _make_goal(self, start: np.ndarray) -> None:
        """Push from ``start`` (gym-pusht's reset state) for ``goal_steps`` steps and take the state reached as
        the goal; redraw the pushes while they leave the block covering ≥ 80 % of its start pose (a goal so
        near that standing still would nearly reach it)."""
        sim, rng = self.sim, self.sim.np_random
        for _ in range(20):
            # gym-pusht's reset from a state is deterministic, while a state read back does not give the same
            # block position (the angle is set after the position and turns the T about its centre of gravity):
            # the goal's pushes start from the same reset as the episode
            sim.reset(options={"reset_to_state": start})
            self.goal_seed = int(rng.integers(2**31))
            pusher, info = Pusher(self.goal_seed, self.reach), sim._get_info()
            for _ in range(self.goal_steps):
                sim.step(self._target(pusher.act(info)))
                info = sim._get_info()
            self.goal, self.goal_frame = np.asarray(info["block_pose"], dtype=np.float64), self.frame()
            self.goal_agent = np.asarray(info["pos_agent"], dtype=np.float64)
            sim.goal_pose = self.goal
            sim.reset(options={"reset_to_state": start})
            sim.goal_pose = self.goal  # gym-pusht's reset sets its fixed pose again
            if self._coverage() < 0.8:
                return

    def _clear(self) -> bool:
        """Whether the block lies inside the walls and clear of the agent. gym-pusht's random starts can overlap
        them, and resolving the overlap throws the block, even through a wall."""
        sim, margin = self.sim, 10.0
        corners = np.array([sim.block.local_to_world(v) for shape in sim.block.shapes for v in shape.get_vertices()])
        radius = next(iter(sim.agent.shapes)).radius
        apart = all(shape.point_query(sim.agent.position).distance > radius + margin for shape in sim.block.shapes)
        return apart and bool(np.all((corners > margin) & (corners < BOARD - margin)))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        _, info = self.env.reset(seed=seed, options=options)
        while True:
            # the start is the state reset to, as the goal's pushes start from it (see _make_goal)
            start = np.concatenate([info["pos_agent"], info["block_pose"]])
            self.sim.reset(options={"reset_to_state": start})
            if self._clear():
                break
            _, info = self.env.reset(options=options)  # redrawn from the env's generator: the seed fixes it
        self._make_goal(start)
        info = {**self.sim._get_info(), "is_success": False}
        return self.frame(), self._goal_info({**info, "state": self._state(None)})

    def step(self, action):
        _, _, _, truncated, info = self.env.step(self._target(action))  # gym-pusht ends on its own coverage rule
        info = self._goal_info({**info, "state": self._state(None)})
        return self.frame(), -info["distance"], info["success"], truncated, info


def make_push_t_env(
    base_id: str,
    render_mode: str | None = "rgb_array",
    image_size: int = 64,
    goal_steps: int = 25,
    success: str = "state",
    **kwargs,
) -> gym.Env:
    """``base_id`` (gym-pusht's PushT) as :class:`PushTGoal`, rendered at twice ``image_size`` and box-filtered
    down (gym-pusht draws at 512² and would otherwise resize to 680² first)."""
    size = {"visualization_width": 2 * image_size, "visualization_height": 2 * image_size}
    base = make_base_env(base_id, render_mode, obs_type="state", **size, **kwargs)
    return PushTGoal(base, image_size=image_size, goal_steps=goal_steps, success=success)
