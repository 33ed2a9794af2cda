"""Trajectories collected in control environments: the on-disk format and the windowed dataset.

A collection is one directory (format version 1):

- ``shard_00000.npz``, ``shard_00001.npz``, ...: whole episodes each, numpy's compressed npz, arrays
  ``obs`` uint8 (Σ(L+1), H, W, 3) and ``state`` float32 (Σ(L+1), S): every observation of each episode
  and the true state behind it (Two-Rooms: the agent position; pixel control tasks: the simulator state);
  ``actions`` float32 (ΣL, A), ``rewards`` float32 (ΣL,), ``terminated`` / ``truncated`` bool (ΣL,): the
  L steps of each episode, action t leading from observation t to t + 1; ``episode_ids`` and
  ``episode_lengths`` int64 (E,): the global episode numbers and their L; for goal-conditioned envs
  ``goal_obs`` uint8 (E, H, W, 3), each episode's goal image, and ``goal_state`` float32 (E, G), the goal the env
  reports in its info (Two-Rooms: the goal position; the MuJoCo goal tasks: the goal qpos), which probes read.
- ``meta.json``, written last: format, version, the shard names, counts (episodes, transitions), shapes,
  and what the collector records (env id, seed, policy, ...).

Episodes are stored as L + 1 observations and L actions, so no dummy action pads the final observation.
Held-out data is always whole shards (:func:`shard_split`), so no episode is on both sides.
"""

from __future__ import annotations

import json
import logging
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from jepa.common.errors import DataError
from jepa.data.generate.files import write_file_atomically
from jepa.data.index import check_split
from jepa.data.transforms import normalise

log = logging.getLogger(__name__)

FORMAT, VERSION = "jepa-trajectories", 1
META = "meta.json"
OBS_KEYS = {"obs": np.uint8, "state": np.float32}  # one row per observation
STEP_KEYS = {"actions": np.float32, "rewards": np.float32, "terminated": np.bool_, "truncated": np.bool_}
EPISODE_KEYS = {"episode_ids": np.int64, "episode_lengths": np.int64}
GOAL_KEY = "goal_obs"  # optional, one goal image per episode
GOAL_STATE_KEY = "goal_state"  # optional, the goal as the env reports it, one row per episode
# What numpy and zipfile raise on a missing, truncated or garbled shard, plus ShardError for bad contents.
SHARD_ERRORS = (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


class ShardError(ValueError):
    """A shard file reads, but its arrays do not form valid episodes."""


@dataclass
class Episode:
    """One episode: ``obs`` (L+1, H, W, 3) uint8, ``state`` (L+1, S), ``actions`` (L, A), ``rewards``,
    ``terminated``, ``truncated`` (L,); ``goal_obs`` (H, W, 3) uint8 and ``goal_state`` (G,) for goal-conditioned
    envs."""

    obs: np.ndarray
    state: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    goal_obs: np.ndarray | None = None
    goal_state: np.ndarray | None = None

    @property
    def length(self) -> int:
        return len(self.actions)


def shard_name(index: int) -> str:
    return f"shard_{index:05d}.npz"


def write_shard(path: str | Path, episodes: Sequence[Episode], first_id: int) -> Path:
    """Write ``episodes`` (numbered from ``first_id``) as one shard, atomically; their goal images and goal states
    too when every episode has them."""
    arrays = {key: np.concatenate([getattr(e, key) for e in episodes]).astype(dtype) for key, dtype in OBS_KEYS.items()}
    for key, dtype in STEP_KEYS.items():
        arrays[key] = np.concatenate([getattr(e, key) for e in episodes]).astype(dtype)
    arrays["episode_ids"] = np.arange(first_id, first_id + len(episodes), dtype=np.int64)
    arrays["episode_lengths"] = np.array([e.length for e in episodes], dtype=np.int64)
    if all(e.goal_obs is not None for e in episodes):
        arrays[GOAL_KEY] = np.stack([e.goal_obs for e in episodes]).astype(np.uint8)
    if all(e.goal_state is not None for e in episodes):
        arrays[GOAL_STATE_KEY] = np.stack([e.goal_state for e in episodes]).astype(np.float32)
    _check_shard(arrays)
    return write_file_atomically(path, lambda f: np.savez_compressed(f, **arrays))


def _check_shard(arrays: dict[str, np.ndarray]) -> None:
    expected = {**OBS_KEYS, **STEP_KEYS, **EPISODE_KEYS}
    missing = sorted(set(expected) - set(arrays))
    if missing:
        raise ShardError(f"missing arrays {missing}")
    for key, dtype in expected.items():
        if arrays[key].dtype != dtype:
            raise ShardError(f"{key} has dtype {arrays[key].dtype}, expected {np.dtype(dtype)}")
    lengths = arrays["episode_lengths"]
    if len(lengths) != len(arrays["episode_ids"]) or (lengths < 0).any():
        raise ShardError("episode_ids and episode_lengths disagree or hold negative lengths")
    rows = {**dict.fromkeys(OBS_KEYS, int((lengths + 1).sum())), **dict.fromkeys(STEP_KEYS, int(lengths.sum()))}
    for key, n in rows.items():
        if len(arrays[key]) != n:
            raise ShardError(f"{key} has {len(arrays[key])} rows; the episode lengths need {n}")
    if arrays["obs"].ndim != 4 or arrays["obs"].shape[-1] != 3:
        raise ShardError(f"obs must be (N, H, W, 3), got {arrays['obs'].shape}")
    if GOAL_KEY in arrays and arrays[GOAL_KEY].shape != (len(lengths), *arrays["obs"].shape[1:]):
        shape = arrays[GOAL_KEY].shape
        raise ShardError(f"{GOAL_KEY} must be one {arrays['obs'].shape[1:]} image per episode, got {shape}")
    if GOAL_STATE_KEY in arrays and (arrays[GOAL_STATE_KEY].ndim != 2 or len(arrays[GOAL_STATE_KEY]) != len(lengths)):
        raise ShardError(f"{GOAL_STATE_KEY} must be one row per episode, got {arrays[GOAL_STATE_KEY].shape}")


def read_shard(path: str | Path) -> dict[str, np.ndarray]:
    """All arrays of a shard, checked for consistency; raises one of ``SHARD_ERRORS`` if unusable."""
    if not zipfile.is_zipfile(path):  # else numpy tries other formats and reports pickled data
        raise ShardError("not an npz file (truncated or overwritten?)")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}  # reads (and CRC-checks) every array now
    _check_shard(arrays)
    return arrays


