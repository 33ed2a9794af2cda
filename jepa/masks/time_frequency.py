"""A-JEPA masks on a (time x mel) spectrogram patch grid: time-frequency stripes under a curriculum.

Neighbouring spectrogram patches are strongly correlated along both axes, so a small square target is easy to
fill in from its surroundings. A-JEPA therefore masks regions aligned to the axes of the spectrogram: a time
span across every mel band (what was heard at that moment) or a mel band across the whole clip (what was heard
at that pitch). Those harder targets are brought in by a curriculum: each batch uses them with a probability
that rises with the training step, and I-JEPA's random blocks otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch

from jepa.masks.multiblock import MultiBlockMasks

Masks = tuple[list[torch.Tensor], list[torch.Tensor]]


@dataclass
class TimeFrequencyBlocks(MultiBlockMasks):
    """I-JEPA's context block minus ``num_targets`` target stripes. Per batch one stripe shape is drawn (so that
    the targets stack, as I-JEPA's blocks share one size): either a span of time rows across all mel columns or a
    band of mel columns across all time rows, covering a ``target_scale`` share of the grid (at least one row or
    column, so on small grids a stripe may cover more); positions are drawn per stripe and sample."""

    num_targets: int = 3
    target_scale: tuple[float, float] = (0.05, 0.075)

    def target_size(self, g: torch.Generator) -> tuple[int, int]:
        u_scale, u_axis = torch.rand(2, generator=g).tolist()
        share = self.target_scale[0] + u_scale * (self.target_scale[1] - self.target_scale[0])
        axis = int(u_axis < 0.5)  # 0: time spans (rows), 1: mel bands (columns)
        size = list(self.grid)
        size[axis] = min(max(round(share * self.grid[axis]), 1), self.grid[axis])
        return size[0], size[1]


def curriculum_probability(step: int, total_steps: int, start: float) -> float:
    """Root competence schedule min(1, sqrt(step (1 - c0²) / S + c0²)): ``start`` (c0) at step 0, 1 at step S,
    rising fastest early."""
    return min(1.0, math.sqrt(step * (1 - start**2) / max(total_steps, 1) + start**2))


@dataclass
class TimeFrequencyMasks:
    """Per batch, ``stripes`` with probability :func:`curriculum_probability` of the step, else ``blocks``.

    The choice is drawn from the batch's generator, so the masks stay a function of (seed, step): the training
    loader asks for ``at_step(step)`` and calls the result like any other mask generator.
    """

    stripes: TimeFrequencyBlocks
    blocks: MultiBlockMasks
    total_steps: int
    start_probability: float = 0.01

    @property
    def num_generators(self) -> int:
        return 1

    def probability(self, step: int) -> float:
        return curriculum_probability(step, self.total_steps, self.start_probability)

    def sample(self, batch_size: int, g: torch.Generator, step: int) -> Masks:
        """-> (contexts, targets) of the chosen generator; the number of targets differs between the two."""
        use_stripes = float(torch.rand(1, generator=g)) < self.probability(step)
        return (self.stripes if use_stripes else self.blocks)(batch_size, g)

    def at_step(self, step: int) -> Callable[[int, torch.Generator], Masks]:
        """The mask generator of training step ``step``: ``(batch_size, g) -> (contexts, targets)``."""
        return partial(self.sample, step=step)
