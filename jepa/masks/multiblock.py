"""I-JEPA multi-block masks on a 2D token grid.

Per batch one target-block size and one context-block size are drawn (so every sample keeps the same
number of target tokens); positions are drawn per sample. The context block loses every token that
lies in a target block. Unlike the official collator, block corners range over every valid cell, so
blocks can touch the last row and column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


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

    def _block_size(
        self, scale: tuple[float, float], aspect: tuple[float, float], g: torch.Generator
    ) -> tuple[int, int]:
        H, W = self.grid
        u_scale, u_aspect = torch.rand(2, generator=g).tolist()
        area = H * W * (scale[0] + u_scale * (scale[1] - scale[0]))
        log_lo, log_hi = math.log(aspect[0]), math.log(aspect[1])
        ratio = math.exp(log_lo + u_aspect * (log_hi - log_lo))
        h = min(max(round(math.sqrt(area * ratio)), 1), H)
        w = min(max(round(math.sqrt(area / ratio)), 1), W)
        return h, w

    def _place(self, size: tuple[int, int], g: torch.Generator) -> torch.Tensor:
        """Boolean (H, W) grid with one h x w block; the corner is uniform over all H-h+1 x W-w+1 spots."""
        H, W = self.grid
        h, w = size
        top = int(torch.randint(0, H - h + 1, (1,), generator=g))
        left = int(torch.randint(0, W - w + 1, (1,), generator=g))
        block = torch.zeros(H, W, dtype=torch.bool)
        block[top : top + h, left : left + w] = True
        return block

    def _sample_one(self, tgt_size, ctx_size, g) -> tuple[list[torch.Tensor], torch.Tensor]:
        for _ in range(self.max_tries):
            targets = [self._place(tgt_size, g) for _ in range(self.num_targets)]
            context = self._place(ctx_size, g)
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
        tgt_size = self._block_size(self.target_scale, self.target_aspect, g)
        ctx_size = self._block_size(self.context_scale, self.context_aspect, g)
        samples = [self._sample_one(tgt_size, ctx_size, g) for _ in range(batch_size)]
        targets = [
            torch.stack([s[0][k].flatten().nonzero().squeeze(1) for s in samples]) for k in range(self.num_targets)
        ]
        contexts = [s[1].flatten().nonzero().squeeze(1) for s in samples]
        keep = min(len(c) for c in contexts)
        # truncate to the batch minimum so masks stack; a random subset avoids favouring the top rows
        contexts = [c[torch.randperm(len(c), generator=g)[:keep].sort().values] for c in contexts]
        return [torch.stack(contexts)], targets
