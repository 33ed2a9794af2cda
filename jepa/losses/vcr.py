"""Variance-covariance regularisation (VICReg's anti-collapse terms, as used by VJ-VCR).

Applied to encoder outputs it keeps every feature dimension spread over the batch (variance hinge)
and the dimensions decorrelated (covariance penalty), which rules out the constant solution a
predictive loss alone admits.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.nn.functional import all_gather


def _gather(z: torch.Tensor) -> torch.Tensor:
    """Concatenate ``z`` over ranks with gradients flowing back to each rank's share."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return z
    return torch.cat(all_gather(z), dim=0)


def variance_hinge(z: torch.Tensor, target_std: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """mean_j ReLU(target_std - sqrt(Var(z_j) + eps)) over the rows of ``z`` (N, D)."""
    std = torch.sqrt(z.var(dim=0) + eps)
    return torch.relu(target_std - std).mean()


def covariance_penalty(z: torch.Tensor) -> torch.Tensor:
    """Sum of squared off-diagonal covariances divided by the dimension D, for ``z`` (N, D)."""
    n, d = z.shape
    z = z - z.mean(dim=0)
    cov = (z.T @ z) / max(n - 1, 1)
    off_diagonal = cov.pow(2).sum() - cov.diagonal().pow(2).sum()
    return off_diagonal / d


class VCR(nn.Module):
    """``var_weight * variance_hinge + cov_weight * covariance_penalty`` on (..., D) features,
    computed in fp32 over the samples of all ranks (so DDP sees the statistics of the global batch)."""

    def __init__(self, var_weight: float = 1.0, cov_weight: float = 0.04, target_std: float = 1.0):
        super().__init__()
        self.var_weight, self.cov_weight, self.target_std = var_weight, cov_weight, target_std

    def forward(self, z: torch.Tensor, step: int = 0) -> torch.Tensor:
        """``step`` is unused (the regularizers share one call signature; SIGReg draws directions from it)."""
        z = _gather(z.reshape(-1, z.shape[-1]).float())
        return self.var_weight * variance_hinge(z, self.target_std) + self.cov_weight * covariance_penalty(z)
