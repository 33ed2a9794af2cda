"""Run an agent for seeded episodes of any registered env and report them with 95 % confidence intervals.

A success rate from 20 episodes is uncertain by about ±20 points, so comparing agents by their point estimates
alone misleads; every rate and mean in the summary comes with its interval.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from envs import goal_observer  # importing envs registers the jepa/ env ids
from evals import format_table, write_eval
from evals.intervals import mean_interval, wilson_interval
from jepa.agents.protocol import Agent, RecordsEpisodes
from jepa.agents.report import plot_distances, plot_returns, save_gif


def _summary(episodes: list[dict]) -> dict[str, Any]:
    """Means and 95 % intervals over the episode records; figures the env or agent did not report are left out."""
    summary: dict[str, Any] = {"episodes": len(episodes)}
    if all("success" in e for e in episodes):
        successes = sum(e["success"] for e in episodes)
        low, high = wilson_interval(successes, len(episodes))
        summary |= {"success_rate": successes / len(episodes), "success_ci_low": low, "success_ci_high": high}
    mean, ci = mean_interval([e["return"] for e in episodes])
    low, high = ci if ci else (None, None)
    summary |= {"return": mean, "return_ci_low": low, "return_ci_high": high}
    summary["steps"] = statistics.mean(e["steps"] for e in episodes)
    if all("true_distance" in e for e in episodes):
        summary["final_distance"] = statistics.mean(e["true_distance"][-1] for e in episodes)
    if all("plan_seconds" in e for e in episodes):
        seconds = [e["plan_seconds"] for e in episodes]
        summary |= {"plan_seconds": statistics.mean(seconds), "plan_seconds_max": max(seconds)}
    return summary


def _episode(env: gym.Env, agent: Agent, seed: int, render: bool) -> tuple[dict[str, Any], list[np.ndarray]]:
    """One seeded episode -> (its record, the rendered frames if ``render``)."""
    goal_observation = goal_observer(env)

    def with_goal(info: dict[str, Any]) -> dict[str, Any]:
        return info if goal_observation is None else {**info, "goal_observation": goal_observation()}

    obs, info = env.reset(seed=seed)
    info = with_goal(info)
    agent.reset(seed)
    frames = [env.render()] if render else []
    record: dict[str, Any] = {"seed": seed, "env_steps": []}
    distance = [info["distance"]] if "distance" in info else None
    total, step, done = 0.0, 0, False
    while not done:
        record["env_steps"].append(step)
        actions = np.asarray(agent.act(obs, info))
        chunk = actions[None] if actions.ndim == len(env.action_space.shape) else actions
        if len(chunk) == 0:
            raise ValueError(f"{type(agent).__name__}.act returned an empty action chunk {actions.shape}")
        for action in chunk:
            obs, reward, terminated, truncated, info = env.step(action)
            info = with_goal(info)
            total += float(reward)
            step += 1
            if distance is not None:
                distance.append(info["distance"])
            if render:
                frames.append(env.render())
            done = terminated or truncated
            if done:
                break
    record |= {"return": total, "steps": step}
    if "success" in info:
        record["success"] = bool(info["success"])
    if distance is not None:
        record["true_distance"] = distance
    if isinstance(agent, RecordsEpisodes):
        record |= agent.episode_record()
    return record, frames


def _describe(i: int, record: dict[str, Any]) -> str:
    parts = [f"episode {i} (seed {record['seed']}): return {record['return']:.2f} in {record['steps']} steps"]
    if "success" in record:
        parts.append("success" if record["success"] else "failure")
    if "true_distance" in record:
        parts.append(f"final distance {record['true_distance'][-1]:.3f}")
    if "plan_seconds" in record:
        parts.append(f"{record['plan_seconds']:.2f} s per replanning")
    return ", ".join(parts)


def run_episodes(
    env_id: str,
    agent: Agent,
    *,
    episodes: int,
    seed: int = 0,
    max_steps: int | None = None,
    gifs: int = 3,
    out: Path,
    progress: bool = True,
    trained: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run ``agent`` for ``episodes`` episodes of ``env_id`` (episode i reset with seed ``seed + i``, at most
    ``max_steps`` steps, default the env's time limit) and report them under ``out``:

    - ``rollout.json``: the env id, the arguments, how the agent was trained (``trained``: its run, checkpoint,
      seed and precision, when it was), the summary (success rate with its Wilson interval when the env
      reports success, mean return with its t-interval, mean and max over episodes of the agent's mean seconds
      per replanning when it reports them) and the per-episode records;
    - ``episode_XX.gif`` for the first ``gifs`` episodes;
    - ``rollout.png``: the distance to the goal over time when the env's info has ``distance``, else the returns.

    Returns what ``rollout.json`` holds, and prints a line per episode and the summary table.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    env = gym.make(env_id, render_mode="rgb_array", max_episode_steps=max_steps)
    records = []
    try:
        for i in tqdm(range(episodes), desc=env_id, unit="episode", disable=not progress):
            record, frames = _episode(env, agent, seed + i, render=i < gifs)
            records.append(record)
            if frames:
                save_gif(frames, out / f"episode_{i:02d}.gif")
            tqdm.write(_describe(i, record))
    finally:
        env.close()
    summary = _summary(records)
    arguments = {
        "agent": type(agent).__name__,
        "episodes": episodes,
        "seed": seed,
        "max_steps": max_steps,
        "gifs": gifs,
    }
    results = {"env_id": env_id, "arguments": arguments, "summary": summary, "episodes": records}
    if trained is not None:
        results = {"env_id": env_id, "trained": trained} | results
    write_eval(results, out / "rollout.json")
    if all("true_distance" in r for r in records):
        plot_distances(records, out / "rollout.png")
    else:
        ci = None if summary["return_ci_low"] is None else (summary["return_ci_low"], summary["return_ci_high"])
        plot_returns(records, summary["return"], ci, out / "rollout.png")
    print(format_table([summary], list(summary)))
    print(f"wrote {out / 'rollout.json'}, {out / 'rollout.png'} and {min(gifs, episodes)} GIFs")
    return results
