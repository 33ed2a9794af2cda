"""Does the world model's latent know where the agent is? A linear probe of the true state on held-out episodes.

Reported against a random-init model of the same architecture and the raw pixels, because only the
difference says what training added.
"""

from __future__ import annotations

import torch

from evals import linear_regression_probe
from jepa.control.build import build_world_model
from jepa.control.config import WorldModelTrainConfig
from jepa.control.data import encode_frames
from jepa.data.trajectories import TrajectoryDataset, sample_frames, shard_split
from jepa.methods import WorldModel


def position_probe(
    model: WorldModel,
    dataset: TrajectoryDataset,
    cfg: WorldModelTrainConfig,
    dims: dict[str, int],
    encoder: dict | None = None,
) -> list[dict]:
    """Ridge R² of the true state from latents: fit on frames of the training shards, scored on the held-out
    shards' episodes. Rows: the trained world model, a random-init one (with a frozen encoder's ``encoder``
    settings: a random-init ViT pooled alike), raw pixels."""
    train_shards, val_shards = shard_split(len(dataset.shards), cfg.val_shards)
    train_obs, train_states = sample_frames(dataset, train_shards, cfg.probe_frames, cfg.seed)
    val_obs, val_states = sample_frames(dataset, val_shards, cfg.probe_frames, cfg.seed)
    train_states, val_states = torch.from_numpy(train_states), torch.from_numpy(val_states)
    torch.manual_seed(cfg.seed + 1)
    encoders = {"world_model": model, "random_init": build_world_model(cfg, **dims, encoder=encoder).eval()}
    rows = []
    for name, encoder in encoders.items():
        train_x, val_x = (encode_frames(encoder, obs).flatten(1) for obs in (train_obs, val_obs))
        rows.append({"encoder": name, **linear_regression_probe(train_x, train_states, val_x, val_states)})
    pixels = [torch.from_numpy(o.reshape(len(o), -1)).float() / 255 for o in (train_obs, val_obs)]
    rows.append({"encoder": "raw_input", **linear_regression_probe(pixels[0], train_states, pixels[1], val_states)})
    return rows
