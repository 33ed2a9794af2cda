"""`jepa bench`: time real training steps of the configured model and report throughput, achieved
FLOP rate against this machine's measured matmul peak, and peak memory; with ``bench.reference`` the
official I-JEPA step is timed in the same run, so the ratios do not depend on how busy the machine was
on another day."""

from __future__ import annotations

import multiprocessing
import resource
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor

import torch
from omegaconf import OmegaConf
from torch.utils.data import TensorDataset
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from jepa.common.runtime import autocast
from jepa.data.loader import build_train_loader
from jepa.train.build import input_shape
from jepa.train.config import Config
from jepa.train.engine import Trainer, compile_blocks, to_device

# torch's FLOP counter knows the CUDA attention kernels but not the CPU flash kernel that SDPA runs here;
# count that one with the same formulas (arguments arrive as shapes)
_CPU_ATTENTION_FLOPS = {
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: (
        lambda q, k, v, *_, out_shape=None, **__: sdpa_flop_count(q, k, v)
    ),
    torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward: (
        lambda grad, q, k, v, *_, out_shape=None, **__: sdpa_backward_flop_count(grad, q, k, v)
    ),
}


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


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def mean_flops(
    forward_backward: Callable[[object], None], batches: Iterable, sizes: Callable[[object], tuple]
) -> float:
    """Mean FLOPs of forward + backward over ``batches``. Mask sizes change from batch to batch and with them
    the work, so one batch is not representative; each distinct set of mask sizes is counted once."""
    counted: dict[tuple, int] = {}
    per_batch = []
    for batch in batches:
        key = sizes(batch)
        if key not in counted:
            with FlopCounterMode(display=False, custom_mapping=_CPU_ATTENTION_FLOPS) as counter:
                forward_backward(batch)
            counted[key] = counter.get_total_flops()
        per_batch.append(counted[key])
    return statistics.mean(per_batch)


def time_steps(step: Callable[[object], object], batches: Sequence, steps: int, repeats: int, device) -> float:
    """Median over ``repeats`` timings of ``steps`` consecutive steps, in steps per second."""
    rates = []
    for r in range(repeats):
        _sync(device)
        start = time.perf_counter()
        for batch in batches[r * steps : (r + 1) * steps]:
            step(batch)
        _sync(device)
        rates.append(steps / (time.perf_counter() - start))
    return statistics.median(rates)


def measure(
    cfg: Config,
    step: Callable[[object], object],
    forward_backward: Callable[[object], None],
    batches: Sequence,
    sizes: Callable[[object], tuple],
    device: torch.device,
    before_warmup: Callable[[], None] = lambda: None,
) -> dict:
    """The bench's figures for one implementation: FLOPs counted over the timed batches (``bench.warmup`` batches
    first warm up), then the timing; samples/s, GFLOP per step and per second, peak memory."""
    warmup, timed = batches[: cfg.bench.warmup], batches[cfg.bench.warmup :]
    flops = mean_flops(forward_backward, timed, sizes)
    before_warmup()
    for batch in warmup:
        step(batch)
    steps_per_s = time_steps(step, timed, cfg.bench.steps, cfg.bench.repeats, device)
    return {
        "samples_per_s": steps_per_s * cfg.data.batch_size,
        "gflop_per_step": flops / 1e9,
        "gflops": flops / 1e9 * steps_per_s,
        "peak_memory_mb": peak_memory_mb(device),
        "device": str(device),
    }


def mask_sizes(masks: Iterable[torch.Tensor]) -> tuple:
    return tuple(tuple(m.shape) for m in masks)


def run_bench(cfg: Config) -> list[dict]:
    """One fresh process per precision (and one for the reference), so each peak-memory figure is its own;
    each process measures the matmul peak with the threads it timed with. With ``bench.rounds`` > 1 the
    processes run in turn that many times and each row holds the medians (peak memory: the maximum), so a
    machine that slows down for a while slows every implementation alike."""
    context = multiprocessing.get_context("spawn")
    cfg_dict = OmegaConf.to_container(cfg)
    jobs = [(cfg_dict, precision, bench_precision) for precision in cfg.bench.precisions]
    if cfg.bench.reference:
        from jepa.bench_reference import bench_reference  # the config check has vetted bench.reference

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


def _with_reference_masks(cfg: Config, batches: list[dict], device: torch.device) -> list[dict]:
    """The same steps on the official sampler's masks, so both implementations do exactly the same work."""
    from jepa.bench_reference import load_reference, reference_masks  # the config check vetted the reference

    masks = reference_masks(cfg, load_reference(cfg.bench.reference))
    return [
        b | {"masks_ctx": [m.to(device) for m in ctx], "masks_tgt": [m.to(device) for m in tgt]}
        for b, (ctx, tgt) in zip(batches, masks, strict=True)
    ]


def _with_peak(cfg_dict: dict, precision: str, bench: Callable[[dict, str], dict]) -> dict:
    row = bench(cfg_dict, precision)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    row["matmul_peak_gflops"] = matmul_peak_gflops(dtype, torch.device(row["device"]))
    row["fraction_of_peak"] = row["gflops"] / row["matmul_peak_gflops"]
    return row


def bench_precision(cfg_dict: dict, precision: str) -> dict[str, float]:
    """Median samples/s over ``bench.repeats`` timings of ``bench.steps`` steps after ``bench.warmup``; FLOPs are
    the mean over the timed batches."""
    cfg = OmegaConf.merge(OmegaConf.structured(Config), cfg_dict)
    compile_after_counting, cfg.train.compile = cfg.train.compile, False  # FLOPs are counted on eager ops
    cfg.train.precision = precision
    cfg.train.progress = False
    cfg.train.resume = "never"
    batch = cfg.data.batch_size
    timed = cfg.bench.steps * cfg.bench.repeats
    with tempfile.TemporaryDirectory() as run_dir:
        cfg.run_dir = run_dir
        inputs = torch.randn(batch, *input_shape(cfg))
        trainer = Trainer(cfg, dataset=TensorDataset(inputs, torch.zeros(batch, dtype=torch.long)))
        loader = build_train_loader(
            trainer.dataset,
            trainer.masks,
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
