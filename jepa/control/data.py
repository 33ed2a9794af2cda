"""Trajectory windows for world-model training: held-out episodes and coarser time steps.

Planning a few steps ahead only reaches around an obstacle when each model step spans several env steps
(DINO-WM's frameskip). A model step of ``frameskip`` env steps sees every ``frameskip``-th frame and the
concatenation of the ``frameskip`` actions between them, so any collected data serves any frameskip.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Subset

from jepa.data.trajectories import TrajectoryDataset, shard_split


def window_dataset(root: str, steps: int, frameskip: int) -> TrajectoryDataset:
    """Windows of ``steps`` model steps: every ``frameskip``-th observation and all actions between them."""
    return TrajectoryDataset(root, num_steps=steps, stride=frameskip)


def split_by_shard(dataset: TrajectoryDataset, val_shards: int) -> tuple[Subset, Subset]:
    """(train, val) windows, val from the last ``val_shards`` readable shards (:func:`shard_split`)."""
    _, val = shard_split(len(dataset.shards), val_shards)
    is_val = dataset.index[:, 0] >= val.start
    return Subset(dataset, np.flatnonzero(~is_val).tolist()), Subset(dataset, np.flatnonzero(is_val).tolist())


def to_model_steps(batch: dict[str, torch.Tensor], frameskip: int) -> dict[str, torch.Tensor]:
    """Concatenate the ``frameskip`` env actions of each model step: actions (B, (T-1) * frameskip, A) ->
    (B, T-1, frameskip * A); observations and states are already strided by :func:`window_dataset`."""
    b, n, a = batch["actions"].shape
    return batch | {"actions": batch["actions"].reshape(b, n // frameskip, frameskip * a)}
