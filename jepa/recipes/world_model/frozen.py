"""A frozen ``jepa train`` encoder for the world model, pooled to a few tokens per frame.

Planning rolls out hundreds of candidate action sequences per replanning, and each frame token of each step
costs predictor attention, so a ViT's patch tokens are average-pooled to a small grid. The encoder's model
settings travel in the world-model checkpoint: it rebuilds without the pretraining run directory.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException
from torch import nn

from jepa.common.errors import ConfigError
from jepa.config.schema import ModelConfig
from jepa.data.images import IMAGENET_NORMALISED
from jepa.models import VisionTransformer
from jepa.recipes.parts import build_encoder, clip_frames
from jepa.recipes.registry import load_run
from jepa.train import checkpoint as ckpt


class PooledEncoder(nn.Module):
    """frames (B, C, H, W) -> the ViT's patch tokens average-pooled to a ``pool`` x ``pool`` grid, then read out by
    a map fitted to the training frames (:meth:`fit`): each entry standardised (B, pool², D), or with
    ``components`` > 0 the whole grid projected onto its leading principal components, whitened (B, 1, components).
    The map's statistics are buffers (identity, or zeros for the projection, until fitted)."""

    def __init__(self, vit: VisionTransformer, pool: int, components: int = 0):
        super().__init__()
        if not 0 < pool <= min(vit.grid):
            raise ConfigError(
                f"method.encoder_pool must be in [1, {min(vit.grid)}] for a {vit.grid} token grid, got {pool}"
            )
        width = pool * pool * vit.embed_dim
        if not 0 <= components <= width:
            raise ConfigError(f"method.encoder_components must be in [0, {width}] for {pool}² pooled tokens")
        self.vit, self.pool, self.components = vit, pool, components
        self.num_tokens, self.embed_dim = (1, components) if components else (pool * pool, vit.embed_dim)
        self.register_buffer("mean", torch.zeros(pool * pool, vit.embed_dim))
        self.register_buffer("scale", torch.ones(pool * pool, vit.embed_dim))
        if components:
            self.register_buffer("projection", torch.zeros(width, components))

    def pooled(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, C, H, W) -> the pooled patch tokens (B, pool², D) before the read-out."""
        grid = self.vit(frames).transpose(1, 2).unflatten(2, self.vit.grid)  # (B, D, h, w)
        return F.adaptive_avg_pool2d(grid, self.pool).flatten(2).transpose(1, 2)

    def read_out(self, pooled: torch.Tensor) -> torch.Tensor:
        """Pooled tokens (B, pool², D) -> latents (B, num_tokens, embed_dim)."""
        z = (pooled - self.mean) / self.scale
        return z.flatten(1).matmul(self.projection).unsqueeze(1) if self.components else z

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.read_out(self.pooled(frames))

    @torch.no_grad()
    def fit(self, pooled: torch.Tensor, standardise: bool, max_frames: int = 20000) -> None:
        """Fit the read-out to ``pooled`` (N, pool², D), the training frames' pooled tokens.

        Frames of one scene differ only where something moves: in a pretrained ViT's tokens of Two-Rooms a step
        of the agent changes a tenth of the entries, by as little as the predictor's error, and the L1 a planner
        scores with is flat. ``standardise`` weighs every entry by its spread over the frames instead of its
        size; principal components keep the few directions the frames vary along (where the agent is), each at
        unit variance, and drop the rest. Centred on the mean either way; at most ``max_frames`` frames (evenly
        spaced) fit the components."""
        self.mean.copy_(pooled.mean(0))
        if standardise:
            spread = pooled.std(0)
            self.scale.copy_(spread.clamp_min(1e-6 * float(spread.max())))
        if self.components:
            rows = torch.linspace(0, len(pooled) - 1, min(len(pooled), max_frames)).long()
            centred = ((pooled[rows] - self.mean) / self.scale).flatten(1).double()
            _, singular, directions = torch.linalg.svd(centred, full_matrices=False)
            spread = singular[: self.components] / (len(rows) - 1) ** 0.5
            whitened = directions[: self.components].T / spread.clamp_min(1e-6 * float(spread[0]))
            self.projection.copy_(whitened.float())


def build_pooled_encoder(settings: dict, pool: int, components: int = 0) -> PooledEncoder:
    """A (random-init) pooled ViT from the settings :func:`load_pretrained_encoder` returns."""
    return PooledEncoder(build_encoder(ModelConfig(**settings["model"]), settings["image_size"]), pool, components)


def load_pretrained_encoder(run_dir: str, image_size: int) -> tuple[VisionTransformer, dict]:
    """The eval encoder of a ``jepa train`` run's latest checkpoint and its settings (model config, image size),
    checked to read ``image_size`` px frames normalised as :func:`jepa.data.trajectories.obs_to_tensor` does."""
    if ckpt.latest_checkpoint(Path(run_dir).expanduser() / "checkpoints") is None:
        raise ConfigError(f"method.encoder={run_dir} is not a jepa train run: no {run_dir}/checkpoints/latest")
    try:
        cfg, method, _ = load_run(run_dir)
    except (KeyError, OmegaConfBaseException) as err:
        raise ConfigError(f"method.encoder={run_dir} is not a jepa train run of an encoder ({err})") from None
    encoder = method.eval_encoder() if hasattr(method, "eval_encoder") else None  # a world model run has none
    if not isinstance(encoder, VisionTransformer) or clip_frames(cfg.data) or cfg.data.name not in IMAGENET_NORMALISED:
        raise ConfigError(
            f"method.encoder={run_dir} was trained with method={cfg.method.name} on data.name={cfg.data.name}; a "
            f"world model needs an image ViT (I-JEPA, LeJEPA) whose inputs were normalised like its frames "
            f"({', '.join(IMAGENET_NORMALISED)})"
        )
    if cfg.data.image_size != image_size:
        raise ConfigError(
            f"method.encoder={run_dir} was pretrained on {cfg.data.image_size} px images; the frames are "
            f"{image_size} px"
        )
    settings = {"model": OmegaConf.to_container(cfg.model), "image_size": image_size}
    return encoder, settings
