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
    """frames (B, C, H, W) -> the ViT's patch tokens average-pooled to a ``pool`` x ``pool`` grid (B, pool², D),
    each entry standardised by ``mean`` and ``scale`` (buffers; identity until :meth:`standardise`)."""

    def __init__(self, vit: VisionTransformer, pool: int):
        super().__init__()
        if not 0 < pool <= min(vit.grid):
            raise ConfigError(
                f"method.encoder_pool must be in [1, {min(vit.grid)}] for a {vit.grid} token grid, got {pool}"
            )
        self.vit, self.pool = vit, pool
        self.embed_dim, self.num_tokens = vit.embed_dim, pool * pool
        self.register_buffer("mean", torch.zeros(self.num_tokens, self.embed_dim))
        self.register_buffer("scale", torch.ones(self.num_tokens, self.embed_dim))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        tokens = self.vit(frames)
        grid = tokens.transpose(1, 2).unflatten(2, self.vit.grid)  # (B, D, h, w)
        pooled = F.adaptive_avg_pool2d(grid, self.pool).flatten(2).transpose(1, 2)
        return (pooled - self.mean) / self.scale

    @torch.no_grad()
    def standardise(self, latents: torch.Tensor) -> None:
        """Scale every entry to unit spread over ``latents`` (N, pool², D), this encoder's unstandardised outputs.

        Frames of one scene differ only where something moves: in a pretrained ViT's tokens of Two-Rooms a step
        of the agent changes a tenth of the entries, by as little as the predictor's error, and the L1 a planner
        scores with is flat. Per-entry standardisation weighs what varies, not the static background."""
        self.mean.copy_(latents.mean(0))
        spread = latents.std(0)
        self.scale.copy_(spread.clamp_min(1e-6 * float(spread.max())))


def build_pooled_encoder(settings: dict, pool: int) -> PooledEncoder:
    """A (random-init) pooled ViT from the settings :func:`load_pretrained_encoder` returns."""
    return PooledEncoder(build_encoder(ModelConfig(**settings["model"]), settings["image_size"]), pool)


def load_pretrained_encoder(run_dir: str, image_size: int) -> tuple[VisionTransformer, dict]:
    """The eval encoder of a ``jepa train`` run's latest checkpoint and its settings (model config, image size),
    checked to read ``image_size`` px frames normalised as :func:`jepa.data.trajectories.obs_to_tensor` does."""
    if ckpt.latest_checkpoint(Path(run_dir).expanduser() / "checkpoints") is None:
        raise ConfigError(f"method.encoder={run_dir} is not a jepa train run: no {run_dir}/checkpoints/latest")
    try:
        cfg, method, _ = load_run(run_dir)
    except (KeyError, OmegaConfBaseException) as err:
        raise ConfigError(f"method.encoder={run_dir} is not a jepa train run of an encoder ({err})") from None
    if cfg.method.name != "masked_jepa" or clip_frames(cfg.data) or cfg.data.name not in IMAGENET_NORMALISED:
        raise ConfigError(
            f"method.encoder={run_dir} was trained with method={cfg.method.name} on data.name={cfg.data.name}; a "
            f"world model needs an image encoder whose inputs were normalised like its frames "
            f"({', '.join(IMAGENET_NORMALISED)})"
        )
    if cfg.data.image_size != image_size:
        raise ConfigError(
            f"method.encoder={run_dir} was pretrained on {cfg.data.image_size} px images; the frames are "
            f"{image_size} px"
        )
    settings = {"model": OmegaConf.to_container(cfg.model), "image_size": image_size}
    return method.eval_encoder(), settings
