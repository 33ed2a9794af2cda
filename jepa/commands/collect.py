"""Collect episodes from a registered env with a data policy and write them as trajectory shards.

``jepa collect env=two_rooms policy=waypoint episodes=200 out=data/two_rooms`` runs
``num_envs`` copies in a ``SyncVectorEnv`` and writes the format documented in ``jepa.data.trajectories``;
``policy=expert action_noise=0.3`` records demonstrations of the env's scripted expert with noisy actions.
The run is deterministic given ``seed`` (env ``i`` is seeded ``seed + i``, the policy ``seed``).
"""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from omegaconf import DictConfig

from envs import goal_observer, true_state  # importing envs registers the environments
from envs.minari_export import export_minari
from envs.policies import Policy, make_policy
from jepa.commands.checks import check_collect
from jepa.common.errors import ConfigError
from jepa.data.trajectories import Episode, shard_name, write_meta, write_shard


def _state(infos: dict[str, Any], i: int) -> np.ndarray:
    """The true state of env ``i`` of a vector env (:func:`envs.true_state`)."""
    return true_state({key: infos[key][i] for key in ("state", "pos") if key in infos})


def _goal(env: gym.Env, infos: dict[str, Any], i: int) -> dict[str, np.ndarray | None]:
    """The goal image and goal state (``info["goal"]``) of the episode env ``i`` has just started; None for envs
    without them."""
    goal_observation = goal_observer(env)
    goal_state = np.asarray(infos["goal"][i], dtype=np.float32) if "goal" in infos else None
    return {"goal_obs": None if goal_observation is None else goal_observation(), "goal_state": goal_state}


class _EpisodeBuffer:
    def __init__(self, obs: np.ndarray, state: np.ndarray, goal: dict[str, np.ndarray | None]):
        self.obs, self.state, self.goal = [obs], [state], goal
        self.actions, self.rewards, self.terminated, self.truncated = [], [], [], []

    def add(self, action, reward, terminated, truncated, obs, state) -> None:
        self.actions.append(action)
        self.rewards.append(reward)
        self.terminated.append(terminated)
        self.truncated.append(truncated)
        self.obs.append(obs)
        self.state.append(state)

    def episode(self) -> Episode:
        steps = {
            f.name: np.stack(getattr(self, f.name)) for f in dataclasses.fields(Episode) if f.name not in self.goal
        }
        return Episode(**steps, **self.goal)


def _record(venv: gym.vector.SyncVectorEnv, policy: Policy, cfg: DictConfig, out: Path) -> dict:
    """Step ``venv`` with ``policy`` until ``cfg.episodes`` episodes have ended, writing shards as they fill;
    return the counts and shapes for ``meta.json``."""
    from tqdm.auto import tqdm

    obs, infos = venv.reset(seed=cfg.seed)
    buffers = [_EpisodeBuffer(obs[i], _state(infos, i), _goal(venv.envs[i], infos, i)) for i in range(cfg.num_envs)]
    restarting = np.zeros(cfg.num_envs, dtype=bool)  # NEXT_STEP autoreset: these envs reset on this step
    pending: list[Episode] = []
    shards: list[str] = []
    done = transitions = 0
    with tqdm(total=cfg.episodes, desc=f"collecting {cfg.env.id}", unit="episode", disable=not cfg.progress) as bar:
        while done < cfg.episodes:
            actions = policy(infos)
            obs, rewards, terminated, truncated, infos = venv.step(actions)
            for i in range(cfg.num_envs):
                if restarting[i]:
                    buffers[i] = _EpisodeBuffer(obs[i], _state(infos, i), _goal(venv.envs[i], infos, i))
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


def collect(cfg: DictConfig) -> Path:
    """Run ``cfg.policy`` until ``cfg.episodes`` episodes have ended; write them under ``cfg.out`` (which
    must be empty or new), and to Minari if ``cfg.minari`` names a dataset. Unfinished episodes at the end
    are dropped, so every stored episode is whole."""
    check_collect(cfg)
    out = Path(cfg.out).expanduser()
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; collect into a new directory")
    venv = gym.vector.SyncVectorEnv([partial(gym.make, cfg.env.id, max_episode_steps=cfg.steps)] * cfg.num_envs)
    try:
        space = venv.single_observation_space
        if space.dtype != np.uint8 or len(space.shape) != 3 or space.shape[-1] != 3:
            raise ConfigError(f"{cfg.env.id} observes {space}, not RGB frames; try a pixel env (jepa/PixelPendulum-v0)")
        policy = make_policy(cfg.policy, venv.envs, cfg.seed, cfg.action_noise)
        out.mkdir(parents=True, exist_ok=True)
        recorded = _record(venv, policy, cfg, out)
    finally:
        venv.close()
    max_steps = cfg.steps or gym.spec(cfg.env.id).max_episode_steps
    run = {"env": cfg.env.id, "policy": cfg.policy, "action_noise": cfg.action_noise, "seed": cfg.seed}
    run["num_envs"] = cfg.num_envs
    write_meta(out, {**run, "max_episode_steps": max_steps, **recorded})
    if cfg.minari:
        export_minari(out, cfg.minari)
    print(
        f"wrote {cfg.episodes} episodes of {cfg.env.id} to {out}" + (f" and Minari {cfg.minari}" if cfg.minari else "")
    )
    return out
