"""What a person looks at after ``jepa plan``: GIFs of episodes and the latent distance to the goal over time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def save_gif(frames: list[np.ndarray], path: str | Path, scale: int = 3, ms_per_frame: int = 80) -> Path:
    """RGB uint8 frames (H, W, 3) -> an endlessly looping GIF, enlarged ``scale`` times without smoothing."""
    images = [
        Image.fromarray(f).resize((f.shape[1] * scale, f.shape[0] * scale), Image.Resampling.NEAREST) for f in frames
    ]
    images[0].save(path, save_all=True, append_images=images[1:], duration=ms_per_frame, loop=0)
    return Path(path)


def plot_distances(episodes: list[dict], path: str | Path) -> Path:
    """Latent distance to the goal latent (left) and true distance to the goal (right) at each replanning step;
    successful episodes green, failed ones red."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for episode in episodes:
        colour = "tab:green" if episode["success"] else "tab:red"
        axes[0].plot(episode["env_steps"], episode["latent_distance"], color=colour, alpha=0.6)
        axes[1].plot(episode["env_steps"], episode["true_distance"], color=colour, alpha=0.6)
    axes[0].set(title="latent distance to goal (planner energy)", xlabel="env step", yscale="log")
    axes[1].set(title="true distance to goal", xlabel="env step", ylabel="arena units")
    fig.suptitle(f"{sum(e['success'] for e in episodes)}/{len(episodes)} episodes reached the goal (green)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
