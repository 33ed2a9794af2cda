"""Fixed sine-cosine position embeddings for 1D, 2D and 3D token grids.

Fixed (not learned) embeddings let the predictor place a mask token anywhere on the grid, which is
what makes masked latent prediction well-posed without extra parameters.
"""

from __future__ import annotations

import torch


def sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """positions: (N,) -> (N, dim); half sines, half cosines over geometric frequencies."""
    if dim % 2:
        raise ValueError(f"sincos embedding dim must be even, got {dim}")
    omega = torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    angles = positions.to(torch.float64).reshape(-1, 1) * omega.reshape(1, -1)
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


def _split_dims(dim: int, num_axes: int) -> list[int]:
    """V-JEPA's "uniform power" split: equal even shares per axis, the first axis takes the remainder."""
    share = (dim // num_axes) // 2 * 2
    return [dim - share * (num_axes - 1)] + [share] * (num_axes - 1)


def sincos_nd(dim: int, grid: tuple[int, ...]) -> torch.Tensor:
    """Embedding for a row-major grid of shape ``grid`` (1 to 3 axes) -> (prod(grid), dim)."""
    coords = torch.meshgrid(*[torch.arange(n) for n in grid], indexing="ij")
    parts = [sincos_1d(d, c.reshape(-1)) for d, c in zip(_split_dims(dim, len(grid)), coords)]
    return torch.cat(parts, dim=1)
