"""A step-indexed, resumable, rank-sharded training loader; a method's collate function builds its batches.

Batch ``s`` is a pure function of (seed, s): its sample indices come from the permutation of epoch
``s // steps_per_epoch``, any random draw of the collate function (I-JEPA's masks) from a generator seeded with
(seed, s) that is the same on every rank, and any random draw a dataset makes per item (a crop) from a generator
seeded with (seed, s, index). Resuming at step
``s`` therefore replays exactly what an uninterrupted run would have seen, with any number of
workers, and under DDP each rank takes its slice of the same global batch (so a DDP run sees the
same data and masks as one process with the same global batch). Every batch is a dict carrying its ``step``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from jepa.common.errors import DataError


def step_generator(seed: int, step: int, stream: int = 0) -> torch.Generator:
    """An independent generator per (seed, step, stream)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + step) * 8 + stream)


def item_generator(seed: int, step: int, index: int) -> torch.Generator:
    """An independent generator per (seed, step, sample index), for a dataset's per-item random draws."""
    return torch.Generator().manual_seed(((seed * 1_000_003 + step) * 8 + 2) * 1_000_003 + index)


@runtime_checkable
class RandomItems(Protocol):
    """A dataset whose training items take random draws (e.g. audio crops) from a given generator."""

    def item(self, index: int, generator: torch.Generator | None = None) -> Any: ...


class StepBatchSampler(Sampler[list[tuple[int, int]]]):
    """Yields, for steps start..total-1, this rank's share of the global batch as (step, index) pairs."""

    def __init__(
        self,
        num_samples: int,
        global_batch: int,
        seed: int,
        total_steps: int,
        start_step: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        if global_batch % world_size:
            raise ValueError(f"global batch {global_batch} is not divisible by the world size {world_size}")
        if num_samples < global_batch:
            raise DataError(f"dataset has {num_samples} samples, fewer than one batch of {global_batch}")
        self.num_samples, self.global_batch, self.seed = num_samples, global_batch, seed
        self.start_step, self.total_steps = start_step, total_steps
        self.local = global_batch // world_size
        self.offset = rank * self.local
        self.steps_per_epoch = num_samples // global_batch

    def indices(self, step: int) -> list[int]:
        epoch, position = divmod(step, self.steps_per_epoch)
        perm = torch.randperm(self.num_samples, generator=step_generator(self.seed, epoch, stream=1))
        start = position * self.global_batch + self.offset
        return perm[start : start + self.local].tolist()

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for step in range(self.start_step, self.total_steps):
            yield [(step, i) for i in self.indices(step)]

    def __len__(self) -> int:
        return max(self.total_steps - self.start_step, 0)


class StepTagged(Dataset):
    """Wraps a dataset so items carry the step they were drawn for (the collator seeds masks with it), and
    hands :class:`RandomItems` datasets their (seed, step, index) generator."""

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed = dataset, seed

    def __getitem__(self, key: tuple[int, int]):
        step, index = key
        if isinstance(self.dataset, RandomItems):
            return self.dataset.item(index, item_generator(self.seed, step, index)), step
        return self.dataset[index], step

    def __len__(self) -> int:
        return len(self.dataset)


@dataclass(frozen=True)
class BatchContext:
    """What a collate function may know of the batch it builds: its ``step``, the run's ``seed``, the
    ``global_batch`` size and this rank's ``rows`` of it. Random draws shared by all ranks (masks of the whole
    global batch, then cut to ``rows``) come from :meth:`generator`."""

    step: int
    seed: int
    global_batch: int
    rows: slice

    def generator(self) -> torch.Generator:
        return step_generator(self.seed, self.step)


Collate = Callable[[list, BatchContext], dict]


def stack(samples: list, context: BatchContext) -> dict:
    """The default collate function: samples that are dicts of tensors stacked into one dict."""
    return default_collate(samples)


class _StepCollate:
    """Hands the method's collate function the samples and the :class:`BatchContext`; adds ``step`` to the batch."""

    def __init__(self, collate: Collate, seed: int, global_batch: int, rank: int, world_size: int):
        self.collate, self.seed, self.global_batch = collate, seed, global_batch
        self.rows = slice(rank * global_batch // world_size, (rank + 1) * global_batch // world_size)

    def __call__(self, items: list) -> dict:
        step = items[0][1]
        context = BatchContext(step, self.seed, self.global_batch, self.rows)
        return {**self.collate([item for item, _ in items], context), "step": step}


def build_train_loader(
    dataset: Dataset,
    collate: Collate = stack,
    *,
    global_batch: int,
    seed: int,
    total_steps: int,
    start_step: int = 0,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int = 1,
    pin_memory: bool = False,
) -> DataLoader:
    sampler = StepBatchSampler(len(dataset), global_batch, seed, total_steps, start_step, rank, world_size)
    return DataLoader(
        StepTagged(dataset, seed),
        batch_sampler=sampler,
        collate_fn=_StepCollate(collate, seed, global_batch, rank, world_size),
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=False,
        prefetch_factor=4 if num_workers > 0 else None,
    )
