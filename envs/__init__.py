"""Gymnasium environments for control: importing ``envs`` registers them (``gymnasium.make("jepa/TwoRooms-v0")``).

``ENV_IDS`` need only the ``control`` extra. ``OPTIONAL_ENV_IDS`` are pixel versions of environments no one
here wrote (MuJoCo Reacher and PointMaze, Push-T); they are registered too, and making one without its
extra installed raises an ImportError naming the extra.

Registration is the one side effect of this import, by design: it is what ``import envs`` is for. It only
adds ids that are not registered yet, so re-imports and reloads are harmless.
"""

import gymnasium

_SPECS: dict[str, dict] = {
    "jepa/TwoRooms-v0": {"entry_point": "envs.two_rooms:TwoRoomsEnv", "max_episode_steps": 100},
    "jepa/PixelPendulum-v0": {
        "entry_point": "envs.wrappers:make_pixel_env",
        "max_episode_steps": 200,  # Pendulum-v1's own limit
        "kwargs": {"base_id": "Pendulum-v1"},
    },
}
ENV_IDS = tuple(_SPECS)

_OPTIONAL_SPECS: dict[str, dict] = {
    "jepa/PixelReacher-v0": {
        "entry_point": "envs.wrappers:make_pixel_env",
        "max_episode_steps": 50,  # Reacher-v5's own limit
        "kwargs": {"base_id": "Reacher-v5", "requires": "mujoco", "extra": "mujoco"},
    },
    "jepa/PixelPointMaze-v0": {
        "entry_point": "envs.wrappers:make_pixel_env",
        "max_episode_steps": 300,  # PointMaze_UMaze-v3's own limit
        "kwargs": {"base_id": "PointMaze_UMaze-v3", "requires": "gymnasium_robotics", "extra": "mujoco"},
    },
    "jepa/PixelPushT-v0": {
        "entry_point": "envs.wrappers:make_pixel_env",
        "max_episode_steps": 300,  # gym-pusht's own limit
        "kwargs": {"base_id": "gym_pusht/PushT-v0", "requires": "gym_pusht", "extra": "pusht", "obs_type": "state"},
    },
}
OPTIONAL_ENV_IDS = tuple(_OPTIONAL_SPECS)


def register_envs() -> None:
    """Register every env of ``ENV_IDS`` and ``OPTIONAL_ENV_IDS`` that gymnasium does not know yet."""
    for env_id, spec in (_SPECS | _OPTIONAL_SPECS).items():
        if env_id not in gymnasium.registry:
            gymnasium.register(env_id, **spec)


register_envs()
