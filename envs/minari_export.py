"""Copy a trajectory collection into a Minari dataset, so offline-RL tools can read our data too.

Needs the optional ``minari`` extra. Datasets go where Minari keeps them (``MINARI_DATASETS_PATH``,
default ``~/.minari/datasets``); images are stored losslessly and the true state as ``infos["state"]``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import envs  # noqa: F401  (registers our env ids, which Minari records and re-makes)
from jepa.data.trajectories import read_meta, read_shard


def minari_available() -> bool:
    try:
        import minari  # noqa: F401
    except ImportError:
        return False
    return True


def export_minari(directory: str | Path, dataset_id: str, **metadata):
    """Write every episode of the collection in ``directory`` as Minari dataset ``dataset_id`` (which must
    not exist yet) and return the ``MinariDataset``. ``metadata`` (author, author_email, code_permalink,
    ...) goes to ``minari.create_dataset_from_buffers``. Unlike training, export stops at an unreadable
    shard: a partial copy would pass for the whole collection."""
    import gymnasium as gym
    import minari
    from minari.data_collector import EpisodeBuffer

    directory = Path(directory)
    meta = read_meta(directory)
    buffers = []
    for name in meta["shards"]:
        shard = read_shard(directory / name)
        o = a = 0
        for episode_id, length in zip(shard["episode_ids"].tolist(), shard["episode_lengths"].tolist()):
            buffers.append(
                EpisodeBuffer(
                    id=episode_id,
                    observations=shard["obs"][o : o + length + 1],
                    actions=shard["actions"][a : a + length],
                    rewards=shard["rewards"][a : a + length],
                    terminations=shard["terminated"][a : a + length],
                    truncations=shard["truncated"][a : a + length],
                    infos={"state": shard["state"][o : o + length + 1]},
                )
            )
            o, a = o + length + 1, a + length
    spec = dataclasses.replace(gym.spec(meta["env"]), max_episode_steps=meta["max_episode_steps"])
    return minari.create_dataset_from_buffers(
        dataset_id,
        buffers,
        env=spec,
        eval_env=spec,
        **{
            "algorithm_name": f"jepa collect policy={meta['policy']} seed={meta['seed']}",
            "description": f"{meta['episodes']} episodes of {meta['env']} exported from {directory.name}",
            **metadata,
        },
        jpeg_encoding=False,
    )
