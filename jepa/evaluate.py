"""Probe a trained run's encoder against a random-init encoder and the raw inputs, on held-out data."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from evals import RawPatches, evaluate_encoders, format_table, write_eval
from evals.report import PROBES
from jepa.common.runtime import select_device
from jepa.data.audio import AUDIO_DATASETS
from jepa.methods import MaskedJEPA
from jepa.plots import plot_run
from jepa.train import checkpoint as ckpt
from jepa.train.build import build_dataset, build_encoder, build_method, clip_frames, input_size
from jepa.train.config import Config

log = logging.getLogger(__name__)

DYNAMICS_LABELS = ("velocity",)  # float labels of video datasets that also get an attentive probe


def load_trained_method(cfg: Config) -> MaskedJEPA:
    """The method with the weights of the run's latest checkpoint."""
    path = ckpt.latest_checkpoint(Path(cfg.run_dir) / "checkpoints")
    if path is None:
        raise FileNotFoundError(f"no checkpoint in {cfg.run_dir}/checkpoints; train first (jepa train ...)")
    method = build_method(cfg)
    method.load_state_dict(ckpt.load_weights(path / "model.safetensors"), strict=True)
    log.info("loaded %s", path)
    return method


def evaluate_run(cfg: Config, method: MaskedJEPA) -> dict:
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
