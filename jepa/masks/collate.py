"""The masked methods' collate function: stack (input, label) samples and draw masks for the whole global batch."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch
from torch.utils.data import default_collate

MaskGenerator = Callable[[int, torch.Generator], tuple[list[torch.Tensor], list[torch.Tensor]]]


@runtime_checkable
class ScheduledMasks(Protocol):
    """Masks that change over training (a curriculum): ``at_step(step)`` is that step's mask generator."""

    def at_step(self, step: int) -> MaskGenerator: ...


class MaskCollator:
    """``collate(samples, context)`` for :func:`jepa.data.loader.build_train_loader`: ``x`` (B, ...) and ``y``,
    and the context / target index masks drawn for the whole global batch from the step's shared generator, then
    cut to this rank's rows, so every rank of a DDP run sees its slice of the masks one process would draw."""

    def __init__(self, masks: MaskGenerator | ScheduledMasks):
        self.masks = masks

    def __call__(self, samples: list, context) -> dict:
        x, y = default_collate(samples)
        masks = self.masks.at_step(context.step) if isinstance(self.masks, ScheduledMasks) else self.masks
        masks_ctx, masks_tgt = masks(context.global_batch, context.generator())
        return {
            "x": x,
            "y": y,
            "masks_ctx": [m[context.rows] for m in masks_ctx],
            "masks_tgt": [m[context.rows] for m in masks_tgt],
        }
