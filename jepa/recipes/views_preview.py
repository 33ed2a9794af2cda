"""``views.png``: the views a multi-view recipe makes of a few training images, written when a run starts, so a
user sees what the method is asked to be invariant to (LeJEPA) or to relate by actions (seq-JEPA) before waiting
for the probes."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import DictConfig

from jepa.data.audio import AUDIO_DATASETS
from jepa.data.images import pixel_normalisation
from jepa.data.loader import BatchContext, Collate
from jepa.recipes.parts import input_size
from jepa.train.plots import pyplot

VIEWS_FILE = "views.png"


def _columns(views: torch.Tensor | list[torch.Tensor], size: int) -> list[torch.Tensor]:
    """A batch's views as columns of pictures (B, C, size, size): each group (B, count, C, ...) split into its
    ``count`` views; a clip shows its first frame, every view is resized to one size."""
    groups = views if isinstance(views, list) else [views]
    columns = []
    for group in groups:
        for i in range(group.shape[1]):
            view = group[:, i]
            view = view[:, :, 0] if view.dim() == 5 else view  # (B, C, T, H, W): the first frame
            columns.append(F.interpolate(view.float(), size=(size, size), mode="nearest"))
    return columns


def write_views(cfg: DictConfig, dataset, collate: Collate, run_dir: str | Path, images: int = 6) -> Path | None:
    """Draw the views the training collate makes of the first ``images`` training items, one row per item and one
    column per view (global views first), undoing the pixel normalisation; None when the batches hold no views."""
    images = min(images, len(dataset))
    batch = collate([dataset[i] for i in range(images)], BatchContext(0, cfg.train.seed, images, slice(0, images)))
    if "views" not in batch:
        return None
    columns = _columns(batch["views"], input_size(cfg.data)[0])  # the image side, or a clip's time frames
    if cfg.data.name in AUDIO_DATASETS:
        pictures = [c[:, :1].transpose(-1, -2) for c in columns]  # mel bins up, time along
        lo, hi = min(float(p.min()) for p in pictures), max(float(p.max()) for p in pictures)
        pictures = [((p - lo) / (hi - lo + 1e-8)).expand(-1, 3, -1, -1) for p in pictures]
    else:
        mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in pixel_normalisation(cfg.data.name))
        pictures = [(c * std + mean).clamp(0, 1) for c in columns]
    plt = pyplot()
    fig, axes = plt.subplots(images, len(pictures), figsize=(1.2 * len(pictures), 1.2 * images), squeeze=False)
    for column, picture in enumerate(pictures):
        for row in range(images):
            axes[row][column].imshow(picture[row].permute(1, 2, 0).numpy())
            axes[row][column].axis("off")
    fig.suptitle(f"{cfg.name}: the views of {images} training items (one row each)", fontsize=8)
    fig.tight_layout()
    path = Path(run_dir) / VIEWS_FILE
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
