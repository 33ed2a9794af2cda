"""Turn a typed config into the objects a run needs (dataset, masks, model, method)."""

from __future__ import annotations

from pathlib import Path

from torch import nn
from torch.utils.data import Dataset

from jepa.losses import VCR
from jepa.masks import MultiBlockMasks
from jepa.methods import MaskedJEPA
from jepa.models import MaskedPredictor, VisionTransformer, create_model
from jepa.train.config import Config, DataConfig, MaskConfig, ModelConfig, RegularizerConfig

REGULARIZERS = ("none", "vcr")


def build_encoder(cfg: ModelConfig, image_size: int) -> VisionTransformer:
    overrides = {k: getattr(cfg, k) for k in ("embed_dim", "depth", "num_heads") if getattr(cfg, k) is not None}
    return create_model(
        cfg.name,
        input_size=image_size,
        patch_size=cfg.patch_size,
        in_chans=cfg.in_chans,
        attn_backend=cfg.attn_backend,
        patch_embed=cfg.patch_embed,
        **overrides,
    )


def build_regularizer(cfg: RegularizerConfig) -> nn.Module | None:
    if cfg.name == "vcr":
        return VCR(var_weight=cfg.var_weight, cov_weight=cfg.cov_weight)
    return None


def build_method(cfg: Config) -> MaskedJEPA:
    encoder = build_encoder(cfg.model, cfg.data.image_size)
    predictor = MaskedPredictor(
        encoder.grid,
        encoder.embed_dim,
        predictor_dim=cfg.model.predictor_dim,
        depth=cfg.model.predictor_depth,
        num_heads=cfg.model.predictor_heads,
        attn_backend=cfg.model.attn_backend,
    )
    return MaskedJEPA(encoder, predictor, loss=cfg.optim.loss, regularizer=build_regularizer(cfg.regularizer))


def build_masks(cfg: MaskConfig, grid: tuple[int, ...]) -> MultiBlockMasks:
    return MultiBlockMasks(
        grid=tuple(grid),
        num_targets=cfg.num_targets,
        target_scale=tuple(cfg.target_scale),
        target_aspect=tuple(cfg.target_aspect),
        context_scale=tuple(cfg.context_scale),
        min_keep=cfg.min_keep,
        allow_overlap=cfg.allow_overlap,
    )


def build_dataset(cfg: DataConfig, split: str) -> Dataset:
    from jepa.data.images import build_image_dataset

    extra = {
        "shapes": {"num_train": cfg.num_train, "num_val": cfg.num_val, "seed": cfg.seed},
        "digits": {"seed": cfg.seed},
    }.get(cfg.name, {})
    return build_image_dataset(cfg.name, split, Path(cfg.root).expanduser(), cfg.image_size, **extra)
