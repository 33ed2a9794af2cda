"""``jepa plan``: goal-reaching Two-Rooms episodes driven by MPC in a trained world model's latent space.

Each episode starts and ends in different rooms (seeded resets); the goal is given only as an image. Writes
``plan.json`` (per-episode success, final distance, planning seconds per replanning; their summary),
GIFs of the first episodes and ``distance.png``, and prints a summary table.
"""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import envs  # noqa: F401  (registers jepa/TwoRooms-v0)
from evals import format_table, write_eval
from jepa.control.build import load_world_model
from jepa.control.config import PlanConfig
from jepa.control.report import plot_distances, save_gif
from jepa.data.trajectories import obs_to_tensor
from jepa.methods import WorldModel
from jepa.planning import MPC, PLANNERS, Planner, RolloutFn, goal_energy

ENV_ID = "jepa/TwoRooms-v0"


def make_planner(cfg: PlanConfig, low: np.ndarray, high: np.ndarray, seed: int) -> Planner:
    extra = {"temperature": cfg.temperature} if cfg.planner == "mppi" else {}
    return PLANNERS[cfg.planner](
        low,
        high,
        samples=cfg.samples,
        elites=cfg.elites,
        iterations=cfg.iterations,
        metric=cfg.metric,
        reduce=cfg.reduce,
        seed=seed,
        **extra,
    )


def model_actions(plan: torch.Tensor, frameskip: int, hold: bool) -> torch.Tensor:
    """Planned actions (..., A or frameskip * A) -> the model's per-step input (..., frameskip * A): a held
    action is repeated for each of the step's env steps."""
    return plan.repeat(*([1] * (plan.dim() - 1)), frameskip) if hold else plan


def rollout_fn(model: WorldModel, proprio: torch.Tensor | None, frameskip: int, hold: bool) -> RolloutFn:
    """Batched rollouts from one observed step; the current proprio state (1, 1, P), if any, is every candidate's."""

    def rollout(z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        actions = model_actions(actions, frameskip, hold)
        return model.rollout(z0, actions, None if proprio is None else proprio.expand(len(z0), -1, -1))

    return rollout


@torch.no_grad()
def run_episode(
    env: gym.Env, model: WorldModel, mpc: MPC, cfg: PlanConfig, frameskip: int, proprio: bool, seed: int
) -> tuple[dict, list[np.ndarray]]:
    """One seeded episode; -> (its record, the rendered frames with the goal ring)."""
    obs, info = env.reset(seed=seed)
    z_goal = model.encode(obs_to_tensor(env.unwrapped.goal_observation()[None]))[0]
    mpc.reset()
    frames, record = [env.render()], {"seed": seed, "env_steps": [], "latent_distance": [], "true_distance": []}
    step, done = 0, False
    while not done:
        z = model.encode(obs_to_tensor(obs[None]))  # (1, N, D): one observed step
        p = torch.as_tensor(info["pos"], dtype=torch.float32).view(1, 1, -1) if proprio else None
        record["env_steps"].append(step)
        record["latent_distance"].append(goal_energy(z[None], z_goal, cfg.metric).item())
        record["true_distance"].append(info["distance"])
        plan = mpc.act(rollout_fn(model, p, frameskip, cfg.hold), z, z_goal)
        for action in model_actions(plan, frameskip, cfg.hold).view(frameskip, -1).numpy():
            obs, _, terminated, truncated, info = env.step(action)
            frames.append(env.render())
            step += 1
            done = terminated or truncated
            if done:
                break
    record |= {
        "success": bool(info["success"]),
        "final_distance": info["distance"],
        "steps": step,
        "plan_seconds": statistics.mean(mpc.plan_seconds),
    }
    return record, frames


def run_planning(cfg: PlanConfig) -> dict:
    """All episodes of ``cfg``; returns what ``plan.json`` holds."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    model, train_cfg = load_world_model(cfg.run)
    out = Path(cfg.out or Path(cfg.run) / f"plan_{cfg.planner}").expanduser()
    out.mkdir(parents=True, exist_ok=True)
    env = gym.make(ENV_ID, render_mode="rgb_array", max_episode_steps=cfg.max_steps)
    k = train_cfg.frameskip
    low, high = (np.tile(bound, 1 if cfg.hold else k) for bound in (env.action_space.low, env.action_space.high))
    mpc = MPC(make_planner(cfg, low, high, cfg.seed), cfg.horizon, cfg.execute)
    episodes = []
    for i in range(cfg.episodes):
        record, frames = run_episode(env, model, mpc, cfg, k, train_cfg.proprio, cfg.seed + i)
        episodes.append(record)
        if i < cfg.gifs:
            save_gif(frames, out / f"episode_{i:02d}.gif")
        print(
            f"episode {i}: {'success' if record['success'] else 'failure'} after {record['steps']} steps, "
            f"final distance {record['final_distance']:.3f}, {record['plan_seconds']:.2f} s per replanning"
        )
    env.close()
    plan_seconds = [e["plan_seconds"] for e in episodes]
    summary = {
        "planner": cfg.planner,
        "episodes": len(episodes),
        "success_rate": statistics.mean(e["success"] for e in episodes),
        "final_distance": statistics.mean(e["final_distance"] for e in episodes),
        "plan_seconds": statistics.mean(plan_seconds),
        "plan_seconds_max": max(plan_seconds),
    }
    results = {"config": dataclasses.asdict(cfg), "summary": summary, "episodes": episodes}
    write_eval(results, out / "plan.json")
    plot_distances(episodes, out / "distance.png")
    print(format_table([summary], list(summary)))
    print(f"wrote {out / 'plan.json'}, {out / 'distance.png'} and {min(cfg.gifs, cfg.episodes)} GIFs")
    return results
