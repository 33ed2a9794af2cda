"""Mask generators (index tensors) and the gather that applies them."""

from jepa.masks.apply import apply_masks, repeat_chunks
from jepa.masks.multiblock import MultiBlockMasks
from jepa.masks.multiblock3d import LONG_RANGE, SHORT_RANGE, BlockSpec, MultiBlock3DMasks
from jepa.masks.time_frequency import TimeFrequencyBlocks, TimeFrequencyMasks, curriculum_probability

__all__ = [
    "LONG_RANGE",
    "SHORT_RANGE",
    "BlockSpec",
    "MultiBlock3DMasks",
    "MultiBlockMasks",
    "TimeFrequencyBlocks",
    "TimeFrequencyMasks",
    "apply_masks",
    "curriculum_probability",
    "repeat_chunks",
]
