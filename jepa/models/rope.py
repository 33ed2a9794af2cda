"""Rotary position embeddings (RoPE) over a (time, row, column) token grid, in V-JEPA 2's layout.

Instead of adding a position vector to each token, every attention layer rotates queries and keys by angles
proportional to the token's coordinates, so attention scores depend on relative positions. The layout is that of
facebookresearch/vjepa2, so its released weights load and compute the same features:

- each head's ``head_dim`` dims are cut into three sections of ``s = 2 * ((head_dim // 3) // 2)`` dims, rotated by
  the time, row and column coordinate in that order; the ``head_dim - 3s`` dims left at the end are not rotated;
- within a section, adjacent dims ``(2i, 2i + 1)`` form a rotated pair, and the ``s / 2`` frequencies
  ``10000^(-j / (s / 2))`` are laid out twice in a row (``[f_0 .. f_{s/2-1}, f_0 .. f_{s/2-1}]``), so the two dims
  of a pair turn by different angles. This is how the released checkpoints were trained (the "duplicated
  frequencies" of vjepa2's ``rotate_queries_or_keys``), and it is kept for that reason.

Images are grids of one frame: their time coordinate is 0, which leaves the time section unrotated.
"""

from __future__ import annotations

import torch

ROPE_BASE = 10000.0


def grid_coordinates(ids: torch.Tensor, grid: tuple[int, ...]) -> torch.Tensor:
    """Row-major token indices (...) on a (H, W) or (T, H, W) grid -> (..., 3) float (time, row, column)."""
    height, width = grid[-2:]
    time = ids // (height * width) if len(grid) == 3 else torch.zeros_like(ids)
    within = ids % (height * width)
    return torch.stack([time, within // width, within % width], dim=-1).float()


def rope_tables(ids: torch.Tensor, grid: tuple[int, ...], head_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Cosines and sines for tokens at the indices ``ids`` (B, N) of ``grid`` -> two (B, 1, N, head_dim) tables
    that broadcast over the heads; the same for every layer, so a model computes them once per forward."""
    section = 2 * ((head_dim // 3) // 2)
    if section == 0:
        raise ValueError(f"RoPE needs a head dim of at least 6, got {head_dim}")
    omega = 1.0 / ROPE_BASE ** (torch.arange(section // 2, dtype=torch.float32, device=ids.device) / (section / 2))
    angles = grid_coordinates(ids, grid)[..., None] * omega  # (B, N, 3, s/2)
    angles = torch.cat([angles, angles], dim=-1).flatten(-2)  # (B, N, 3s): each section's frequencies twice
    angles = torch.nn.functional.pad(angles, (0, head_dim - 3 * section))  # angle 0: the last dims stay as they are
    return angles.cos().unsqueeze(1), angles.sin().unsqueeze(1)


def apply_rope(x: torch.Tensor, tables: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Rotate queries or keys x (B, heads, N, head_dim) by the ``rope_tables`` of their tokens; keeps x's dtype."""
    cos, sin = tables
    pairs = x.unflatten(-1, (-1, 2))
    turned = torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)  # (x0, x1) -> (-x1, x0) per pair
    return (x * cos + turned * sin).to(x.dtype)
