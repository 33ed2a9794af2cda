"""`jepa bench`: time real training steps of the configured model and report throughput, achieved
FLOP rate against this machine's measured matmul peak, and peak memory."""

from __future__ import annotations

import multiprocessing
import resource
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import torch
from omegaconf import OmegaConf
from torch.utils.data import TensorDataset
from torch.utils.flop_counter import FlopCounterMode

from jepa.data.loader import build_train_loader
from jepa.train.build import input_shape
from jepa.train.config import Config
from jepa.train.engine import Trainer, compile_blocks, to_device
from jepa.train.runtime import autocast


def matmul_peak_gflops(dtype: torch.dtype, device: torch.device, n: int = 2048, seconds: float = 1.0) -> float:
    """Sustained rate of one square GEMM (n x n), the ceiling a transformer step can approach."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    _sync(device)
    return 2 * n**3 * count / (time.perf_counter() - start) / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def run_bench(cfg: Config) -> list[dict]:
    """One fresh process per precision so each peak-memory figure is that precision's own."""
    context = multiprocessing.get_context("spawn")
    rows = []
    for precision in cfg.bench.precisions:
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            rows.append(pool.submit(bench_precision, OmegaConf.to_container(cfg), precision).result())
    device = torch.device(rows[0]["device"])
    for row in rows:
        dtype = torch.bfloat16 if row["precision"] == "bf16" else torch.float32
        row["matmul_peak_gflops"] = matmul_peak_gflops(dtype, device)
        row["fraction_of_peak"] = row["gflops"] / row["matmul_peak_gflops"]
    return rows


def bench_precision(cfg_dict: dict, precision: str) -> dict[str, float]:
    """Median samples/s over ``bench.repeats`` timings of ``bench.steps`` steps after ``bench.warmup``."""
    cfg = OmegaConf.merge(OmegaConf.structured(Config), cfg_dict)
    compile_after_counting, cfg.train.compile = cfg.train.compile, False  # FLOPs are counted on eager ops
    cfg.train.precision = precision
    cfg.train.progress = False
    cfg.train.resume = "never"
    batch = cfg.data.batch_size
    total = cfg.bench.warmup + cfg.bench.steps * cfg.bench.repeats
    with tempfile.TemporaryDirectory() as run_dir:
        cfg.run_dir = run_dir
        inputs = torch.randn(batch, *input_shape(cfg))
        trainer = Trainer(cfg, dataset=TensorDataset(inputs, torch.zeros(batch, dtype=torch.long)))
        loader = build_train_loader(
            trainer.dataset, trainer.masks, global_batch=batch, seed=0, total_steps=total, num_workers=0
        )
        batches = [to_device(b, trainer.device) for b in loader]
        with FlopCounterMode(display=False) as counter:
            with autocast(trainer.device, trainer.dtype):
                trainer.model(batches[0])["loss"].backward()
        flops = counter.get_total_flops()
        trainer.optimizer.zero_grad(set_to_none=True)
        if compile_after_counting:
            compile_blocks(trainer.method)
        for b in batches[: cfg.bench.warmup]:
            trainer.train_step(b)
        rates = []
        for r in range(cfg.bench.repeats):
            _sync(trainer.device)
            start = time.perf_counter()
            for b in batches[cfg.bench.warmup + r * cfg.bench.steps : cfg.bench.warmup + (r + 1) * cfg.bench.steps]:
                trainer.train_step(b)
            _sync(trainer.device)
            rates.append(cfg.bench.steps * batch / (time.perf_counter() - start))
        rate = statistics.median(rates)
        return {
            "precision": precision,
            "samples_per_s": rate,
            "gflop_per_step": flops / 1e9,
            "gflops": flops / 1e9 * rate / batch,
            "peak_memory_mb": _peak_memory_mb(trainer.device),
            "device": str(trainer.device),
            "compiled": compile_after_counting,
        }
