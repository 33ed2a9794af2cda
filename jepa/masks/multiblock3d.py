"""V-JEPA 3D multi-block masks on a (T', H', W') tubelet grid.

Several generators mask the same clip independently; each one's target is the union of its blocks and its
context is everything else. The defaults are V-JEPA's pair: short-range (8 small blocks) asks the predictor
to fill in local detail, long-range (2 large blocks) to infer most of the scene from a little context.
Blocks span all time by default, so a target cannot be copied from the same place in a neighbouring frame.

Output follows :class:`MultiBlockMasks`: ``(contexts, targets)``, here one (B, K) index tensor per generator
in each list, so context ``i`` pairs with target ``i``. Block sizes are drawn per batch and generator,
positions per sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from jepa.masks.multiblock import place_block, sample_block_shape, stack_truncated


@dataclass(frozen=True)
class BlockSpec:
    """One mask generator: ``num_blocks`` blocks, each covering a ``spatial_scale`` share of H' x W' (aspect
    h/w in ``aspect``) and a ``temporal_scale`` share of T'."""

    num_blocks: int
    spatial_scale: tuple[float, float]
    temporal_scale: tuple[float, float] = (1.0, 1.0)
    aspect: tuple[float, float] = (0.75, 1.5)


SHORT_RANGE = BlockSpec(num_blocks=8, spatial_scale=(0.15, 0.15))
LONG_RANGE = BlockSpec(num_blocks=2, spatial_scale=(0.7, 0.7))


@dataclass
class MultiBlock3DMasks:
    grid: tuple[int, int, int]
    specs: tuple[BlockSpec, ...] = (SHORT_RANGE, LONG_RANGE)
    min_keep: int = 4  # context tokens every sample must keep
    max_tries: int = 100

    @property
    def num_generators(self) -> int:
        """One (context, target) pair per generator, each with its own mask token in the predictor."""
        return len(self.specs)

    def _block_size(self, spec: BlockSpec, g: torch.Generator) -> tuple[int, int, int]:
        T = self.grid[0]
        h, w = sample_block_shape(self.grid[1:], spec.spatial_scale, spec.aspect, g)
        lo, hi = spec.temporal_scale
        t = min(max(round(T * (lo + float(torch.rand(1, generator=g)) * (hi - lo))), 1), T)
        return t, h, w

    def _sample_target(self, spec: BlockSpec, size: tuple[int, int, int], g: torch.Generator) -> torch.Tensor:
        """Boolean (T', H', W') union of the generator's blocks, redrawn until the context keeps min_keep."""
        for _ in range(self.max_tries):
            target = torch.stack([place_block(self.grid, size, g) for _ in range(spec.num_blocks)]).any(0)
            if int((~target).sum()) >= self.min_keep:
                return target
        raise RuntimeError(
            f"could not keep {self.min_keep} context tokens in {self.max_tries} tries on grid {self.grid} "
            f"with {spec.num_blocks} blocks of size {size}; lower num_blocks/spatial_scale or min_keep"
        )

    def __call__(self, batch_size: int, g: torch.Generator) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """-> (contexts, targets): per generator a (B, Kc) and a (B, Kt) tensor of sorted token indices."""
        contexts, targets = [], []
        for spec in self.specs:
            size = self._block_size(spec, g)
            union = [self._sample_target(spec, size, g) for _ in range(batch_size)]
            contexts.append(stack_truncated([~u for u in union], g))
            targets.append(stack_truncated(union, g))
        return contexts, targets
