"""What a person looks at after a batch of episodes: GIFs of them and the distance to the goal (or return) plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from jepa.train.plots import pyplot


def save_gif(frames: list[np.ndarray], path: str | Path, min_size: int = 192, ms_per_frame: int = 80) -> Path:
    """RGB uint8 frames (H, W, 3) -> an endlessly looping GIF. Small frames (64 px observations) are enlarged by
    the whole factor that makes them at least ``min_size`` wide, without smoothing, so pixels stay visible."""
    scale = max(1, min_size // frames[0].shape[1])
    images = [
        Image.fromarray(f).resize((f.shape[1] * scale, f.shape[0] * scale), Image.Resampling.NEAREST) for f in frames
    ]
    images[0].save(path, save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)
    return Path(path)


def _colour(episode: dict) -> str:
    """Green for a success, red for a failure, blue when the env does not report success."""
    if "success" not in episode:
        return "tab:blue"
    return "tab:green" if episode["success"] else "tab:red"


def plot_distances(episodes: list[dict], path: str | Path) -> Path:
    """True distance to the goal at every env step (``true_distance``, one value per step from the reset on) and,
    when every episode has it, the agent's latent distance to the goal latent at each replanning (``latent_distance``
    at env steps ``env_steps``) to its left: a falling latent distance with a flat true one is a model that plans
    towards the wrong place."""
    plt = pyplot()
    latent = all("latent_distance" in e for e in episodes)
    fig, axes = plt.subplots(1, 1 + latent, figsize=(5.5 * (1 + latent), 4), squeeze=False)
    for episode in episodes:
        colour = _colour(episode)
        if latent:
            axes[0, 0].plot(episode["env_steps"], episode["latent_distance"], color=colour, alpha=0.6)
        axes[0, -1].plot(episode["true_distance"], color=colour, alpha=0.6)
    if latent:
        axes[0, 0].set(title="latent distance to goal (planner energy)", xlabel="env step", yscale="log")
    axes[0, -1].set(title="true distance to goal", xlabel="env step", ylabel="env units")
    if all("success" in e for e in episodes):
        fig.suptitle(f"{sum(e['success'] for e in episodes)}/{len(episodes)} episodes reached the goal (green)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_returns(episodes: list[dict], mean: float, ci: tuple[float, float] | None, path: str | Path) -> Path:
    """The return of each episode (coloured by success when reported), their mean and its confidence interval
    (``ci``, None with a single episode): for envs whose info has no distance to a goal."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(range(len(episodes)), [e["return"] for e in episodes], c=[_colour(e) for e in episodes])
    ax.axhline(mean, color="black", label=f"mean {mean:.1f}")
    if ci is not None:
        ax.axhspan(*ci, color="grey", alpha=0.3, label=f"95% CI [{ci[0]:.1f}, {ci[1]:.1f}]")
    ax.set(title="return per episode", xlabel="episode", ylabel="return")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
