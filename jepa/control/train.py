"""``jepa wm-train``: fit a world model on collected trajectories, then check it on held-out episodes.

Writes ``<out>/metrics.jsonl`` and TensorBoard events, ``checkpoints/`` and ``eval.json`` (held-out
teacher-forcing and rollout losses, and the position probe of :mod:`jepa.control.probe`).
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

from evals import format_table, write_eval
from jepa.common.optim import param_groups, warmup_cosine
from jepa.common.runtime import autocast, select_precision
from jepa.control.build import build_world_model, save_world_model
from jepa.control.config import WorldModelTrainConfig
from jepa.control.data import EncodedWindows, split_by_shard, to_model_steps, window_dataset
from jepa.control.pretrained import load_pretrained_encoder
from jepa.control.probe import position_probe
from jepa.methods import WorldModel
from jepa.train.logging import MetricsLogger

log = logging.getLogger(__name__)


def _batches(dataset: Subset, cfg: WorldModelTrainConfig) -> Iterator[dict[str, torch.Tensor]]:
    """Endless seeded shuffles of ``dataset`` as model-step batches."""
    generator = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True, drop_last=True, generator=generator)
    if len(loader) == 0:
        raise ValueError(f"{len(dataset)} training windows do not fill one batch of {cfg.batch_size}")
    for batch in itertools.chain.from_iterable(itertools.repeat(loader)):
        yield _model_batch(batch, cfg)


def _model_batch(batch: dict[str, torch.Tensor], cfg: WorldModelTrainConfig) -> dict[str, torch.Tensor]:
    batch = to_model_steps(batch, cfg.frameskip)
    return batch | {"proprio": batch["states"]} if cfg.proprio else batch


@torch.no_grad()
def validation_losses(model: WorldModel, dataset: Subset, cfg: WorldModelTrainConfig) -> dict[str, float]:
    """Mean teacher-forcing and rollout losses over (up to 20 batches of) held-out windows."""
    model.eval()
    loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True, generator=torch.Generator().manual_seed(0))
    sums: dict[str, float] = {}
    count = 0
    for batch in itertools.islice(loader, 20):
        out = model(_model_batch(batch, cfg))
        for key in ("teacher", "rollout"):
            if key in out:
                sums[key] = sums.get(key, 0.0) + out[key].item()
        count += 1
    model.train()
    return {f"val_{key}": value / count for key, value in sums.items()}


def train_world_model(cfg: WorldModelTrainConfig) -> Path:
    """Train, checkpoint and evaluate; returns the run directory."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run_dir = Path(cfg.out).expanduser()
    dataset = window_dataset(cfg.data, cfg.window, cfg.frameskip)
    sample = dataset[0]
    dims = {
        "image_size": sample["obs"].shape[-1],
        "action_dim": sample["actions"].shape[-1],
        "proprio_dim": sample["states"].shape[-1],
    }
    pretrained, encoder = load_pretrained_encoder(cfg.encoder, dims["image_size"]) if cfg.encoder else (None, None)
    torch.manual_seed(cfg.seed)
    model = build_world_model(cfg, **dims, encoder=encoder)
    if pretrained is not None:
        model.encoder.vit.load_state_dict(pretrained.state_dict(), strict=True)
        log.info("encoding every frame of %s once with the frozen encoder of %s", cfg.data, cfg.encoder)
    train_set, val_set = split_by_shard(EncodedWindows(dataset, model) if pretrained else dataset, cfg.val_shards)
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr)
    device = torch.device("cpu")
    dtype = select_precision(cfg.precision, device)
    run_dir.mkdir(parents=True, exist_ok=True)
    logger = MetricsLogger(run_dir)
    batches = _batches(train_set, cfg)
    log.info("training on %d windows (%d held out) of %s", len(train_set), len(val_set), cfg.data)
    from tqdm.auto import tqdm

    start = time.perf_counter()
    for step in tqdm(range(1, cfg.steps + 1), desc="wm-train", disable=not cfg.progress):
        lr = warmup_cosine(step, cfg.steps, cfg.warmup, 0.0, cfg.lr, cfg.lr / 100)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with autocast(device, dtype):
            out = model(next(batches) | {"step": step})
        optimizer.zero_grad(set_to_none=True)
        out["loss"].backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
        optimizer.step()
        if step % cfg.log_every == 0 or step == cfg.steps:
            metrics = {k: v.item() for k, v in out.items()} | {"lr": lr, "grad_norm": grad_norm.item()}
            logger.log(step, metrics | {"seconds": time.perf_counter() - start})
    logger.close()
    train_seconds = time.perf_counter() - start
    save_world_model(run_dir, cfg.steps, model, cfg, dims, encoder)
    model.eval()
    results = {"train_seconds": train_seconds, **validation_losses(model, val_set, cfg)}
    results["probe"] = position_probe(model, dataset, cfg, dims, encoder)
    write_eval(results, run_dir / "eval.json")
    print(
        f"\ntrained {cfg.steps} steps in {train_seconds:.0f} s; held-out losses: "
        + ", ".join(f"{k} {v:.4f}" for k, v in results.items() if k.startswith("val_"))
    )
    print("agent position probe (ridge R² on held-out episodes):")
    print(format_table(results["probe"], ["encoder", "r2"]))
    print(f"wrote {run_dir / 'eval.json'} and {run_dir / 'checkpoints'}")
    return run_dir
