"""Collect episodes from a registered env with a data policy and write them as trajectory shards.

``jepa collect env=jepa/TwoRooms-v0 policy=waypoint episodes=200 out=data/two_rooms`` runs
``num_envs`` copies in a ``SyncVectorEnv`` and writes the format documented in ``jepa.data.trajectories``.
The run is deterministic given ``seed`` (env ``i`` is seeded ``seed + i``, the policy ``seed``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import envs
from envs.minari_export import export_minari, minari_available
from envs.policies import POLICIES, Policy, make_policy
from jepa.common.errors import ConfigError
from jepa.data.trajectories import Episode, shard_name, write_meta, write_shard
from jepa.keyvalue import parse_key_values


@dataclass(frozen=True)
class CollectConfig:
    env: str = "jepa/TwoRooms-v0"
    episodes: int = 100
    steps: int | None = None  # maximum steps per episode; None = the env's registered limit
    out: str = "data/trajectories"
    seed: int = 0
    policy: str = "random"  # random | waypoint (Two-Rooms only)
    num_envs: int = 4
    episodes_per_shard: int = 50
    minari: str = ""  # also export as this Minari dataset id (needs the 'minari' extra)

    def __post_init__(self):
        for key in ("episodes", "num_envs", "episodes_per_shard"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"steps must be >= 1 or none, got {self.steps}")
        if self.policy not in POLICIES:
            raise ConfigError(f"policy must be one of {POLICIES}, got {self.policy!r}")
        if self.env not in gym.registry:
            ours = list(envs.ENV_IDS + envs.OPTIONAL_ENV_IDS)
            raise ConfigError(f"env {self.env!r} is not registered; ours are {ours}")
        if self.minari and not minari_available():
            raise ConfigError("minari export needs the 'minari' extra: pip install 'jepa[minari]'")
        if self.policy == "waypoint" and gym.spec(self.env).entry_point != "envs.two_rooms:TwoRoomsEnv":
            raise ConfigError(f"policy 'waypoint' drives Two-Rooms only, not {self.env}")


def parse_collect_args(args: list[str]) -> CollectConfig:
    """``key=value`` arguments -> a checked ``CollectConfig``; a bad key or value raises ``ConfigError``
    naming it."""
    return parse_key_values(CollectConfig, args, "collect")


def _state(infos: dict[str, Any], i: int) -> np.ndarray:
    """The true state recorded with an observation: pixel wrappers' ``state``, else Two-Rooms' ``pos``."""
    for key in ("state", "pos"):
        if key in infos:
            return np.asarray(infos[key][i], dtype=np.float32)
    raise KeyError(f"the env's info has neither 'state' nor 'pos' to record as the true state: {sorted(infos)}")


class _EpisodeBuffer:
    def __init__(self, obs: np.ndarray, state: np.ndarray):
        self.obs, self.state = [obs], [state]
        self.actions, self.rewards, self.terminated, self.truncated = [], [], [], []

    def add(self, action, reward, terminated, truncated, obs, state) -> None:
        self.actions.append(action)
        self.rewards.append(reward)
        self.terminated.append(terminated)
        self.truncated.append(truncated)
        self.obs.append(obs)
        self.state.append(state)

    def episode(self) -> Episode:
        return Episode(*(np.stack(getattr(self, f.name)) for f in dataclasses.fields(Episode)))


def _record(venv: gym.vector.SyncVectorEnv, policy: Policy, cfg: CollectConfig, out: Path, progress: bool) -> dict:
    """Step ``venv`` with ``policy`` until ``cfg.episodes`` episodes have ended, writing shards as they fill;
    return the counts and shapes for ``meta.json``."""
    from tqdm.auto import tqdm

    obs, infos = venv.reset(seed=cfg.seed)
    buffers = [_EpisodeBuffer(obs[i], _state(infos, i)) for i in range(cfg.num_envs)]
    restarting = np.zeros(cfg.num_envs, dtype=bool)  # NEXT_STEP autoreset: these envs reset on this step
    pending: list[Episode] = []
    shards: list[str] = []
    done = transitions = 0
    with tqdm(total=cfg.episodes, desc=f"collecting {cfg.env}", unit="episode", disable=not progress) as bar:
        while done < cfg.episodes:
            actions = policy(infos)
            obs, rewards, terminated, truncated, infos = venv.step(actions)
            for i in range(cfg.num_envs):
                if restarting[i]:
                    buffers[i] = _EpisodeBuffer(obs[i], _state(infos, i))
                    continue
                buffers[i].add(actions[i], rewards[i], terminated[i], truncated[i], obs[i], _state(infos, i))
                if (terminated[i] or truncated[i]) and done < cfg.episodes:
                    pending.append(buffers[i].episode())
                    transitions += pending[-1].length
                    done += 1
                    bar.update()
                if len(pending) == cfg.episodes_per_shard or (pending and done == cfg.episodes):
                    shards.append(shard_name(len(shards)))
                    write_shard(out / shards[-1], pending, first_id=done - len(pending))
                    pending = []
            restarting = terminated | truncated
    return {
        "episodes": done,
        "transitions": transitions,
        "shards": shards,
        "obs_shape": list(venv.single_observation_space.shape),
        "action_shape": list(venv.single_action_space.shape),
        "state_shape": list(buffers[0].state[0].shape),
    }


def collect(cfg: CollectConfig, progress: bool = True) -> Path:
    """Run ``cfg.policy`` until ``cfg.episodes`` episodes have ended; write them under ``cfg.out`` (which
    must be empty or new), and to Minari if ``cfg.minari`` names a dataset. Unfinished episodes at the end
    are dropped, so every stored episode is whole."""
    out = Path(cfg.out).expanduser()
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; collect into a new directory")
    venv = gym.vector.SyncVectorEnv([partial(gym.make, cfg.env, max_episode_steps=cfg.steps)] * cfg.num_envs)
    try:
        space = venv.single_observation_space
        if space.dtype != np.uint8 or len(space.shape) != 3 or space.shape[-1] != 3:
            raise ValueError(f"{cfg.env} observes {space}, not RGB frames; try a pixel env (jepa/PixelPendulum-v0)")
        policy = make_policy(cfg.policy, venv.envs[0], cfg.num_envs, cfg.seed)
        out.mkdir(parents=True, exist_ok=True)
        recorded = _record(venv, policy, cfg, out, progress)
    finally:
        venv.close()
    max_steps = cfg.steps or gym.spec(cfg.env).max_episode_steps
    run = {"env": cfg.env, "policy": cfg.policy, "seed": cfg.seed, "num_envs": cfg.num_envs}
    write_meta(out, {**run, "max_episode_steps": max_steps, **recorded})
    if cfg.minari:
        export_minari(out, cfg.minari)
    return out
