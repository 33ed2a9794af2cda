"""The masked-prediction recipe (I-JEPA, V-JEPA, A-JEPA): the method, its data and masks from a config; probes of
the trained encoder against a random-init encoder and the raw inputs, on held-out data."""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from omegaconf import DictConfig

from evals import RawPatches, evaluate_encoders, format_table, write_eval
from evals.report import PROBES
from jepa.common.runtime import select_device
from jepa.data.audio import AUDIO_DATASETS
from jepa.masks import MaskCollator
from jepa.methods import MaskedJEPA
from jepa.models import MaskedPredictor
from jepa.recipes.parts import (
    build_dataset,
    build_encoder,
    build_masks,
    build_regularizer,
    clip_frames,
    input_size,
)
from jepa.recipes.registry import Recipe, register
from jepa.train.engine import TrainingSetup
from jepa.train.plots import plot_run

log = logging.getLogger(__name__)

DYNAMICS_LABELS = ("velocity",)  # float labels of video datasets that also get an attentive probe


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


def evaluate(cfg: DictConfig, method: MaskedJEPA, facts: dict | None = None) -> dict:
    """Linear and kNN probes of the main label (if the dataset has one) plus every other label it carries; on
    video and audio also an attentive probe of the main label, and on video of the dynamics labels (motion
    direction and velocity for the moving shapes). Writes ``eval.json`` and the summary plot into the run
    directory and prints the table."""
    device = select_device(cfg.train.device)
    train_set, val_set = (build_dataset(cfg.data, split, cfg.run_dir) for split in ("train", "val"))
    frames = clip_frames(cfg.data)
    # video and audio labels lie in how tokens relate over time, which only a probe reading the tokens sees
    token_probes = frames is not None or cfg.data.name in AUDIO_DATASETS
    encoders: dict = {"pretrained": method.eval_encoder()}
    if cfg.eval.baselines:
        torch.manual_seed(cfg.train.seed + 1)
        encoders["random_init"] = build_encoder(cfg.model, input_size(cfg.data), frames)
        # the raw baseline is cut into the encoder's patches (tubelets), so the attentive probe can read it too
        patch = (*([cfg.model.tubelet_size] if frames else []), cfg.model.patch_size, cfg.model.patch_size)
        encoders["raw_input"] = RawPatches(patch) if token_probes else None
    labels = getattr(train_set, "labels", {})
    main = getattr(train_set, "main_label", None)
    attentive = [main, *(name for name in DYNAMICS_LABELS if name in labels)] if token_probes else []
    rows = evaluate_encoders(
        {k: v if v is None else v.to(device) for k, v in encoders.items()},
        train_set,
        val_set,
        label_names=[name for name in labels if name != main],
        attentive_labels=attentive,
        probes=PROBES if main is not None else (),
        device=device,
        batch_size=cfg.eval.batch_size,
        seed=cfg.train.seed,
    )
    results = {
        "experiment": cfg.name,
        "dataset": cfg.data.name,
        "main_label": main,
        "num_train": len(train_set),
        "num_val": len(val_set),
        "rows": rows,
    }
    run_dir = Path(cfg.run_dir)
    write_eval(results, run_dir / "eval.json")
    print(f"\nprobes on held-out {cfg.data.name} ({len(val_set)} samples; train {len(train_set)}; main label {main}):")
    print(format_table(rows, list(rows[0])))  # rows list their probes in a fixed order
    plot_run(run_dir)
    print(f"\nwrote {run_dir / 'eval.json'} and {run_dir / 'summary.png'}")
    return results


register("masked_jepa", Recipe(build=build, rebuild=build_method, evaluate=evaluate))
