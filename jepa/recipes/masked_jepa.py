"""The masked-prediction recipe (I-JEPA, V-JEPA, A-JEPA): the method, its data and masks from a config; probes of
the trained encoder against a random-init encoder and the raw inputs, on held-out data."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from jepa.masks import MaskCollator
from jepa.methods import MaskedJEPA
from jepa.models import MaskedPredictor
from jepa.recipes.parts import build_dataset, build_encoder, build_masks, build_regularizer, clip_frames, input_size
from jepa.recipes.probing import evaluate_encoder
from jepa.recipes.registry import Recipe, register
from jepa.train.engine import TrainingSetup


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


register("masked_jepa", Recipe(build=build, rebuild=build_method, evaluate=evaluate_encoder))
