"""SIGReg (LeJEPA): keep embeddings from collapsing by pulling them towards an isotropic Gaussian.

A distribution is N(0, I) exactly when each of its 1-D projections is N(0, 1), so SIGReg tests many random
projections with the Epps-Pulley statistic, which compares a sample's empirical characteristic function with
the Gaussian's. It needs no EMA target, no stop-gradient and no negatives, and it is differentiable.
"""

from __future__ import annotations

import torch
from torch import nn

from jepa.common.distributed import all_reduce_sum


def random_directions(dim: int, num: int, step: int, seed: int = 0) -> torch.Tensor:
    """``num`` random unit vectors as columns of a ``(dim, num)`` matrix, a pure function of (seed, step).

    Drawn on the CPU, so every DDP rank and every device type draws the same ones; new ones each step.
    """
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
    a = torch.randn(dim, num, generator=generator)
    return a / a.norm(dim=0, keepdim=True)


def quadrature(t_max: float, n_points: int, device: torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Nodes ``t`` on [0, t_max] and weights for ``sum(w * f(t))`` ~ the integral of ``f(t) e^{-t^2/2}`` over
    [-t_max, t_max]: trapezoid weights times the Gaussian weight, doubled because the integrand is even."""
    if n_points < 2 or t_max <= 0:
        raise ValueError(f"need n_points >= 2 and t_max > 0, got {n_points} and {t_max}")
    t = torch.linspace(0.0, t_max, n_points, device=device)
    trapezoid = torch.full_like(t, t_max / (n_points - 1))
    trapezoid[[0, -1]] /= 2
    return t, 2 * trapezoid * torch.exp(-0.5 * t**2)


def epps_pulley(x: torch.Tensor, t: torch.Tensor, weights: torch.Tensor, distributed: bool = True) -> torch.Tensor:
    """Epps-Pulley statistic ``N * integral |phi_N(t) - e^{-t^2/2}|^2 e^{-t^2/2} dt`` of each column of
    ``x: (N, M)`` against N(0, 1), with the quadrature ``(t, weights)`` of :func:`quadrature` -> ``(M,)``.

    ``phi_N`` is the empirical characteristic function (its cos and sin parts are sample means). With
    ``distributed`` and an initialised process group, those means and N are taken over all ranks, so every
    rank gets the statistic of the concatenated batch.
    """
    xt = x.unsqueeze(-1) * t  # (N, M, K)
    sums = torch.stack([xt.cos().sum(0), xt.sin().sum(0)])  # (2, M, K)
    n = torch.tensor(float(x.shape[0]), device=x.device)
    if distributed:
        sums, n = all_reduce_sum(sums), all_reduce_sum(n)
    cos_mean, sin_mean = sums / n
    err = (cos_mean - torch.exp(-0.5 * t**2)) ** 2 + sin_mean**2
    return n * (err @ weights)


class SIGReg(nn.Module):
    """Sketched isotropic Gaussian regulariser: the mean Epps-Pulley statistic of ``num_slices`` random 1-D
    projections of the embeddings. Defaults are LeJEPA's (256 slices, 17 nodes on [0, 3]); its training loss
    is ``prediction + lambda * SIGReg`` with lambda ~0.02-0.1.

    The directions depend only on ``(seed, step)``, so DDP ranks share them; with ``distributed`` the
    statistic (and, once DDP averages gradients, its gradient) equals one process's on the global batch.
    Computed in float32 even under autocast: the characteristic function of bf16 projections is too coarse.

    >>> sigreg = SIGReg(num_slices=64)
    >>> loss = sigreg(torch.randn(512, 32), step=0)  # ~1 for Gaussian samples; ~N for collapsed ones
    """

    def __init__(
        self, num_slices: int = 256, t_max: float = 3.0, n_points: int = 17, seed: int = 0, distributed: bool = True
    ):
        super().__init__()
        quadrature(t_max, n_points)  # fail at construction on bad settings
        self.num_slices, self.t_max, self.n_points = num_slices, t_max, n_points
        self.seed, self.distributed = seed, distributed

    def forward(self, z: torch.Tensor, step: int) -> torch.Tensor:
        """``z: (..., D)`` embeddings (leading dims are samples), ``step``: the global training step -> scalar."""
        z = z.reshape(-1, z.shape[-1])
        directions = random_directions(z.shape[-1], self.num_slices, step, self.seed).to(z.device)
        t, weights = quadrature(self.t_max, self.n_points, z.device)
        with torch.autocast(z.device.type, enabled=False):
            return epps_pulley(z.float() @ directions, t, weights, self.distributed).mean()
