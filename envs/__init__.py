"""Gymnasium environments for control: importing ``envs`` registers them (``gymnasium.make("jepa/TwoRooms-v0")``).

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


def register_envs() -> None:
    """Register every env of ``ENV_IDS`` that gymnasium does not know yet."""
    for env_id, spec in _SPECS.items():
        if env_id not in gymnasium.registry:
            gymnasium.register(env_id, **spec)


register_envs()
