"""Build a world model from its settings, and save / load it as a checkpoint that rebuilds itself."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from jepa.control.config import WorldModelTrainConfig
from jepa.control.pretrained import build_pooled_encoder
from jepa.methods import WorldModel
from jepa.models import ActionConditionedPredictor, ConvEncoder
from jepa.train import checkpoint as ckpt
from jepa.train.build import build_regularizer
from jepa.train.config import RegularizerConfig


def build_world_model(
    cfg: WorldModelTrainConfig, image_size: int, action_dim: int, proprio_dim: int, encoder: dict | None = None
) -> WorldModel:
    """A block-causal predictor over a jointly trained ConvEncoder (VCR or SIGReg against collapse), or, given the
    ``encoder`` settings of :func:`jepa.control.pretrained.load_pretrained_encoder`, over that frozen ViT
    (random-init here: its weights are loaded afterwards). ``action_dim`` is the env's; a model step takes
    ``frameskip`` of them."""
    if encoder is None:
        frames = ConvEncoder(input_size=image_size, latent_dim=cfg.latent_dim, hidden_dim=cfg.encoder_hidden)
    else:
        frames = build_pooled_encoder(encoder, cfg.encoder_pool)
    predictor = ActionConditionedPredictor(
        frames.embed_dim,
        action_dim * cfg.frameskip,
        num_tokens=frames.num_tokens,
        proprio_dim=proprio_dim if cfg.proprio else 0,
        predictor_dim=cfg.predictor_dim,
        depth=cfg.predictor_depth,
        num_heads=cfg.predictor_heads,
    )
    return WorldModel(
        frames,
        predictor,
        loss=cfg.loss,
        rollout_steps=cfg.rollout_steps,
        regularizer=build_regularizer(
            RegularizerConfig(
                name=cfg.regularizer,
                var_weight=cfg.var_weight,
                cov_weight=cfg.cov_weight,
                sigreg_weight=cfg.sigreg_weight,
            )
        ),
        freeze_encoder=encoder is not None,
    )


def save_world_model(
    run_dir: str | Path,
    step: int,
    model: WorldModel,
    cfg: WorldModelTrainConfig,
    dims: dict[str, int],
    encoder: dict | None = None,
) -> Path:
    """A checkpoint under ``run_dir/checkpoints`` holding the weights (a frozen encoder's too), the settings, the
    data's ``dims`` (image_size, action_dim, proprio_dim) and a frozen encoder's settings: all
    :func:`load_world_model` needs."""
    state = {"config": dataclasses.asdict(cfg), "dims": dims, "encoder": encoder}
    return ckpt.save_checkpoint(Path(run_dir) / "checkpoints", step, model.state_dict(), state)


def load_world_model(run_dir: str | Path) -> tuple[WorldModel, WorldModelTrainConfig]:
    """The latest checkpoint of a ``jepa wm-train`` run, rebuilt and in eval mode, with its settings."""
    path = ckpt.latest_checkpoint(Path(run_dir) / "checkpoints")
    if path is None:
        raise FileNotFoundError(f"no checkpoint in {run_dir}/checkpoints; train first (jepa wm-train ...)")
    _, weights, state = ckpt.load_checkpoint(path)
    cfg = WorldModelTrainConfig(**state["config"])
    model = build_world_model(cfg, **state["dims"], encoder=state.get("encoder"))  # none before frozen encoders
    model.load_state_dict(weights, strict=True)
    return model.eval(), cfg
