"""The VICReg recipe: its ``method`` section, its checks, and how the engine builds, rebuilds and evaluates it.
Importing this module registers ``method=vicreg``; ``JEPA_METHODS=vicreg_recipe`` has ``jepa`` import it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig
from torch import nn
from vicreg import VICReg

from jepa.common.errors import ConfigError
from jepa.config.checks import check_choice, check_positive
from jepa.data.images import IMAGE_DATASETS, pixel_normalisation
from jepa.data.views import MultiViewCollator, ViewMaker, ViewSpec
from jepa.losses import VCR
from jepa.recipes import Recipe, register
from jepa.recipes.checks import check_encoder, check_patches_tile_images, check_views
from jepa.recipes.parts import build_dataset, build_encoder, input_size, view_strengths
from jepa.recipes.probing import evaluate_encoder
from jepa.train.engine import TrainingSetup


@dataclass
class VICRegConfig:
    """VICReg: two views of each image augmented as ``views``, the encoder of ``model``, an expander MLP, and the
    variance and covariance terms of ``regularizer`` (``var_weight``, ``cov_weight``)."""

    name: str = "vicreg"
    expander_dim: int = 256  # width of the expander's layers (the paper's is 8192, for ResNet-50 features)
    invariance_weight: float = 1.0  # beside regularizer.var_weight=1 and cov_weight=0.04: the paper's 25:25:1
    crop_scale: list[float] = field(default_factory=lambda: [0.3, 1.0])  # the crop's share of the image area


def check(cfg: DictConfig) -> None:
    """Values the types cannot express, each error naming its key; the engine's sections are checked already."""
    check_encoder(cfg)
    check_choice("data.name", cfg.data.name, IMAGE_DATASETS)
    check_patches_tile_images(cfg)
    check_views(cfg, "method.crop_scale")
    check_positive(cfg, "method.expander_dim", "method.invariance_weight")
    if cfg.regularizer.name != "vcr":
        raise ConfigError(f"regularizer.name={cfg.regularizer.name}: VICReg's terms are VCR's; use regularizer=vcr")


def build_method(cfg: DictConfig, facts: dict | None = None) -> VICReg:
    """The ViT of ``model``, a three-layer expander and VCR: also how a checkpoint's architecture is rebuilt."""
    encoder = build_encoder(cfg.model, input_size(cfg.data))
    width = cfg.method.expander_dim
    expander = nn.Sequential(
        nn.Linear(encoder.embed_dim, width), nn.GELU(), nn.Linear(width, width), nn.GELU(), nn.Linear(width, width)
    )
    vcr = VCR(var_weight=cfg.regularizer.var_weight, cov_weight=cfg.regularizer.cov_weight)
    return VICReg(encoder, expander, vcr, cfg.method.invariance_weight)


def build(cfg: DictConfig, run_dir: Path) -> TrainingSetup:
    """The method, the training images and a collate function that makes two views of each."""
    method = build_method(cfg)  # first: its initial weights are the first draws after the engine's seed
    spec = ViewSpec(input_size(cfg.data), scale=tuple(cfg.method.crop_scale), **view_strengths(cfg))
    collate = MultiViewCollator([(spec, 2)], ViewMaker(*pixel_normalisation(cfg.data.name)))
    return TrainingSetup(method, build_dataset(cfg.data, "train", run_dir), collate)


# the optional sections it reads (besides data, optim, train, eval): a key set in any other is refused
register(Recipe(VICRegConfig, ("model", "regularizer", "views"), check, build, build_method, evaluate_encoder))
