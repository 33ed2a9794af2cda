"""`jepa bench-video`: is the video loader fast enough to keep training busy?

Compares the clips/s the real training loader delivers (decode, crop, resize, normalise, masks) per decoding
backend and worker count with the clips/s one training step of the same config consumes. A backend that
cannot be imported gives a ``skipped`` row with the fix, not an error.
"""

from __future__ import annotations

import math
import statistics
import time

import torch
from omegaconf import DictConfig, OmegaConf

from jepa.bench.step import bench_precision
from jepa.common.errors import ConfigError
from jepa.common.runtime import select_device, select_precision
from jepa.config.checks import check_choice
from jepa.data.loader import build_train_loader
from jepa.data.video import VIDEO_BACKENDS, VIDEO_DATASETS
from jepa.masks import MaskCollator
from jepa.recipes.parts import build_dataset, build_encoder, build_masks, clip_frames

COLUMNS = ["stage", "backend", "workers", "clips", "clips_per_s", "vs_train", "note"]


def check_video_config(cfg: DictConfig) -> None:
    """Fail before any work when the config has no video to decode."""
    if cfg.data.name not in VIDEO_DATASETS:
        raise ConfigError(
            f"bench-video needs video data, got data.name={cfg.data.name}; try experiment=vjepa_moving_shapes"
        )
    for backend in cfg.bench.video_backends:
        check_choice("bench.video_backends", backend, VIDEO_BACKENDS)


def decode_rate(cfg: DictConfig, backend: str, num_workers: int) -> dict:
    """Median clips/s of the training loader over ``bench.repeats`` timings of ``bench.clips`` clips each (rounded
    up to whole batches), timed after its first batch so worker start-up and data generation are not counted."""
    row = {"stage": "decode", "backend": backend, "workers": num_workers}
    data = cfg.data.copy()
    data.video_backend = backend
    try:
        dataset = build_dataset(data, "train")
    except ImportError as err:  # the backend's package or its FFmpeg libraries are missing
        return row | {"note": f"skipped: {err}"}
    encoder = build_encoder(cfg.model, data.image_size, clip_frames(data))
    steps = math.ceil(cfg.bench.clips / data.batch_size)
    loader = build_train_loader(
        dataset,
        MaskCollator(build_masks(cfg.mask, encoder.grid, cfg.train.steps)),
        global_batch=data.batch_size,
        seed=cfg.train.seed,
        total_steps=1 + cfg.bench.repeats * steps,
        num_workers=num_workers,
    )
    batches = iter(loader)
    next(batches)
    rates = []
    for _ in range(cfg.bench.repeats):
        start = time.perf_counter()
        clips = sum(len(next(batches)["x"]) for _ in range(steps))
        rates.append(clips / (time.perf_counter() - start))
    return row | {"clips": clips, "clips_per_s": statistics.median(rates)}


def train_rate(cfg: DictConfig) -> dict:
    """Clips/s consumed by training steps at the config's precision, timed like ``jepa bench`` (random clips; the
    median of ``bench.repeats`` timings of ``bench.steps`` steps)."""
    dtype = select_precision(cfg.train.precision, select_device(cfg.train.device))
    precision = "bf16" if dtype == torch.bfloat16 else "fp32"
    result = bench_precision(OmegaConf.to_container(cfg), precision)
    clips = cfg.bench.steps * cfg.data.batch_size
    return {"stage": f"train step ({precision})", "clips": clips, "clips_per_s": result["samples_per_s"]}


def run_video_bench(cfg: DictConfig) -> list[dict]:
    """One decode row per backend in ``bench.video_backends`` and worker count (0 and ``data.num_workers``),
    then the training row; ``vs_train`` = decoded clips/s over consumed clips/s (above 1: not the bottleneck)."""
    if cfg.train.threads:  # decoding without workers shares the training process's threads
        torch.set_num_threads(cfg.train.threads)
    workers = sorted({0, cfg.data.num_workers})
    rows = [decode_rate(cfg, backend, w) for backend in cfg.bench.video_backends for w in workers]
    train = train_rate(cfg)
    for row in rows:
        if "clips_per_s" in row:
            row["vs_train"] = row["clips_per_s"] / train["clips_per_s"]
    return [*rows, train]
