"""Mask generators (index tensors) and the gather that applies them."""

from jepa.masks.apply import apply_masks, repeat_chunks
from jepa.masks.collate import MaskCollator, ScheduledMasks
from jepa.masks.multiblock import MultiBlockMasks
from jepa.masks.multiblock3d import LONG_RANGE, SHORT_RANGE, BlockSpec, MultiBlock3DMasks
from jepa.masks.time_frequency import TimeFrequencyBlocks, TimeFrequencyMasks, curriculum_probability

MASK_KINDS = ("multiblock", "multiblock3d", "time_frequency")  # 2D I-JEPA, 3D V-JEPA, A-JEPA's curriculum

__all__ = [
    "LONG_RANGE",
    "MASK_KINDS",
    "MaskCollator",
    "SHORT_RANGE",
    "ScheduledMasks",
    "BlockSpec",
    "MultiBlock3DMasks",
    "MultiBlockMasks",
    "TimeFrequencyBlocks",
    "TimeFrequencyMasks",
    "apply_masks",
    "curriculum_probability",
    "repeat_chunks",
]
