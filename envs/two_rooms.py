"""Two-Rooms: a point agent that must find the door in a wall to reach a goal seen only as an image.

The smallest navigation task where a world model has to plan around an obstacle: the straight line to a
goal in the other room is blocked, so greedy distance-following fails and planning has to succeed.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

Point = tuple[float, float]
Rect = tuple[float, float, float, float]  # x0, y0, x1, y1

FLOOR = np.array([16, 16, 16], dtype=np.float32)
WALL = np.array([200, 200, 200], dtype=np.float32)
AGENT = np.array([255, 96, 32], dtype=np.float32)
GOAL = np.array([64, 220, 96], dtype=np.float32)


class TwoRoomsEnv(gym.Env):
    """A disc agent in the unit square, split at x = 0.5 by a wall with one door.

    Parameters (chosen here; the published Two-Rooms papers do not fix them in our handbook):

    - arena [0, 1]², wall 0.04 thick centred on x = 0.5, door the gap y in [0.5 - door/2, 0.5 + door/2]
      with ``door_height`` = 0.2;
    - agent disc of radius ``agent_radius`` = 0.035 (about 2 px at 64 px); walls stop its bounding square,
      so it passes the door only while its centre has y in [0.435, 0.565];
    - action: a direction in the Box [-1, 1]², rescaled to norm at most 1 and scaled by ``max_step`` = 0.05
      into a displacement, so crossing a room takes about ten steps. Because ``max_step`` <
      2 · ``agent_radius`` no single step could jump the wall even without the swept collision test;
    - success (terminated) when the agent centre is within ``goal_radius`` = 0.05 of the goal; reward is
      minus the distance to the goal; truncation comes from the registered time limit (100 steps);
    - observation: ``image_size``² RGB uint8 (H, W, 3), y up; the goal is not drawn (it is given as
      ``goal_observation()``, the view with the agent at the goal), ``render()`` adds a goal ring.

    ``reset`` draws start and goal uniformly in the free space of different rooms (``same_room=True``:
    each room independently, at least ``2 · goal_radius`` apart); ``options={"start": (x, y), "goal": (x, y)}``
    places them instead. ``info``: ``pos``, ``goal`` (float64 (2,)), ``success``, ``distance``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    WALL_X = 0.5
    WALL_HALF_WIDTH = 0.02
    DOOR_Y = 0.5

    def __init__(
        self,
        render_mode: str | None = None,
        *,
        image_size: int = 64,
        door_height: float = 0.2,
        agent_radius: float = 0.035,
        max_step: float = 0.05,
        goal_radius: float = 0.05,
        same_room: bool = False,
    ):
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if door_height <= 2 * agent_radius:
            raise ValueError(f"door_height {door_height} must exceed the agent's diameter {2 * agent_radius}")
        self.render_mode = render_mode
        self.image_size, self.agent_radius, self.max_step = image_size, agent_radius, max_step
        self.goal_radius, self.same_room = goal_radius, same_room
        self.door = (self.DOOR_Y - door_height / 2, self.DOOR_Y + door_height / 2)
        x0, x1 = self.WALL_X - self.WALL_HALF_WIDTH, self.WALL_X + self.WALL_HALF_WIDTH
        self.walls: tuple[Rect, ...] = ((x0, 0.0, x1, self.door[0]), (x0, self.door[1], x1, 1.0))
        self.action_space = spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
        self.observation_space = spaces.Box(0, 255, shape=(image_size, image_size, 3), dtype=np.uint8)
        centres = (np.arange(image_size, dtype=np.float32) + 0.5) / image_size
        self._px_x = centres[None, :]  # column -> x
        self._px_y = centres[::-1, None].copy()  # row -> y (row 0 at the top, y = 1)
        self._background = self._draw_background()
        self.pos: Point = (0.25, 0.5)
        self.goal: Point = (0.75, 0.5)

    # --- geometry -------------------------------------------------------------------------------------

    def room(self, p: Point) -> int:
        """0 for the left room, 1 for the right one (by the side of the wall's centre line)."""
        return int(p[0] > self.WALL_X)

    def is_free(self, p: Point) -> bool:
        """Whether the agent may stand at ``p``: inside the arena and its bounding square clear of the walls."""
        r = self.agent_radius
        if not (r <= p[0] <= 1 - r and r <= p[1] <= 1 - r):
            return False
        return not any(x0 - r < p[0] < x1 + r and y0 - r < p[1] < y1 + r for x0, y0, x1, y1 in self.walls)

    def _move_axis(self, p: Point, delta: float, axis: int) -> Point:
        """Move ``p`` by ``delta`` along one axis, stopping at the first wall or arena edge on the way."""
        r, other = self.agent_radius, 1 - axis
        target = min(max(p[axis] + delta, r), 1 - r)
        for rect in self.walls:
            lo, hi = rect[axis] - r, rect[axis + 2] + r
            if not rect[other] - r < p[other] < rect[other + 2] + r:
                continue  # this wall does not lie across the path
            if delta > 0 and p[axis] <= lo < target:
                target = lo
            elif delta < 0 and p[axis] >= hi > target:
                target = hi
        return (target, p[1]) if axis == 0 else (p[0], target)

    def move(self, p: Point, action: np.ndarray) -> Point:
        """Where the agent ends after ``action`` (clipped to norm 1, times ``max_step``), sliding along walls.

        The step is cut into pieces of at most 0.01 so that diagonal motion through the door stays close
        to a straight line; each piece moves x then y with an exact swept test.
        """
        dx, dy = (float(v) for v in action)
        scale = self.max_step / max(1.0, math.hypot(dx, dy))
        dx, dy = dx * scale, dy * scale
        pieces = max(1, math.ceil(math.hypot(dx, dy) / 0.01))
        for _ in range(pieces):
            p = self._move_axis(self._move_axis(p, dx / pieces, 0), dy / pieces, 1)
        return p

    def _sample_free(self, room: int) -> Point:
        r = self.agent_radius
        x_range = (r, self.walls[0][0] - r) if room == 0 else (self.walls[0][2] + r, 1 - r)
        x, y = self.np_random.uniform((x_range[0], r), (x_range[1], 1 - r))
        return float(x), float(y)

    # --- gymnasium API --------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        options = options or {}
        start_room = int(self.np_random.integers(2))
        goal_room = int(self.np_random.integers(2)) if self.same_room else 1 - start_room
        self.pos = self._sample_free(start_room)
        self.goal = self._sample_free(goal_room)
        while self.same_room and math.dist(self.pos, self.goal) < 2 * self.goal_radius:
            self.goal = self._sample_free(goal_room)
        for key in ("start", "goal"):
            if key in options:
                p = tuple(float(v) for v in options[key])
                if len(p) != 2 or not self.is_free(p):
                    raise ValueError(f"options[{key!r}] = {options[key]} is not a free position of the arena")
                setattr(self, "pos" if key == "start" else "goal", p)
        return self._observation(self.pos), self._info()

    def step(self, action):
        self.pos = self.move(self.pos, np.asarray(action, dtype=np.float64).reshape(2))
        info = self._info()
        return self._observation(self.pos), -info["distance"], info["success"], False, info

    def render(self) -> np.ndarray | None:
        """The observation with a ring around the goal (for people; models see ``goal_observation``)."""
        if self.render_mode is None:
            return None
        frame = self._observation(self.pos).astype(np.float32)
        d = np.hypot(self._px_x - self.goal[0], self._px_y - self.goal[1]) * self.image_size
        ring = np.clip(1.0 - np.abs(d - self.goal_radius * self.image_size), 0.0, 1.0)[..., None]
        return (frame * (1 - ring) + GOAL * ring).round().astype(np.uint8)

    def goal_observation(self) -> np.ndarray:
        """What the agent would see standing at the goal: the target image for goal-conditioned planning."""
        return self._observation(self.goal)

    # --- drawing --------------------------------------------------------------------------------------

    def _draw_background(self) -> np.ndarray:
        image = np.broadcast_to(FLOOR, (self.image_size, self.image_size, 3)).copy()
        for x0, y0, x1, y1 in self.walls:
            inside = (x0 <= self._px_x) & (self._px_x <= x1) & (y0 <= self._px_y) & (self._px_y <= y1)
            image[inside] = WALL
        return image

    def _observation(self, p: Point) -> np.ndarray:
        """The arena with an anti-aliased agent disc at ``p`` (sub-pixel positions change the image)."""
        d = np.hypot(self._px_x - p[0], self._px_y - p[1]) * self.image_size
        alpha = np.clip(self.agent_radius * self.image_size + 0.5 - d, 0.0, 1.0)[..., None]
        return (self._background * (1 - alpha) + AGENT * alpha).round().astype(np.uint8)

    def _info(self) -> dict[str, Any]:
        distance = math.dist(self.pos, self.goal)
        return {
            "pos": np.array(self.pos),
            "goal": np.array(self.goal),
            "success": distance <= self.goal_radius,
            "distance": distance,
        }


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
