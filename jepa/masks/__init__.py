"""Mask generators (index tensors) and the gather that applies them."""

from jepa.masks.apply import apply_masks, repeat_chunks
from jepa.masks.multiblock import MultiBlockMasks

__all__ = ["MultiBlockMasks", "apply_masks", "repeat_chunks"]
