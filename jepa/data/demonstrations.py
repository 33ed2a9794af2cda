"""Demonstrations as policy-learning samples: every step of every episode with the chunk of actions that follows.

A chunked policy (ACT) predicts the next ``chunk`` actions from one observation; ACT-JEPA also predicts the
embeddings of the states those actions lead to. Near an episode's end fewer steps remain: the chunk is padded and
``valid`` marks the real steps, so losses skip the padding instead of teaching the policy to stop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from jepa.data.trajectories import GOAL_KEY, GOAL_STATE_KEY, obs_to_tensor, read_collection, shard_split


def _step_index(lengths: np.ndarray) -> np.ndarray:
    """(Σ L, 4) rows of (episode, observation row, action row, steps left) for every step of a shard's episodes."""
    obs_first = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]])
    step_first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    episode = np.repeat(np.arange(len(lengths)), lengths)
    t = np.arange(lengths.sum()) - np.repeat(step_first, lengths)
    return np.stack([episode, obs_first[episode] + t, step_first[episode] + t, lengths[episode] - t], axis=1)


class DemonstrationChunks(Dataset):
    """The steps of a ``jepa collect`` directory's episodes, from the shards of ``split`` (the last ``val_shards``
    readable shards are 'val', the rest 'train': no episode on both sides).

    Item: ``obs`` (3, H, W) normalised as :func:`obs_to_tensor`, ``proprio`` (S,) the true state, ``actions``
    (chunk, A) the actions from this step on, ``future_states`` (chunk, S) the states they lead to, ``valid``
    (chunk,) bool; with ``frames`` also ``future_obs`` (chunk, 3, H, W); ``goal`` (3, H, W) when the collection
    records goal images, ``goal_state`` (G,) when it records the goals' states (what the goal probe reads). Padded
    steps repeat the episode's last action and state.
    """

    def __init__(self, root: str | Path, chunk: int, split: str = "train", val_shards: int = 1, frames: bool = False):
        if chunk < 1:
            raise ValueError(f"chunk must be >= 1, got {chunk}")
        self.root, self.chunk, self.frames = Path(root), chunk, frames
        self.meta, shards, self.bad_shards = read_collection(self.root)
        train, val = shard_split(self.meta, self.bad_shards, val_shards)
        self.shards = [shards[i] for i in (train if split == "train" else val)]
        self.has_goal = all(GOAL_KEY in shard for shard in self.shards)
        self.has_goal_state = all(GOAL_STATE_KEY in shard for shard in self.shards)
        self.index = np.concatenate(
            [np.insert(_step_index(s["episode_lengths"]), 0, number, axis=1) for number, s in enumerate(self.shards)]
        )  # (N, 5): shard, episode, observation row, action row, steps left

    def __len__(self) -> int:
        return len(self.index)

    @property
    def states(self) -> np.ndarray:
        """Every observation's true state (Σ (L+1), S): what proprio inputs are normalised by."""
        return np.concatenate([s["state"] for s in self.shards])

    def frame_statistics(self, limit: int = 4096, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """The mean frame (3, H, W) and the std () of the frames around it, over up to ``limit`` observations drawn
        without replacement (as :func:`obs_to_tensor` gives them): what a policy standardises its frames by.

        A fixed camera makes most pixels the same in every frame; with the mean frame removed, what is left is what
        changes (the agent, the goal), on the scale of the standardised proprio state."""
        rows = np.concatenate([np.full(len(s["obs"]), i) for i, s in enumerate(self.shards)])
        offsets = np.concatenate([np.arange(len(s["obs"])) for s in self.shards])
        pick = np.sort(np.random.default_rng(seed).permutation(len(rows))[:limit])
        frames = obs_to_tensor(np.stack([self.shards[rows[i]]["obs"][offsets[i]] for i in pick]))  # one conversion
        mean = frames.mean(0)
        return mean, (frames - mean).std()

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        shard, episode, o, a, left = (int(v) for v in self.index[i])
        arrays = self.shards[shard]
        ahead = np.minimum(np.arange(self.chunk), left - 1)  # padding repeats the last real step
        item = {
            "obs": obs_to_tensor(arrays["obs"][o : o + 1])[0],
            "proprio": torch.from_numpy(arrays["state"][o].copy()),
            "actions": torch.from_numpy(arrays["actions"][a + ahead]),
            "future_states": torch.from_numpy(arrays["state"][o + 1 + ahead]),
            "valid": torch.from_numpy(np.arange(self.chunk) < left),
        }
        if self.frames:
            item["future_obs"] = obs_to_tensor(arrays["obs"][o + 1 + ahead])
        if self.has_goal:
            item["goal"] = obs_to_tensor(arrays[GOAL_KEY][episode : episode + 1])[0]
        if self.has_goal_state:
            item["goal_state"] = torch.from_numpy(arrays[GOAL_STATE_KEY][episode])
        return item
