"""Probe a pretrained encoder against a random-init encoder of the same architecture and the raw inputs, on
held-out data: the evaluation every pretraining recipe shares."""

from __future__ import annotations

from pathlib import Path

import torch
from omegaconf import DictConfig
from torch import nn

from evals import RawPatches, evaluate_over_seeds, format_table, summarise_seeds, write_eval
from evals.report import PROBES, EncoderOrFactory
from jepa.common.runtime import select_device
from jepa.data.audio import AUDIO_DATASETS
from jepa.methods.protocol import probed_encoder
from jepa.recipes.parts import build_dataset, build_encoder, clip_frames, input_size
from jepa.train.plots import plot_run

DYNAMICS_LABELS = ("velocity",)  # float labels of video datasets that also get an attentive probe


def _encoders(
    cfg: DictConfig, pretrained: nn.Module, token_probes: bool, device: torch.device
) -> dict[str, EncoderOrFactory]:
    """The pretrained encoder and, with ``eval.baselines``, random-init encoders of the same architecture (one per
    probe seed) and the raw input (cut into the encoder's patches or tubelets, so the attentive probe can read it
    too)."""
    encoders: dict[str, EncoderOrFactory] = {"pretrained": pretrained}
    if cfg.eval.baselines:
        frames = clip_frames(cfg.data)

        def random_init(seed: int) -> nn.Module:
            torch.manual_seed(seed + 1)
            return build_encoder(cfg.model, input_size(cfg.data), frames).to(device)

        encoders["random_init"] = random_init
        patch = (*([cfg.model.tubelet_size] if frames else []), cfg.model.patch_size, cfg.model.patch_size)
        encoders["raw_input"] = RawPatches(patch) if token_probes else None
    return encoders


def evaluate_encoder(cfg: DictConfig, method: nn.Module, facts: dict | None = None) -> dict:
    """Linear and kNN probes of the main label (if the dataset has one) plus every other label it carries; on
    video and audio also an attentive probe of the main label, and on video of the dynamics labels (motion
    direction and velocity for the moving shapes).

    With ``eval.seeds`` > 1 every seed retrains the main label's linear and kNN probes and draws a new random-init
    encoder, and the table shows each figure's mean with the half-width of its 95 % interval over the seeds (the
    attentive probes and the other labels run with the first seed). Writes ``eval.json`` (the summary rows and
    every seed's rows) and the summary plot into the run directory and prints the table."""
    device = select_device(cfg.train.device)
    train_set, val_set = (build_dataset(cfg.data, split, cfg.run_dir) for split in ("train", "val"))
    # video and audio labels lie in how tokens relate over time, which only a probe reading the tokens sees
    token_probes = clip_frames(cfg.data) is not None or cfg.data.name in AUDIO_DATASETS
    labels = getattr(train_set, "labels", {})
    main = getattr(train_set, "main_label", None)
    attentive = [main, *(name for name in DYNAMICS_LABELS if name in labels)] if token_probes else []
    per_seed = evaluate_over_seeds(
        _encoders(cfg, probed_encoder(method).to(device), token_probes, device),
        train_set,
        val_set,
        seeds=range(cfg.train.seed, cfg.train.seed + cfg.eval.seeds),
        label_names=[name for name in labels if name != main],
        attentive_labels=attentive,
        probes=PROBES if main is not None else (),
        device=device,
        batch_size=cfg.eval.batch_size,
    )
    header = f"probes on held-out {cfg.data.name} ({len(val_set)} samples; train {len(train_set)}; main label {main}"
    facts = {"main_label": main, "num_train": len(train_set), "num_val": len(val_set)}
    results = report_probes(cfg, per_seed, header, facts)
    print(f"\nwrote {Path(cfg.run_dir) / 'eval.json'} and {Path(cfg.run_dir) / 'summary.png'}")
    return results


def report_probes(cfg: DictConfig, per_seed: list[list[dict]], header: str, facts: dict) -> dict:
    """The probe rows of every seed summarised (mean and 95 % interval with > 1 seed), written to ``eval.json``
    with ``facts`` about the evaluation, printed as a table under ``header`` and drawn as ``summary.png``."""
    rows = summarise_seeds(per_seed) if len(per_seed) > 1 else per_seed[0]
    results = {"experiment": cfg.name, "dataset": cfg.data.name, **facts, "seeds": len(per_seed), "rows": rows}
    results["rows_per_seed"] = per_seed
    run_dir = Path(cfg.run_dir)
    write_eval(results, run_dir / "eval.json")
    spread = f"; mean ±95 % interval over {len(per_seed)} probe seeds" if len(per_seed) > 1 else ""
    print(f"\n{header}{spread}):")
    columns = [c for c in rows[0] if c != "seeds" and not c.endswith("_ci")]  # rows list their probes in a fixed order
    print(format_table(rows, columns))
    plot_run(run_dir)
    return results
