"""torch.distributed set-up for runs launched by ``torchrun`` (gloo on CPU, nccl on CUDA).

A plain ``python``/``jepa`` launch is a world of one and never touches torch.distributed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group described by torchrun's environment variables, if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
    """Mean over ranks (identity for a single process); returns a new tensor."""
    if not (dist.is_available() and dist.is_initialized()):
        return t.clone()
    out = t.clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out / dist.get_world_size()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum over ranks that gradients flow through (identity for a single process).

    Backward sums the ranks' gradients too, so once DDP averages parameter gradients over ranks, a loss
    built from global sums gets the gradient it would have in one process holding the whole batch.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return t
    from torch.distributed import _functional_collectives as funcol  # torch's differentiable collectives

    return funcol.all_reduce(t, "sum", dist.group.WORLD)


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
