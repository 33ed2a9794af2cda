"""The world-model recipe: an action-conditioned JEPA world model trained by the engine on the windows of a
``jepa collect`` directory, checked on held-out episodes (teacher-forcing and rollout losses, position probe)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig

from evals import format_table, write_eval
from jepa.common.errors import ConfigError
from jepa.common.runtime import select_device
from jepa.config.checks import check_choice, check_positive
from jepa.data.trajectories import sample_frames, shard_split
from jepa.methods import WorldModel
from jepa.models import ActionConditionedPredictor, ConvEncoder
from jepa.recipes.checks import check_objective
from jepa.recipes.parts import build_regularizer
from jepa.recipes.registry import Recipe, register
from jepa.recipes.world_model.data import (
    EncodedWindows,
    ModelSteps,
    data_dims,
    encode_frames,
    split_by_shard,
    state_statistics,
    validation_losses,
    window_dataset,
)
from jepa.recipes.world_model.frozen import build_pooled_encoder, load_pretrained_encoder
from jepa.recipes.world_model.probe import position_probe
from jepa.train.engine import TrainingSetup
from jepa.train.plots import plot_run


@dataclass
class WorldModelConfig:
    """An action-conditioned world model on the windows of a ``jepa collect`` directory (``data.root``)."""

    name: str = "world_model"
    frameskip: int = 5  # env steps per model step
    window: int = 9  # model steps per training window (observations)
    rollout_steps: int = 8  # autoregressive steps in the rollout loss, <= window - 1: as far as plans look
    encoder: str = ""  # a `jepa train` run directory: its frozen encoder; empty = a ConvEncoder trained jointly
    encoder_pool: int = 2  # frozen encoder: patch tokens average-pooled to an encoder_pool x encoder_pool grid
    encoder_init: str = "pretrained"  # frozen encoder: pretrained | random (its architecture, random weights)
    encoder_standardise: bool = True  # frozen encoder: each latent entry to unit spread over the training frames
    encoder_components: int = 0  # frozen encoder: > 0 projects the pooled grid on this many principal components
    latent_dim: int = 16  # ConvEncoder; 2 makes it a position detector for one agent (docs/control.md)
    encoder_hidden: int = 128  # ConvEncoder: MLP width from its features to the latent; 0 = an affine map
    predictor_dim: int = 128
    predictor_depth: int = 3
    predictor_heads: int = 4
    proprio: bool = False  # give the predictor the true state as a proprio token
    smooth_weight: float = 0.0  # jointly trained encoder: weight of the consecutive latents' squared change (PLDM)
    probe_frames: int = 4000  # frames per split for the held-out position probe


def check(cfg: DictConfig) -> None:
    """Trajectories as data, a rollout inside the window, and a jointly trained encoder kept from collapse."""
    m = cfg.method
    check_objective(cfg)
    check_positive(cfg, "method.frameskip", "method.latent_dim", "method.encoder_pool", "method.probe_frames")
    check_positive(cfg, "method.predictor_dim", "method.predictor_depth", "method.predictor_heads")
    if cfg.data.name != "trajectories":
        raise ConfigError(
            f"data.name={cfg.data.name}: a world model trains on a `jepa collect` directory; "
            "set data=trajectories data.root=<that directory>"
        )
    check_choice("method.encoder_init", m.encoder_init, ("pretrained", "random"))
    if m.encoder_hidden < 0:
        raise ConfigError(f"method.encoder_hidden={m.encoder_hidden} must be >= 0 (0 = affine)")
    if m.encoder_components < 0:
        raise ConfigError(f"method.encoder_components={m.encoder_components} must be >= 0 (0 = keep the tokens)")
    if m.window < 2:
        raise ConfigError(f"method.window={m.window} must be >= 2 (one step to predict)")
    if m.smooth_weight < 0:
        raise ConfigError(f"method.smooth_weight={m.smooth_weight} must be >= 0")
    if not 0 <= m.rollout_steps < m.window:
        raise ConfigError(f"method.rollout_steps={m.rollout_steps} must lie in [0, method.window - 1 = {m.window - 1}]")
    if m.predictor_dim % (2 * m.predictor_heads):
        raise ConfigError(f"method.predictor_dim={m.predictor_dim} must be a multiple of 2 * method.predictor_heads")
    if not m.encoder and cfg.regularizer.name == "none":
        raise ConfigError("regularizer.name=none: a jointly trained world-model encoder collapses; use sigreg or vcr")


log = logging.getLogger(__name__)


def build_world_model(cfg: DictConfig, facts: dict) -> WorldModel:
    """A block-causal predictor over a jointly trained ConvEncoder (VCR or SIGReg against collapse), or, when
    ``facts["encoder"]`` holds a frozen encoder's settings, over that (random-init here: the weights come from
    the pretraining run or the checkpoint). ``facts["dims"]``: image_size, action_dim (the env's; a model step
    takes ``frameskip`` of them) and proprio_dim; ``facts["proprio"]``: the training states' mean and std (runs from
    before it was recorded read the states unstandardised)."""
    m, dims, encoder = cfg.method, facts["dims"], facts.get("encoder")
    stats = facts.get("proprio") if m.proprio else None
    if encoder is None:
        frames = ConvEncoder(input_size=dims["image_size"], latent_dim=m.latent_dim, hidden_dim=m.encoder_hidden)
    else:
        frames = build_pooled_encoder(encoder, m.encoder_pool, m.encoder_components)
    predictor = ActionConditionedPredictor(
        frames.embed_dim,
        dims["action_dim"] * m.frameskip,
        num_tokens=frames.num_tokens,
        proprio_dim=dims["proprio_dim"] if m.proprio else 0,
        predictor_dim=m.predictor_dim,
        depth=m.predictor_depth,
        num_heads=m.predictor_heads,
    )
    return WorldModel(
        frames,
        predictor,
        loss=cfg.optim.loss,
        rollout_steps=m.rollout_steps,
        regularizer=build_regularizer(cfg.regularizer),
        freeze_encoder=encoder is not None,
        proprio_mean=None if stats is None else torch.tensor(stats["mean"]),
        proprio_std=None if stats is None else torch.tensor(stats["std"]),
        smooth_weight=m.smooth_weight,
    )


def build(cfg: DictConfig, run_dir: Path) -> TrainingSetup:
    """The model and the training windows (held-out shards excluded); a frozen encoder encodes every frame once."""
    windows = window_dataset(cfg.data.root, cfg.method.window, cfg.method.frameskip)
    facts: dict = {"dims": data_dims(windows), "encoder": None}
    train_shards = shard_split(windows.meta, windows.bad_shards, cfg.data.val_shards)[0]
    if cfg.method.proprio:
        facts["proprio"] = state_statistics(windows, train_shards)
    pretrained = None
    if cfg.method.encoder:
        pretrained, facts["encoder"] = load_pretrained_encoder(cfg.method.encoder, facts["dims"]["image_size"])
    model = build_world_model(cfg, facts)
    if pretrained is not None:
        if cfg.method.encoder_init == "pretrained":
            model.encoder.vit.load_state_dict(pretrained.state_dict(), strict=True)
        log.info(
            "encoding every frame of %s once with the frozen encoder of %s (%s weights)",
            cfg.data.root,
            cfg.method.encoder,
            cfg.method.encoder_init,
        )
        fitted = cfg.method.encoder_standardise or cfg.method.encoder_components
        fit_shards = train_shards if fitted else []
        windows = EncodedWindows(windows, model, fit_shards, cfg.method.encoder_standardise)
    train_set, val_set = split_by_shard(windows, cfg.data.val_shards)
    log.info("training on %d windows (%d held out) of %s", len(train_set), len(val_set), cfg.data.root)
    return TrainingSetup(model, train_set, ModelSteps(cfg.method.frameskip, cfg.method.proprio), facts)


def _fit_read_out(cfg: DictConfig, model: WorldModel, windows) -> None:
    """Fit a random-init frozen encoder's read-out (standardisation, principal components) as training fitted the
    trained one's, on ``method.probe_frames`` training frames: unfitted, it would compare an unread ViT."""
    m = cfg.method
    if not (m.encoder_standardise or m.encoder_components):
        return
    train_shards, _ = shard_split(windows.meta, windows.bad_shards, cfg.data.val_shards)
    frames, _ = sample_frames(windows, train_shards, m.probe_frames, cfg.train.seed)
    model.encoder.fit(encode_frames(model, frames, encode=model.encoder.pooled), m.encoder_standardise)


