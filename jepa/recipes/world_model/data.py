"""Trajectory windows for world-model training: held-out episodes and coarser time steps.

Planning a few steps ahead only reaches around an obstacle when each model step spans several env steps
(DINO-WM's frameskip). A model step of ``frameskip`` env steps sees every ``frameskip``-th frame and the
concatenation of the ``frameskip`` actions between them, so any collected data serves any frameskip.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset, default_collate

from jepa.data.trajectories import (
    TrajectoryDataset,
    episode_first_rows,
    obs_to_tensor,
    read_collection,
    shard_split,
)
from jepa.methods import WorldModel
from jepa.train.engine import to_device


def window_dataset(root: str, steps: int, frameskip: int) -> TrajectoryDataset:
    """Windows of ``steps`` model steps: every ``frameskip``-th observation and all actions between them."""
    return TrajectoryDataset(root, num_steps=steps, stride=frameskip)


def data_dims(windows: TrajectoryDataset) -> dict[str, int]:
    """The sizes a world model is built for: the frames' side, the env's action and true-state dimensions."""
    sample = windows[0]
    return {
        "image_size": sample["obs"].shape[-1],
        "action_dim": sample["actions"].shape[-1],
        "proprio_dim": sample["states"].shape[-1],
    }


def state_statistics(windows: TrajectoryDataset, shards: Sequence[int]) -> dict[str, list[float]]:
    """The mean and std (S,) of the true states of ``shards`` (the training ones), which standardise the proprio
    input of a world model."""
    states = np.concatenate([windows.shards[i]["state"] for i in shards]).astype(np.float64)
    return {"mean": states.mean(0).tolist(), "std": states.std(0).tolist()}


@torch.no_grad()
def encode_frames(
    model: WorldModel, frames: np.ndarray, batch_size: int = 256, encode: Callable | None = None
) -> torch.Tensor:
    """uint8 frames (N, H, W, 3) -> latents (N, tokens, D), on the CPU; encoded on the model's device by
    ``encode`` (default ``model.encode``)."""
    device, encode = next(model.parameters()).device, encode or model.encode
    chunks = np.array_split(frames, max(1, len(frames) // batch_size))
    return torch.cat([encode(obs_to_tensor(chunk).to(device)).cpu() for chunk in chunks])


def episode_latents(model: WorldModel, root: str, frameskip: int) -> list[torch.Tensor]:
    """Every recorded episode of ``root`` as latents one model step apart, (T_i, tokens, D) each: the nodes of a
    :class:`jepa.planning.LatentGraph`."""
    _, shards, _ = read_collection(Path(root).expanduser())
    sequences: list[torch.Tensor] = []
    for shard in shards:
        firsts = episode_first_rows(shard["episode_lengths"])
        rows = [
            np.arange(first, first + length + 1, frameskip) for first, length in zip(firsts, shard["episode_lengths"])
        ]
        latents = encode_frames(model, shard["obs"][np.concatenate(rows)])
        sequences += latents.split([len(r) for r in rows])
    return sequences


class EncodedWindows(Dataset):
    """The windows of ``windows`` with their frames replaced by a frozen encoder's latents ``z`` (T, N, D).

    A frozen encoder maps a frame to the same latent in every epoch, and encoding 64 windows of 9 frames with a
    ViT costs seconds per step, so every frame is encoded once here (36k Two-Rooms frames at 16 x 192 floats:
    440 MB). With ``fit_shards``, the encoder's read-out (:meth:`PooledEncoder.fit`) is first fitted to the
    pooled tokens of those shards (the training ones), ``standardise`` as the config says."""

    def __init__(
        self, windows: TrajectoryDataset, model: WorldModel, fit_shards: Sequence[int] = (), standardise: bool = True
    ):
        self.windows, self.index, self.shards = windows, windows.index, windows.shards
        self.meta, self.bad_shards = windows.meta, windows.bad_shards
        encoder = model.encoder
        if fit_shards:
            pooled = [encode_frames(model, shard["obs"], encode=encoder.pooled) for shard in windows.shards]
            encoder.fit(torch.cat([pooled[i] for i in fit_shards]), standardise)
            self.latents = [encoder.read_out(z) for z in pooled]
        else:
            self.latents = [encode_frames(model, shard["obs"]) for shard in windows.shards]

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        shard, obs, _ = self.windows.window_rows(i)
        return {"z": self.latents[shard][obs], **self.windows.actions_and_states(i)}


def split_by_shard(dataset: TrajectoryDataset | EncodedWindows, val_shards: int) -> tuple[Subset, Subset]:
    """(train, val) windows, val from the collection's last ``val_shards`` shards (:func:`shard_split`)."""
    _, val = shard_split(dataset.meta, dataset.bad_shards, val_shards)
    is_val = np.isin(dataset.index[:, 0], val)
    return Subset(dataset, np.flatnonzero(~is_val).tolist()), Subset(dataset, np.flatnonzero(is_val).tolist())


def to_model_steps(batch: dict[str, torch.Tensor], frameskip: int) -> dict[str, torch.Tensor]:
    """Concatenate the ``frameskip`` env actions of each model step: actions (B, (T-1) * frameskip, A) ->
    (B, T-1, frameskip * A); observations and states are already strided by :func:`window_dataset`."""
    b, n, a = batch["actions"].shape
    return batch | {"actions": batch["actions"].reshape(b, n // frameskip, frameskip * a)}


class ModelSteps:
    """The world model's collate function: stacked windows in model steps (:func:`to_model_steps`), with the true
    states as the predictor's ``proprio`` input when it takes them."""

    def __init__(self, frameskip: int, proprio: bool):
        self.frameskip, self.proprio = frameskip, proprio

    def __call__(self, samples: list[dict], context=None) -> dict[str, torch.Tensor]:
        batch = to_model_steps(default_collate(samples), self.frameskip)
        return batch | {"proprio": batch["states"]} if self.proprio else batch


@torch.no_grad()
def validation_losses(model: WorldModel, val_set: Dataset, collate: ModelSteps, batch_size: int = 64) -> dict:
    """Mean teacher-forcing and rollout losses over (up to 20 seeded batches of) held-out windows."""
    loader = DataLoader(
        val_set, batch_size=batch_size, shuffle=True, collate_fn=collate, generator=torch.Generator().manual_seed(0)
    )
    sums: dict[str, float] = {}
    count = 0
    device = next(model.parameters()).device
    for batch in itertools.islice(loader, 20):
        out = model(to_device(batch, device))
        for key in ("teacher", "rollout"):
            if key in out:
                sums[key] = sums.get(key, 0.0) + out[key].item()
        count += 1
    return {f"val_{key}": value / count for key, value in sums.items()}
