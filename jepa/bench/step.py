"""`jepa bench`: time real training steps of the configured model and report throughput, achieved
FLOP rate against this machine's measured matmul peak, and peak memory; with ``bench.reference`` the
official I-JEPA step is timed in the same run, so the ratios do not depend on how busy the machine was
on another day."""

from __future__ import annotations

import multiprocessing
import statistics
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor

import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import TensorDataset

from jepa.bench.measure import mask_sizes, measure
from jepa.common.errors import ConfigError
from jepa.common.runtime import autocast, matmul_gflops
from jepa.config import saved_config
from jepa.data.loader import build_train_loader
from jepa.masks import MaskCollator
from jepa.recipes.masked_jepa import build_method
from jepa.recipes.parts import build_masks, input_shape
from jepa.train.engine import Trainer, TrainingSetup, compile_blocks, to_device


def run_bench(cfg: DictConfig) -> list[dict]:
    """One fresh process per precision (and one for the reference), so each peak-memory figure is its own;
    each process measures the matmul peak with the threads it timed with. With ``bench.rounds`` > 1 the
    processes run in turn that many times and each row holds the medians (peak memory: the maximum), so a
    machine that slows down for a while slows every implementation alike."""
    context = multiprocessing.get_context("spawn")
    cfg_dict = OmegaConf.to_container(cfg)
    jobs = [(cfg_dict, precision, bench_precision) for precision in cfg.bench.precisions]
    if cfg.bench.reference:
        from jepa.bench.reference import bench_reference  # the config check has vetted bench.reference

        jobs.append((cfg_dict, "fp32", bench_reference))
    rounds = []
    for _ in range(cfg.bench.rounds):
        timings = []
        for args in jobs:
            with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
                timings.append(pool.submit(_with_peak, *args).result())
        rounds.append(timings)
    return [_median_row(timings) for timings in zip(*rounds, strict=True)]


def _median_row(timings: Sequence[dict]) -> dict:
    row = dict(timings[0])
    for key in ("samples_per_s", "gflop_per_step", "gflops", "matmul_peak_gflops", "fraction_of_peak"):
        row[key] = statistics.median(t[key] for t in timings)
    row["peak_memory_mb"] = max(t["peak_memory_mb"] for t in timings)
    return row


def _with_reference_masks(cfg: DictConfig, batches: list[dict], device: torch.device) -> list[dict]:
    """The same steps on the official sampler's masks, so both implementations do exactly the same work."""
    from jepa.bench.reference import load_reference, reference_masks  # the config check vetted the reference

    masks = reference_masks(cfg, load_reference(cfg.bench.reference))
    return [
        b | {"masks_ctx": [m.to(device) for m in ctx], "masks_tgt": [m.to(device) for m in tgt]}
        for b, (ctx, tgt) in zip(batches, masks, strict=True)
    ]


def _with_peak(cfg_dict: dict, precision: str, bench: Callable[[dict, str], dict]) -> dict:
    row = bench(cfg_dict, precision)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    row["matmul_peak_gflops"] = matmul_gflops(dtype, torch.device(row["device"]))
    row["fraction_of_peak"] = row["gflops"] / row["matmul_peak_gflops"]
    return row


def bench_precision(cfg_dict: dict, precision: str) -> dict[str, float]:
    """Median samples/s over ``bench.repeats`` timings of ``bench.steps`` steps after ``bench.warmup``; FLOPs are
    the mean over the timed batches."""
    cfg = saved_config(cfg_dict)
    compile_after_counting, cfg.train.compile = cfg.train.compile, False  # FLOPs are counted on eager ops
    cfg.train.precision = precision
    cfg.train.progress = False
    cfg.train.resume = "never"
    batch = cfg.data.batch_size
    timed = cfg.bench.steps * cfg.bench.repeats
    with tempfile.TemporaryDirectory() as run_dir:
        cfg.run_dir = run_dir
        inputs = torch.randn(batch, *input_shape(cfg))
        dataset = TensorDataset(inputs, torch.zeros(batch, dtype=torch.long))

        def setup() -> TrainingSetup:
            method = build_method(cfg)
            return TrainingSetup(
                method, dataset, MaskCollator(build_masks(cfg.mask, method.encoder.grid, cfg.train.steps))
            )

        trainer = Trainer(cfg, setup)
        loader = build_train_loader(
            trainer.dataset,
            trainer.collate,
            global_batch=batch,
            seed=0,
            total_steps=cfg.bench.warmup + timed,
            num_workers=0,
        )
        batches = [to_device(b, trainer.device) for b in loader]
        x = batches[0]["x"]  # one input for all steps: a tensor per step would add memory training never holds
        batches = [b | {"x": x} for b in batches]
        if cfg.bench.reference_masks:
            batches = _with_reference_masks(cfg, batches, trainer.device)

        def forward_backward(b: dict) -> None:
            with autocast(trainer.device, trainer.dtype):
                loss = trainer.model(b)["loss"]
            loss.backward()
            trainer.optimizer.zero_grad(set_to_none=True)

        row = measure(
            cfg,
            trainer.train_step,
            forward_backward,
            batches,
            lambda b: mask_sizes(b["masks_ctx"] + b["masks_tgt"]),
            trainer.device,
            before_warmup=(lambda: compile_blocks(trainer.method)) if compile_after_counting else lambda: None,
        )
        return {
            "implementation": "jepa" + (" (official masks)" if cfg.bench.reference_masks else ""),
            "precision": precision,
            **row,
            "compiled": compile_after_counting,
        }


def check_bench(cfg: DictConfig) -> None:
    """Before any process starts: the bench times the masked-JEPA step, and ``bench.reference`` must be usable."""
    from jepa.bench.reference import check_bench_reference

    if cfg.method.name != "masked_jepa":
        raise ConfigError(f"method={cfg.method.name}: jepa bench times the masked-JEPA training step only")
    check_bench_reference(cfg)