def evaluate(cfg: DictConfig, model: WorldModel, facts: dict) -> dict:
    """Held-out teacher-forcing and rollout losses and the position probe (against a random-init model of the same
    architecture and raw pixels); writes ``eval.json`` and ``summary.png`` and prints them."""
    device = select_device(cfg.train.device)
    model.eval().to(device)
    windows = window_dataset(cfg.data.root, cfg.method.window, cfg.method.frameskip)
    _, val_set = split_by_shard(windows, cfg.data.val_shards)
    results = dict(validation_losses(model, val_set, ModelSteps(cfg.method.frameskip, cfg.method.proprio)))
    torch.manual_seed(cfg.train.seed + 1)
    random_init = build_world_model(cfg, facts).eval().to(device)
    if facts["encoder"] is not None:
        _fit_read_out(cfg, random_init, windows)
    results["rows"] = position_probe(
        {"world_model": model, "random_init": random_init},
        windows,
        cfg.data.val_shards,
        cfg.method.probe_frames,
        cfg.train.seed,
    )
    run_dir = Path(cfg.run_dir)
    write_eval(results, run_dir / "eval.json")
    print("\nheld-out losses: " + ", ".join(f"{k} {v:.4f}" for k, v in results.items() if k.startswith("val_")))
    print("agent position on held-out episodes (ridge R²; state error of the nearest training latent):")
    print(format_table(results["rows"], ["encoder", "r2", "nn_state_error"]))
    plot_run(run_dir)
    print(f"wrote {run_dir / 'eval.json'} and {run_dir / 'summary.png'}")
    return results


register(Recipe(WorldModelConfig, ("regularizer",), check, build, build_world_model, evaluate))
