"""Goal-image versions of MuJoCo tasks no one here wrote: Gymnasium-Robotics' PointMaze and Gymnasium's Reacher.

As in Two-Rooms, the goal is a configuration of the agent and the planner sees it only as an image: the frame
the camera would show with the agent standing there (``goal_observation``). The base envs draw their goal as a
marker, which we hide, so frames show the agent alone; the camera looks straight down on the workspace. The
true state in ``info["state"]`` is the agent's own (positions and velocities): the base observations also hold
the goal, which a proprio input must not be handed.

``info`` adds ``goal`` (the goal configuration, qpos (2,)), ``distance`` (between the agent's point and the
goal's, in the env's units) and ``success`` (``distance`` within ``success_radius``). A task either ends on
success (``ends_on_success``) or asks the agent to hold the goal until its time limit, success being judged on
the last step. MuJoCo is imported by the base envs only, so this module loads without the ``mujoco`` extra.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
import numpy as np

from envs.wrappers import PixelObservation, make_base_env


class GoalImage(PixelObservation):
    """Pixel observations of a MuJoCo env whose goal is a qpos of the agent (its first two coordinates).

    Subclasses name the MuJoCo env that simulates and renders (``sim``), the camera, the markers to hide, the
    goal of a new episode and the point whose distance to the goal's decides success.
    """

    camera: dict[str, Any]
    success_radius: float
    ends_on_success: bool

    def __init__(self, env: gym.Env, image_size: int = 64):
        super().__init__(env, image_size)
        self.sim.mujoco_renderer.default_cam_config = self.camera  # read when the first frame is rendered
        self._hide_markers()
        self.goal = np.zeros(2)
        self.goal_point = np.zeros(2)

    # --- what a task defines ------------------------------------------------------------------------------

    @property
    def sim(self) -> Any:
        """The MuJoCo env (``model``, ``data``, ``mujoco_renderer``) beneath the task."""
        return self.env.unwrapped

    def _hide_markers(self) -> None:
        """Make the base env's goal markers transparent."""

    def _new_goal(self) -> np.ndarray:
        """The goal qpos (2,) of the episode the base env has just started."""
        raise NotImplementedError

    def _point(self) -> np.ndarray:
        """The agent's point (2,) whose distance to the goal's decides success."""
        raise NotImplementedError

    def _state(self, state: Any) -> np.ndarray:
        qpos, qvel = self.sim.data.qpos[:2], self.sim.data.qvel[:2]
        return np.concatenate([qpos, qvel]).astype(np.float32)

    # --- shared ---------------------------------------------------------------------------------------------

    def _place(self, qpos: np.ndarray, qvel: np.ndarray) -> None:
        import mujoco

        data = self.sim.data
        data.qpos[:2], data.qvel[:2] = qpos, qvel
        mujoco.mj_forward(self.sim.model, data)

    @contextmanager
    def _at_rest(self, qpos: np.ndarray) -> Iterator[None]:
        """Within the block the agent stands at rest at ``qpos`` (2,); afterwards the simulation is as it was."""
        saved = self.sim.data.qpos[:2].copy(), self.sim.data.qvel[:2].copy()
        self._place(qpos, np.zeros(2))
        try:
            yield
        finally:
            self._place(*saved)

    def goal_observation(self) -> np.ndarray:
        """The frame with the agent at rest at the goal (H, W, 3) uint8; the simulation is left as it was."""
        with self._at_rest(self.goal):
            return self.frame()

    def _goal_info(self, info: dict[str, Any]) -> dict[str, Any]:
        distance = float(np.linalg.norm(self._point() - self.goal_point))
        return {**info, "goal": self.goal.copy(), "distance": distance, "success": distance <= self.success_radius}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        frame, info = super().reset(seed=seed, options=options)
        self.goal = self._new_goal()
        with self._at_rest(self.goal):
            self.goal_point = self._point().copy()
        return frame, self._goal_info(info)

    def step(self, action):
        frame, _, terminated, truncated, info = super().step(action)
        info = self._goal_info(info)
        ends = terminated or (self.ends_on_success and info["success"])
        return frame, -info["distance"], bool(ends), truncated, info


class PointMazeGoal(GoalImage):
    """PointMaze (U-maze by default): a ball pushed by a 2-D force, qpos its (x, y); seen from above.

    The base env draws a new start and goal cell each episode (different cells, with noise inside them); success
    is the base env's own, within 0.45 of the goal (cells are 1 wide)."""

    camera = {"distance": 4.6, "elevation": -90.0, "azimuth": 90.0, "lookat": np.zeros(3)}
    success_radius = 0.45
    ends_on_success = True

    @property
    def sim(self) -> Any:
        return self.env.unwrapped.point_env

    def _hide_markers(self) -> None:
        model = self.sim.model
        model.site_rgba[model.site("target").id, 3] = 0.0

    def _new_goal(self) -> np.ndarray:
        return np.array(self.env.unwrapped.goal, dtype=np.float64)

    def _point(self) -> np.ndarray:
        return self.sim.data.qpos[:2]


class ReacherGoal(GoalImage):
    """Reacher: a two-link arm, qpos its joint angles; the goal is a pose drawn uniformly (first joint all round,
    second within ±2.5 rad) whose fingertip lies at least ``2 · success_radius`` from the start's.

    Success is the fingertip within 0.05 of the goal pose's fingertip (dm_control reacher-easy's target radius;
    the arm reaches 0.21) at the end of the episode: the arm swings fast enough that flailing passes through
    most goals (uniform random torques did in 25 of 40 episodes when passing counted). The hidden target is
    moved to the goal's fingertip, so the base env's reward terms measure the same distance."""

    camera = {"distance": 0.62, "elevation": -90.0, "azimuth": 90.0, "lookat": np.zeros(3), "trackbodyid": -1}
    success_radius = 0.05
    ends_on_success = False

    def _hide_markers(self) -> None:
        model = self.sim.model
        model.geom_rgba[model.geom("target").id, 3] = 0.0

    def _new_goal(self) -> np.ndarray:
        rng, start = self.sim.np_random, self._point().copy()
        while True:
            goal = np.array([rng.uniform(-np.pi, np.pi), rng.uniform(-2.5, 2.5)])
            with self._at_rest(goal):
                tip = self._point().copy()
            if np.linalg.norm(tip - start) >= 2 * self.success_radius:
                self.sim.data.qpos[2:4] = tip  # the (hidden) target joints
                return goal

    def _point(self) -> np.ndarray:
        return self.sim.data.body("fingertip").xpos[:2]

    def _state(self, state: Any) -> np.ndarray:
        angles, velocities = self.sim.data.qpos[:2], self.sim.data.qvel[:2]
        return np.concatenate([np.cos(angles), np.sin(angles), velocities]).astype(np.float32)


TASKS: dict[str, type[GoalImage]] = {"point_maze": PointMazeGoal, "reacher": ReacherGoal}


def make_goal_pixel_env(
    base_id: str, task: str, render_mode: str | None = "rgb_array", image_size: int = 64, **kwargs
) -> gym.Env:
    """``base_id`` as the goal-image task ``task`` (a key of ``TASKS``), rendered at twice ``image_size`` and
    box-filtered down so that sub-pixel motion still changes the frame."""
    base = make_base_env(base_id, render_mode, width=2 * image_size, height=2 * image_size, **kwargs)
    return TASKS[task](base, image_size=image_size)
