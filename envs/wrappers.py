"""Wrappers that turn state-based control tasks into the pixel tasks our world models learn from."""

from __future__ import annotations

import importlib
import os
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from PIL import Image


class PixelObservation(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Observe the rendered frame, resized to ``image_size``² RGB uint8 (H, W, 3), instead of the state.

    The replaced state stays available as ``info["state"]`` (float32; a dict state, as PointMaze's, is
    flattened), which is what dynamics probes and proprio tokens need. The wrapped env must render
    ``rgb_array`` frames.
    """

    def __init__(self, env: gym.Env, image_size: int = 64):
        if env.render_mode != "rgb_array":
            raise ValueError(f"PixelObservation needs render_mode='rgb_array', got {env.render_mode!r}")
        gym.utils.RecordConstructorArgs.__init__(self, image_size=image_size)
        gym.Wrapper.__init__(self, env)
        self.image_size = image_size
        self.observation_space = spaces.Box(0, 255, shape=(image_size, image_size, 3), dtype=np.uint8)
        self.metadata = {**env.metadata, "render_modes": ["rgb_array"]}

    def frame(self) -> np.ndarray:
        """The env's current rendering as an observation (H, W, 3) uint8."""
        frame = Image.fromarray(np.ascontiguousarray(self.env.render()))
        return np.asarray(frame.resize((self.image_size, self.image_size), Image.Resampling.BOX), dtype=np.uint8)

    def _state(self, state: Any) -> np.ndarray:
        return np.asarray(spaces.flatten(self.env.observation_space, state), dtype=np.float32)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        state, info = self.env.reset(seed=seed, options=options)
        return self.frame(), {**info, "state": self._state(state)}

    def step(self, action):
        state, reward, terminated, truncated, info = self.env.step(action)
        return self.frame(), reward, terminated, truncated, {**info, "state": self._state(state)}


class ActionRepeat(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Apply each action ``repeat`` times and sum the rewards, stopping early when the episode ends.

    Fewer, larger steps make world-model rollouts and planning horizons cover more time per prediction.
    """

    def __init__(self, env: gym.Env, repeat: int):
        if repeat < 1:
            raise ValueError(f"repeat must be >= 1, got {repeat}")
        gym.utils.RecordConstructorArgs.__init__(self, repeat=repeat)
        gym.Wrapper.__init__(self, env)
        self.repeat = repeat

    def step(self, action):
        total = 0.0
        for _ in range(self.repeat):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info


def _import_provider(module: str, extra: str) -> None:
    """Import the package that registers a third-party base env, or say which extra installs it."""
    if extra == "mujoco":
        os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering; OSMesa is the other choice
    try:
        importlib.import_module(module)
    except ImportError as err:
        raise ImportError(f"this env needs the '{extra}' extra: pip install 'jepa[{extra}]' ({err})") from err


def make_base_env(
    base_id: str, render_mode: str | None = "rgb_array", requires: str = "", extra: str = "", **kwargs
) -> gym.Env:
    """``base_id`` made to render ``rgb_array`` frames, without a time limit (whoever registers or makes the pixel
    env applies it once, outside). ``requires`` names the module that provides (and registers) a third-party base
    env, ``extra`` the install extra that brings it."""
    if render_mode != "rgb_array":
        raise ValueError(f"pixel envs render only 'rgb_array', got render_mode={render_mode!r}")
    if requires:
        _import_provider(requires, extra)
    return gym.make(base_id, render_mode="rgb_array", max_episode_steps=-1, disable_env_checker=True, **kwargs)


def make_pixel_env(base_id: str, render_mode: str | None = "rgb_array", image_size: int = 64, **kwargs) -> gym.Env:
    """``base_id`` (e.g. ``Pendulum-v1``) observed through ``PixelObservation`` (see ``make_base_env``)."""
    return PixelObservation(make_base_env(base_id, render_mode, **kwargs), image_size=image_size)
