"""I-JEPA multi-block masks on a 2D token grid, and the block helpers the 3D (video) masks share.

Per batch one target-block size and one context-block size are drawn (so every sample keeps the same
number of target tokens); positions are drawn per sample. The context block loses every token that
lies in a target block. Unlike the official collator, block corners range over every valid cell, so
blocks can touch the last row and column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


def sample_block_shape(
    grid: tuple[int, int], scale: tuple[float, float], aspect: tuple[float, float], g: torch.Generator
) -> tuple[int, int]:
    """(h, w) of a block covering a uniform ``scale`` share of the (H, W) grid with a log-uniform aspect h/w."""
    H, W = grid
    u_scale, u_aspect = torch.rand(2, generator=g).tolist()
    area = H * W * (scale[0] + u_scale * (scale[1] - scale[0]))
    log_lo, log_hi = math.log(aspect[0]), math.log(aspect[1])
    ratio = math.exp(log_lo + u_aspect * (log_hi - log_lo))
    h = min(max(round(math.sqrt(area * ratio)), 1), H)
    w = min(max(round(math.sqrt(area / ratio)), 1), W)
    return h, w


def place_block(grid: tuple[int, ...], size: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
    """Boolean ``grid`` with one block of ``size``; along each axis its start is uniform over all n - s + 1
    positions, so blocks reach the last row/column (and, in 3D, the last time step)."""
    starts = [int(torch.randint(0, n - s + 1, (1,), generator=g)) for n, s in zip(grid, size)]
    block = torch.zeros(grid, dtype=torch.bool)
    block[tuple(slice(a, a + s) for a, s in zip(starts, size))] = True
    return block


def stack_truncated(masks: list[torch.Tensor], g: torch.Generator) -> torch.Tensor:
    """Boolean masks, one per sample -> (B, K) sorted token indices, K = the fewest kept tokens in the batch.

    Truncating to the batch minimum lets the masks stack; keeping a random subset (rather than the first K
    indices) avoids favouring the top rows, or the first frames of a clip.
    """
    indices = [m.flatten().nonzero().squeeze(1) for m in masks]
    keep = min(len(i) for i in indices)
    return torch.stack([i[torch.randperm(len(i), generator=g)[:keep].sort().values] for i in indices])


@dataclass
class MultiBlockMasks:
    grid: tuple[int, int]
    num_targets: int = 4
    target_scale: tuple[float, float] = (0.15, 0.2)
    target_aspect: tuple[float, float] = (0.75, 1.5)
    context_scale: tuple[float, float] = (0.85, 1.0)
    context_aspect: tuple[float, float] = (1.0, 1.0)
    min_keep: int = 4
    allow_overlap: bool = False
    max_tries: int = 100

    @property
    def num_generators(self) -> int:
        """One (context, targets) group per batch: the predictor needs a single mask token."""
        return 1

    def target_size(self, g: torch.Generator) -> tuple[int, int]:
        """(h, w) shared by the batch's target blocks."""
        return sample_block_shape(self.grid, self.target_scale, self.target_aspect, g)

    def _sample_one(self, tgt_size, ctx_size, g) -> tuple[list[torch.Tensor], torch.Tensor]:
        for _ in range(self.max_tries):
            targets = [place_block(self.grid, tgt_size, g) for _ in range(self.num_targets)]
            context = place_block(self.grid, ctx_size, g)
            if not self.allow_overlap:
                context &= ~torch.stack(targets).any(0)
            if int(context.sum()) >= self.min_keep:
                return targets, context
        raise RuntimeError(
            f"could not keep {self.min_keep} context tokens in {self.max_tries} tries on grid {self.grid} "
            f"with {self.num_targets} targets of size {tgt_size}; lower num_targets/target_scale or min_keep"
        )

    def __call__(self, batch_size: int, g: torch.Generator) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """-> (context masks: [ (B, Kc) ], target masks: num_targets x (B, Kt)) as sorted token indices."""
        tgt_size = self.target_size(g)
        ctx_size = sample_block_shape(self.grid, self.context_scale, self.context_aspect, g)
        samples = [self._sample_one(tgt_size, ctx_size, g) for _ in range(batch_size)]
        targets = [
            torch.stack([s[0][k].flatten().nonzero().squeeze(1) for s in samples]) for k in range(self.num_targets)
        ]
        return [stack_truncated([s[1] for s in samples], g)], targets
