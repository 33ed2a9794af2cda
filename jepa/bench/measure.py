"""Timing and FLOP counting shared by the bench of our training step and of the official one."""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable, Iterable, Sequence

import torch
from omegaconf import DictConfig
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from jepa.common.runtime import synchronize

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
        synchronize(device)
        start = time.perf_counter()
        for batch in batches[r * steps : (r + 1) * steps]:
            step(batch)
        synchronize(device)
        rates.append(steps / (time.perf_counter() - start))
    return statistics.median(rates)


def measure(
    cfg: DictConfig,
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
