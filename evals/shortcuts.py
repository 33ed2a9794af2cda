"""Does a model read the input it is meant to read? Shuffle that input across the samples and see the error move.

A policy given the true state beside the frames can score well without ever reading the frames (or the goal image):
its error then does not change when the frames of the batch are swapped between samples. The difference between
the shuffled and the intact error is how much the model uses that input; ~0 means it learnt a shortcut.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch


def shuffle_across_samples(
    batch: dict[str, torch.Tensor], keys: Iterable[str], generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """``batch`` with the tensors under ``keys`` (those present) permuted along the sample axis by one shared
    permutation, so an observation and its goal image stay together; the other entries are left as they are."""
    keys = [key for key in keys if key in batch]
    if not keys:
        return batch
    order = torch.randperm(len(batch[keys[0]]), generator=generator).to(batch[keys[0]].device)
    return batch | {key: batch[key][order] for key in keys}
