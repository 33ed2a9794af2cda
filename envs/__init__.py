"""Gymnasium environments for control: importing ``envs`` registers them (``gymnasium.make("jepa/TwoRooms-v0")``).

``ENV_IDS`` need only the ``control`` extra. ``OPTIONAL_ENV_IDS`` are pixel versions of environments no one
here wrote (MuJoCo Reacher and PointMaze, Push-T); they are registered too, and making one without its
extra installed raises an ImportError naming the extra.

Registration is the one side effect of this import, by design: it is what ``import envs`` is for. It only
adds ids that are not registered yet, so re-imports and reloads are harmless.
"""

from collections.abc import Callable

import gymnasium
import numpy as np


def _pixel(base_id: str, max_episode_steps: int, task: str = "", **kwargs) -> dict:
    """The spec of ``base_id`` seen through its rendered frames, as the goal-image ``task`` of
    ``envs.mujoco_goals`` if one is named; the time limit is the base env's own."""
    entry_point = "envs.wrappers:make_pixel_env"
    if task:
        entry_point, kwargs = "envs.mujoco_goals:make_goal_pixel_env", {"task": task, **kwargs}
    kwargs = {"base_id": base_id, **kwargs}
    return {"entry_point": entry_point, "max_episode_steps": max_episode_steps, "kwargs": kwargs}


def _push_t(success: str) -> dict:
    kwargs = {"base_id": "gym_pusht/PushT-v0", "requires": "gym_pusht", "extra": "pusht", "success": success}
    return {"entry_point": "envs.push_t:make_push_t_env", "max_episode_steps": 50, "kwargs": kwargs}


_SPECS: dict[str, dict] = {
    "jepa/TwoRooms-v0": {"entry_point": "envs.two_rooms:TwoRoomsEnv", "max_episode_steps": 100},
    "jepa/PixelPendulum-v0": _pixel("Pendulum-v1", 200),
}
ENV_IDS = tuple(_SPECS)

# ``requires``: the module that provides (and registers) the base env; ``extra``: what installs it.
_OPTIONAL_SPECS: dict[str, dict] = {
    "jepa/PixelReacher-v0": _pixel("Reacher-v5", 50, "reacher", requires="mujoco", extra="mujoco"),
    "jepa/PixelPointMaze-v0": _pixel(
        "PointMaze_UMaze-v3", 300, "point_maze", requires="gymnasium_robotics", extra="mujoco", continuing_task=False
    ),
    # goals 25 steps of pushing away, 50 steps to reach them: the field's Push-T budget (envs.push_t); success by
    # DINO-WM's state rule, or by gym-pusht's 95 % coverage
    "jepa/PixelPushT-v0": _push_t("state"),
    "jepa/PixelPushTCoverage-v0": _push_t("coverage"),
}
OPTIONAL_ENV_IDS = tuple(_OPTIONAL_SPECS)


def true_state(info: dict) -> np.ndarray:
    """The simulator state an env reports beside its frames (float32): the pixel wrappers' ``state``, else
    Two-Rooms' ``pos``. What collected trajectories record and what a world model's proprio input reads."""
    for key in ("state", "pos"):
        if key in info:
            return np.asarray(info[key], dtype=np.float32)
    raise KeyError(f"the env's info has neither 'state' nor 'pos' to read the true state from: {sorted(info)}")


def goal_observer(env: gymnasium.Env) -> Callable[[], np.ndarray] | None:
    """The ``goal_observation`` method of ``env`` (the goal as an image (H, W, 3) uint8), found on any of its
    wrappers or on the env itself; None for envs without a goal."""
    try:
        return env.get_wrapper_attr("goal_observation")
    except AttributeError:
        return None


def register_envs() -> None:
    """Register every env of ``ENV_IDS`` and ``OPTIONAL_ENV_IDS`` that gymnasium does not know yet."""
    for env_id, spec in (_SPECS | _OPTIONAL_SPECS).items():
        if env_id not in gymnasium.registry:
            gymnasium.register(env_id, **spec)


register_envs()
