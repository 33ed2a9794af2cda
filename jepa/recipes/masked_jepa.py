"""The masked-prediction recipe (I-JEPA, V-JEPA, A-JEPA): the method, its data and masks from a config; probes of
the trained encoder against a random-init encoder and the raw inputs, on held-out data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from jepa.common.errors import ConfigError
from jepa.config.checks import check_choice, check_pairs
from jepa.data.audio import AUDIO_DATASETS
from jepa.data.images import IMAGE_DATASETS
from jepa.data.video import VIDEO_DATASETS
from jepa.masks import MaskCollator
from jepa.methods import MaskedJEPA
from jepa.models import MaskedPredictor
from jepa.recipes.checks import (
    check_audio,
    check_encoder,
    check_masks,
    check_objective,
    check_patches_tile_images,
    check_video,
)
from jepa.recipes.parts import build_dataset, build_encoder, build_masks, build_regularizer, clip_frames, input_size
from jepa.recipes.probing import evaluate_encoder
from jepa.recipes.registry import Recipe, register
from jepa.train.engine import TrainingSetup


@dataclass
class MaskedJEPAConfig:
    """I-JEPA, V-JEPA and A-JEPA: the encoder is ``model``, the masks ``mask``, the anti-collapse term
    ``regularizer``; the modality follows from ``data``."""

    name: str = "masked_jepa"


def check(cfg: DictConfig) -> None:
    """The encoder, the data's modality and the masks that fit it, and a target that cannot collapse unasked."""
    check_objective(cfg)
    check_encoder(cfg)
    check_choice("data.name", cfg.data.name, IMAGE_DATASETS + VIDEO_DATASETS + AUDIO_DATASETS)
    if cfg.regularizer.online_target and cfg.regularizer.name == "none" and not cfg.regularizer.allow_collapse:
        raise ConfigError(
            "regularizer.online_target=true needs regularizer.name=sigreg or vcr (it collapses otherwise); "
            "to run the collapse ablation on purpose, add regularizer.allow_collapse=true"
        )
    audio, video = cfg.data.name in AUDIO_DATASETS, cfg.data.name in VIDEO_DATASETS
    if not audio:
        check_patches_tile_images(cfg)
    check_pairs(cfg, "mask.target_scale", "mask.target_aspect", "mask.context_scale", "mask.stripe_scale")
    if video:
        check_video(cfg)
    if audio:
        check_audio(cfg)
    check_masks(cfg, "video" if video else "audio" if audio else "images")


def build_method(cfg: DictConfig, facts: dict | None = None) -> MaskedJEPA:
    """The context encoder of ``model`` for the data's input, a predictor with one mask token per mask generator,
    the EMA target (or LeJEPA's online target) and the anti-collapse term of ``regularizer``."""
    encoder = build_encoder(cfg.model, input_size(cfg.data), clip_frames(cfg.data))
    predictor = MaskedPredictor(
        encoder.grid,
        encoder.embed_dim,
        predictor_dim=cfg.model.predictor_dim,
        depth=cfg.model.predictor_depth,
        num_heads=cfg.model.predictor_heads,
        num_mask_tokens=build_masks(cfg.mask, encoder.grid, cfg.train.steps).num_generators,
        attn_backend=cfg.model.attn_backend,
        pos_embed=cfg.model.pos_embed,
    )
    return MaskedJEPA(
        encoder,
        predictor,
        loss=cfg.optim.loss,
        regularizer=build_regularizer(cfg.regularizer),
        online_target=cfg.regularizer.online_target,
        allow_collapse=cfg.regularizer.allow_collapse,
    )


def build(cfg: DictConfig, run_dir: Path) -> TrainingSetup:
    """The method, the training split and a collate function that draws the masks of each batch."""
    method = build_method(cfg)  # first: its initial weights are the first draws after the engine's seed
    train_set = build_dataset(cfg.data, "train", run_dir)
    masks = build_masks(cfg.mask, method.encoder.grid, cfg.train.steps)
    return TrainingSetup(method, train_set, MaskCollator(masks))


register(Recipe(MaskedJEPAConfig, ("model", "mask", "regularizer"), check, build, build_method, evaluate_encoder))
