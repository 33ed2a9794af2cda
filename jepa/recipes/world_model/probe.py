"""Does the world model's latent know where the agent is? A linear probe of the true state on held-out episodes,
and whether latent distances say it: the state error of each held-out frame's nearest training latent.

Reported against a random-init model of the same architecture and the raw pixels, because only the
difference says what training added.
"""

from __future__ import annotations

import torch

from evals import linear_regression_probe, neighbour_state_error
from jepa.data.trajectories import TrajectoryDataset, sample_frames, shard_split
from jepa.methods import WorldModel
from jepa.recipes.world_model.data import encode_frames


def position_probe(
    models: dict[str, WorldModel], dataset: TrajectoryDataset, val_shards: int, frames: int, seed: int
) -> list[dict]:
    """Ridge R² of the true state from each model's latents (and from raw pixels), and the nearest-neighbour state
    error: fit on ``frames`` frames of the training shards, scored on as many of the last ``val_shards`` shards'
    episodes."""
    train_shards, held_out = shard_split(dataset.meta, dataset.bad_shards, val_shards)
    train_obs, train_states = sample_frames(dataset, train_shards, frames, seed)
    val_obs, val_states = sample_frames(dataset, held_out, frames, seed)
    train_states, val_states = torch.from_numpy(train_states), torch.from_numpy(val_states)
    rows = []
    for name, model in models.items():
        train_x, val_x = (encode_frames(model, obs).flatten(1) for obs in (train_obs, val_obs))
        rows.append({"encoder": name, **_probes(train_x, train_states, val_x, val_states)})
    pixels = [torch.from_numpy(o.reshape(len(o), -1)).float() / 255 for o in (train_obs, val_obs)]
    rows.append({"encoder": "raw_input", **_probes(pixels[0], train_states, pixels[1], val_states)})
    return rows


def _probes(train_x: torch.Tensor, train_t: torch.Tensor, val_x: torch.Tensor, val_t: torch.Tensor) -> dict:
    sets = (train_x, train_t, val_x, val_t)
    return linear_regression_probe(*sets) | neighbour_state_error(*sets)
