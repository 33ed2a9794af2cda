"""Fixed sine-cosine position embeddings for 1D, 2D and 3D token grids.

Fixed (not learned) embeddings let the predictor place a mask token anywhere on the grid, which is
what makes masked latent prediction well-posed without extra parameters.
"""

from __future__ import annotations

import math

import torch


def sincos_1d(dim: int, positions: torch.Tensor) -> torch.Tensor:
    """positions: (N,) -> (N, dim); half sines, half cosines over geometric frequencies."""
    if dim % 2:
        raise ValueError(f"sincos embedding dim must be even, got {dim}")
    omega = torch.arange(dim // 2, dtype=torch.float64) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    angles = positions.to(torch.float64).reshape(-1, 1) * omega.reshape(1, -1)
    return torch.cat([angles.sin(), angles.cos()], dim=1).float()


def sincos_nd(dim: int, grid: tuple[int, ...]) -> torch.Tensor:
    """Embedding of a row-major (H, W) or (T, H, W) grid -> (prod(grid), dim).

    The layouts are those of the official code, so that official weights load and training steps agree:
    2D (I-JEPA) puts the column index in the first dim/2 dims and the row index in the second half; 3D
    (V-JEPA with ``uniform_power``) gives each axis 2 * ceil(dim / 6) dims in the order [time, row,
    column] and truncates the result to ``dim``. (V-JEPA's own 2D layout, for single frames, is the transpose of
    I-JEPA's; 2D grids here follow I-JEPA.)
    """
    if len(grid) not in (2, 3):
        raise ValueError(f"sincos position embeddings need a 2D or 3D grid, got {tuple(grid)}")
    if len(grid) == 2 and dim % 4:
        raise ValueError(f"a 2D sincos embedding needs a dim divisible by 4, got {dim}")
    coords = [c.reshape(-1) for c in torch.meshgrid(*[torch.arange(n) for n in grid], indexing="ij")]
    if len(grid) == 2:
        return torch.cat([sincos_1d(dim // 2, coords[1]), sincos_1d(dim // 2, coords[0])], dim=1)
    share = 2 * math.ceil(dim / 6)
    return torch.cat([sincos_1d(share, c) for c in coords], dim=1)[:, :dim]
