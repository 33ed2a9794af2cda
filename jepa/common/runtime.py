"""Device and numeric-precision choice. Nothing here names a device type unless the user asked for it."""

from __future__ import annotations

import contextlib
import functools
import time

import torch

BF16_WORTH_IT = 1.2  # how much faster than fp32 a CPU's bf16 matmul must be for precision=auto to take bf16


def select_device(requested: str = "auto", local_rank: int = 0) -> torch.device:
    """ "auto" picks the first available accelerator (cuda, then mps), else cpu."""
    if requested != "auto":
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"train.device={requested} but CUDA is not available; use train.device=auto or cpu")
        if device.type == "cuda" and device.index is None:  # each torchrun process takes its own GPU
            return torch.device("cuda", local_rank % torch.cuda.device_count())
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_supports_bf16() -> bool:
    """True when oneDNN has native bf16 kernels on this CPU (avx512_bf16 / AMX); emulated bf16 is slower than fp32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (GPU kernels run asynchronously), so a timer around it is honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(dtype: torch.dtype, device: torch.device, n: int = 2048, seconds: float = 1.0) -> float:
    """Sustained rate of one square GEMM (n x n) in ``dtype``: the ceiling a transformer step can approach."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    synchronize(device)
    return 2 * n**3 * count / (time.perf_counter() - start) / 1e9


@functools.cache
def cpu_bf16_speedup() -> float:
    """bf16 matmul rate / fp32 matmul rate on this CPU (0 without native bf16 kernels), measured once in ~0.3 s.
    Native kernels alone do not make bf16 faster: seen here, 3.6x fp32 on an AMD Zen 5 with avx512_bf16, and
    0.5x on an Intel Xeon with avx512_bf16 but no AMX."""
    if not cpu_supports_bf16():
        return 0.0
    cpu = torch.device("cpu")
    return matmul_gflops(torch.bfloat16, cpu, 1024, 0.15) / matmul_gflops(torch.float32, cpu, 1024, 0.15)


PRECISION_NAMES = {torch.float32: "fp32", torch.bfloat16: "bf16"}  # as train.precision spells them


def select_precision(requested: str, device: torch.device) -> torch.dtype:
    """fp32 or bf16 as asked; "auto" takes bf16 on GPUs that support it and on CPUs where it is measurably faster."""
    if requested == "fp32":
        return torch.float32
    if requested == "bf16":
        return torch.bfloat16
    if requested != "auto":
        raise ValueError(f"train.precision must be auto, fp32 or bf16, got {requested!r}")
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    if device.type == "cpu" and cpu_bf16_speedup() >= BF16_WORTH_IT:
        return torch.bfloat16
    return torch.float32


def autocast(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """Mixed precision for bf16 (weights stay fp32); a no-op for fp32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
