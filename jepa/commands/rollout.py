"""``jepa rollout``: seeded episodes of one agent in one registered environment, through the rollout runner.

``agent=mpc`` plans with the world model of ``run`` (CEM or MPPI, ``planner=``) and ``agent=policy`` acts with
the policy of ``run`` (ACT-JEPA, ACT or BC), in the env its data came from (``meta.json`` of the run's
``data.root``) unless ``env=`` says otherwise; ``agent=expert`` and ``agent=random`` need ``env=``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from envs import goal_observer  # importing envs registers the environments
from envs.experts import RandomAgent, make_expert
from jepa.agents import MPCAgent, run_episodes
from jepa.commands.checks import check_rollout
from jepa.common.errors import ConfigError
from jepa.config.command_schema import rollout_out
from jepa.planning import PLANNERS, LatentGraph, Planner
from jepa.recipes import load_run
from jepa.recipes.policy import policy_agent
from jepa.recipes.world_model.data import episode_latents
from jepa.train import checkpoint as ckpt

log = logging.getLogger(__name__)


def make_planner(cfg: DictConfig, low: np.ndarray, high: np.ndarray, seed: int) -> Planner:
    """The ``planner`` section as a planner over actions in [low, high]."""
    extra = {"temperature": cfg.temperature} if cfg.name == "mppi" else {}
    return PLANNERS[cfg.name](
        low,
        high,
        samples=cfg.samples,
        elites=cfg.elites,
        iterations=cfg.iterations,
        metric=cfg.metric,
        reduce=cfg.reduce,
        settle=cfg.settle,
        seed=seed,
        **extra,
    )


def _collected_env(run_cfg: DictConfig) -> str:
    meta = Path(run_cfg.data.root).expanduser() / "meta.json"
    if not meta.is_file():
        raise ConfigError(f"env is not set and {meta} (which names the env the run's data came from) is missing")
    return json.loads(meta.read_text())["env"]


def _action_space(env_id: str) -> gym.spaces.Box:
    env = gym.make(env_id)
    space = env.action_space
    env.close()
    return space


def _check_plannable(cfg: DictConfig, env_id: str, dims: dict) -> gym.spaces.Box:
    """The env's action space, once it is known that the world model of ``run`` can plan in it."""
    env = gym.make(env_id)
    space, shape = env.action_space, env.observation_space.shape
    has_goal = goal_observer(env) is not None
    env.close()
    if not has_goal:
        raise ConfigError(f"env.id={env_id} gives no goal image (goal_observation), which agent=mpc plans towards")
    if not isinstance(space, gym.spaces.Box) or space.shape != (dims["action_dim"],):
        raise ConfigError(
            f"env.id={env_id} takes actions {space}; the world model of run={cfg.run} was trained on "
            f"{dims['action_dim']}-dimensional ones"
        )
    if shape[:2] != (dims["image_size"], dims["image_size"]):
        raise ConfigError(
            f"env.id={env_id} renders {shape} frames; the world model of run={cfg.run} was trained on "
            f"{dims['image_size']} px ones"
        )
    return space


def _mpc_agent(cfg: DictConfig, run_cfg: DictConfig, model, facts: dict, env_id: str) -> MPCAgent:
    if run_cfg.method.name != "world_model":
        raise ConfigError(f"run={cfg.run} trained method={run_cfg.method.name}; agent=mpc needs a world model")
    space = _check_plannable(cfg, env_id, facts["dims"])
    k, p = run_cfg.method.frameskip, cfg.planner
    low, high = (np.tile(bound, 1 if p.hold else k) for bound in (space.low, space.high))
    graph = None
    if p.subgoals:
        start = time.perf_counter()
        graph = LatentGraph(
            episode_latents(model, run_cfg.data.root, k), metric=p.metric, link=p.link, lookahead=p.lookahead
        )
        log.info(
            "subgoal graph: %d recorded latents of %s (%.1f s)",
            len(graph.nodes),
            run_cfg.data.root,
            time.perf_counter() - start,
        )
    return MPCAgent(
        model,
        make_planner(p, low, high, cfg.seed),
        horizon=p.horizon,
        execute=p.execute,
        frameskip=k,
        hold=p.hold,
        proprio=run_cfg.method.proprio,
        metric=p.metric,
        graph=graph,
    )


def _trained(run: str, run_cfg: DictConfig) -> dict:
    """How the run's weights were trained, recorded beside its figures: a model trained in bf16 and one trained in
    fp32 (``train.precision=auto`` chooses by machine) are not the same experiment, nor are two training seeds."""
    path = ckpt.latest_checkpoint(Path(run).expanduser() / "checkpoints")
    precision, device = ckpt.read_train_values(path, "precision", "device_type")
    return {"run": run, "checkpoint": path.name, "seed": run_cfg.train.seed, "precision": precision, "device": device}


def rollout(cfg: DictConfig) -> dict:
    check_rollout(cfg)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.agent.name == "mpc":
        run_cfg, model, facts = load_run(cfg.run)
        env_id = cfg.env.id or _collected_env(run_cfg)
        agent = _mpc_agent(cfg, run_cfg, model, facts, env_id)
        trained = _trained(cfg.run, run_cfg)
    elif cfg.agent.name == "policy":
        run_cfg, policy, _ = load_run(cfg.run)
        agent = policy_agent(run_cfg, policy, cfg.agent.execute)
        env_id = cfg.env.id or _collected_env(run_cfg)
        trained = _trained(cfg.run, run_cfg)
    else:
        env_id, trained = cfg.env.id, None
        if cfg.agent.name == "expert":
            env = gym.make(env_id)
            agent = make_expert(env)
            env.close()
        else:
            agent = RandomAgent(_action_space(env_id), cfg.seed)
    out = rollout_out(cfg)
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "config.yaml").write_text(OmegaConf.to_yaml(cfg))  # what the figures of rollout.json came from
    return run_episodes(
        env_id,
        agent,
        episodes=cfg.episodes,
        seed=cfg.seed,
        max_steps=cfg.max_steps,
        gifs=cfg.gifs,
        out=Path(out),
        progress=cfg.progress,
        trained=trained,
    )