def write_meta(directory: str | Path, meta: dict[str, Any]) -> Path:
    """Write ``meta.json`` (atomically: its presence marks a finished collection)."""
    text = json.dumps({"format": FORMAT, "version": VERSION, **meta}, indent=2).encode()
    return write_file_atomically(Path(directory) / META, lambda f: f.write(text))


def read_meta(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / META
    if not path.is_file():
        raise DataError(f"{path} does not exist: {directory} is not a finished trajectory collection")
    meta = json.loads(path.read_text())
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise DataError(f"{path}: expected {FORMAT} version {VERSION}, got {meta.get('format')} {meta.get('version')}")
    return meta


def obs_to_tensor(frames: np.ndarray) -> torch.Tensor:
    """uint8 frames ``(T, H, W, 3)`` -> float ``(T, 3, H, W)`` normalised like the image datasets (also for
    goal images at planning time, so they match what the model was trained on)."""
    # a copy only of frames torch cannot share: non-contiguous, or read-only as an env's rendered frame may be
    x = torch.from_numpy(np.require(frames, requirements=["C", "W"])).permute(3, 0, 1, 2).float().div_(255)
    return normalise(x).transpose(0, 1).contiguous()


def read_collection(root: Path) -> tuple[dict[str, Any], list[dict[str, np.ndarray]], list[Path]]:
    """(meta, the readable shards' arrays, the unreadable shards' paths) of the collection in ``root``. A
    missing, truncated or inconsistent shard is skipped with a warning; only when none is readable does it raise."""
    meta = read_meta(root)
    shards: list[dict[str, np.ndarray]] = []
    bad: list[Path] = []
    for name in meta["shards"]:
        path = root / name
        try:
            shards.append(read_shard(path))
        except SHARD_ERRORS as err:
            bad.append(path)
            log.warning("skipping unreadable shard %s (%s); %d skipped so far", path, err, len(bad))
    if not shards:
        examples = [p.name for p in bad[:5]]
        raise DataError(f"no readable shard in {root}: all {len(bad)} are unreadable, e.g. {examples}")
    if bad:
        log.warning("%s: %d of %d shards skipped as unreadable", root, len(bad), len(meta["shards"]))
    return meta, shards, bad


def episode_first_rows(lengths: np.ndarray) -> np.ndarray:
    """The row of each episode's first observation in a shard whose episodes have ``lengths`` steps."""
    return np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.int64)


