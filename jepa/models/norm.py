"""Batch statistics of the global batch: under DDP each rank holds a slice of the batch, and a batch norm that
standardised by its own slice would make N processes compute something other than one process with the whole
batch. torch's SyncBatchNorm does this on GPUs only; these work on any device, gloo included."""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _global_sum(x: torch.Tensor) -> torch.Tensor:
    """The sum over ranks, with gradient (each rank's gradient flows back to it)."""
    from torch.distributed.nn.functional import all_reduce

    return all_reduce(x) if torch.is_grad_enabled() and x.requires_grad else _summed(x)


def _summed(x: torch.Tensor) -> torch.Tensor:
    x = x.clone()
    dist.all_reduce(x)
    return x


def batch_moments(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(mean (C,), biased variance (C,), sample count) of ``x`` (N, C) over the global batch: this rank's rows
    and, under DDP, every other rank's, in two passes (the mean, then the squared deviations from it)."""
    if not _distributed():
        return x.mean(0), x.var(0, unbiased=False), x.shape[0]
    count = int(_summed(torch.tensor([x.shape[0]], device=x.device)).item())
    mean = _global_sum(x.sum(0)) / count
    var = _global_sum(((x - mean) ** 2).sum(0)) / count
    return mean, var, count


def standardise(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """(N, C) -> each feature centred and scaled by its global-batch statistics (a batch norm without affine and
    without running statistics)."""
    mean, var, _ = batch_moments(x)
    return (x - mean) / torch.sqrt(var + eps)


class GlobalBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics are those of the global batch under DDP; on one process it is
    BatchNorm1d. Its state dict is BatchNorm1d's, and at evaluation it uses the running statistics as usual."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and _distributed()):
            return super().forward(x)
        mean, var, count = batch_moments(x)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(var.detach() * count / max(count - 1, 1), momentum)
        y = (x - mean) / torch.sqrt(var + self.eps)
        return y * self.weight + self.bias if self.affine else y


__all__ = ["GlobalBatchNorm1d", "batch_moments", "standardise"]