def _window_starts(lengths: np.ndarray, num_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """First observation row and first action row of every window of ``num_steps`` observations that
    fits inside one episode."""
    obs_first = episode_first_rows(lengths)
    step_first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    per_episode = np.maximum(lengths + 2 - num_steps, 0)
    offset = np.arange(per_episode.sum()) - np.repeat(np.cumsum(per_episode) - per_episode, per_episode)
    return np.repeat(obs_first, per_episode) + offset, np.repeat(step_first, per_episode) + offset


class TrajectoryDataset(Dataset):
    """Windows of ``num_steps`` observations of one episode (never across episodes), ``stride`` env steps apart.

    Item: ``obs`` (T, 3, H, W) float32 (see ``obs_to_tensor``), ``actions`` ((T-1) * stride, A) float32 (every
    action in the window: action t leads from env step t to t+1), ``states`` (T, S) float32. A stride above 1
    serves world models whose step spans several env steps, without converting the frames they skip. The
    shards are read into memory once (uint8 frames: 12 kB per 64 px observation). A missing, truncated or
    inconsistent shard is skipped with a warning and listed in ``bad_shards``; only when no shard is readable
    does it raise.
    """

    def __init__(self, root: str | Path, num_steps: int = 4, stride: int = 1):
        if num_steps < 1 or stride < 1:
            raise ValueError(f"num_steps and stride must be >= 1, got {num_steps} and {stride}")
        self.root, self.num_steps, self.stride = Path(root), num_steps, stride
        span = (num_steps - 1) * stride + 1  # env observations a window covers
        self.meta, self.shards, self.bad_shards = read_collection(self.root)
        index = []
        for number, shard in enumerate(self.shards):
            obs_rows, step_rows = _window_starts(shard["episode_lengths"], span)
            index.append(np.stack([np.full_like(obs_rows, number), obs_rows, step_rows], axis=1))
        self.index = np.concatenate(index)  # (N, 3): shard, first obs row, first action row
        if not len(self.index):
            raise DataError(f"no episode in {self.root} has {span} observations; use a smaller num_steps or stride")

    @property
    def num_skipped(self) -> int:
        return len(self.bad_shards)

    @property
    def num_episodes(self) -> int:
        return sum(len(s["episode_ids"]) for s in self.shards)

    def __len__(self) -> int:
        return len(self.index)

    def window_rows(self, i: int) -> tuple[int, slice, slice]:
        """Window ``i`` as (its shard, that shard's observation rows, its action rows)."""
        shard, o, a = (int(v) for v in self.index[i])
        span = (self.num_steps - 1) * self.stride + 1
        return shard, slice(o, o + span, self.stride), slice(a, a + span - 1)

    def actions_and_states(self, i: int) -> dict[str, torch.Tensor]:
        """Window ``i`` without its frames: ``actions`` and ``states``."""
        shard, obs, steps = self.window_rows(i)
        arrays = self.shards[shard]
        return {
            "actions": torch.from_numpy(arrays["actions"][steps].copy()),
            "states": torch.from_numpy(arrays["state"][obs].copy()),
        }

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        shard, obs, _ = self.window_rows(i)
        return {"obs": obs_to_tensor(self.shards[shard]["obs"][obs]), **self.actions_and_states(i)}


def shard_split(meta: dict[str, Any], bad_shards: Sequence[Path], val_shards: int) -> tuple[list[int], list[int]]:
    """(train, val) numbers of a collection's readable shards (as :func:`read_collection` lists them): val those
    among the collection's last ``val_shards`` shards, train the others. Every consumer (world-model validation, its
    position probe, encoder pretraining, policies) holds out the same episodes, and an unreadable held-out shard
    never moves the held-out split onto a training shard: with none of them readable, it raises."""
    names = list(meta["shards"])
    if not 0 < val_shards < len(names):
        raise DataError(f"need 0 < val_shards < {len(names)}, the collection's shards; got {val_shards}")
    unreadable = {Path(p).name for p in bad_shards}
    readable = [name for name in names if name not in unreadable]
    held_out = set(names[-val_shards:])
    train = [i for i, name in enumerate(readable) if name not in held_out]
    val = [i for i, name in enumerate(readable) if name in held_out]
    if not val or not train:
        side = "held-out" if not val else "training"
        raise DataError(f"every {side} shard is unreadable ({', '.join(sorted(unreadable))}); the splits stay apart")
    return train, val


def sample_frames(
    dataset: TrajectoryDataset, shards: Sequence[int], limit: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``limit`` (uint8 frames (N, H, W, 3), true states (N, S)) of ``shards``, drawn without replacement
    and kept in file order: consecutive frames are near-duplicates, so a random subset covers more states."""
    obs = np.concatenate([dataset.shards[i]["obs"] for i in shards])
    states = np.concatenate([dataset.shards[i]["state"] for i in shards])
    keep = np.sort(np.random.default_rng(seed).permutation(len(obs))[:limit])
    return obs[keep], states[keep]


class TrajectoryFrames(Dataset):
    """Single frames of a trajectory collection as an image dataset, to pretrain an encoder on what a world
    model will see and probe it for the true state.

    ``split`` 'train' draws up to ``num_train`` frames from all but the last ``val_shards`` shards, 'val' up to
    ``num_val`` from those. Item: (frame (3, H, W) normalised as :func:`obs_to_tensor`, 0): there is no class,
    so ``main_label`` is None; ``labels`` holds each state column as floats, ``state_0``, ``state_1``, ...
    (Two-Rooms: the agent's x and y).
    """

    main_label = None
    num_classes = 1

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        image_size: int = 64,
        num_train: int = 4000,
        num_val: int = 1000,
        val_shards: int = 1,
        seed: int = 0,
    ):
        check_split(split)
        collection = TrajectoryDataset(root, num_steps=1)
        train, val = shard_split(collection.meta, collection.bad_shards, val_shards)
        shards, limit = (train, num_train) if split == "train" else (val, num_val)
        self.frames, states = sample_frames(collection, shards, limit, seed)
        if self.frames.shape[1:3] != (image_size, image_size):
            raise DataError(f"data.image_size={image_size}, but {root} holds {self.frames.shape[1:3]} frames")
        self.labels = {f"state_{i}": states[:, i] for i in range(states.shape[1])}

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return obs_to_tensor(self.frames[index : index + 1])[0], 0
