import json
import logging
import shutil

import numpy as np
import pytest
import torch

pytest.importorskip("gymnasium", reason="control tests need the 'control' extra (gymnasium)")

from hydra.errors import HydraException  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from envs.two_rooms import TwoRoomsEnv  # noqa: E402
from jepa.cli import main  # noqa: E402
from jepa.commands.collect import collect  # noqa: E402
from jepa.common.errors import ConfigError, DataError  # noqa: E402
from jepa.config import load_config  # noqa: E402
from jepa.data import TrajectoryDataset  # noqa: E402
from jepa.data.trajectories import Episode, TrajectoryFrames, obs_to_tensor, read_shard, write_shard  # noqa: E402

STEPS, EPISODES, PER_SHARD = 30, 6, 2


@pytest.fixture(autouse=True)
def _headless(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")


def _collect_config(*overrides: str) -> DictConfig:
    return load_config(["progress=false", *overrides], command="collect")


def _two_rooms(out, seed=3) -> DictConfig:
    return _collect_config(
        "env=two_rooms",
        "policy=waypoint",
        f"episodes={EPISODES}",
        f"steps={STEPS}",
        "num_envs=2",
        f"episodes_per_shard={PER_SHARD}",
        f"seed={seed}",
        f"out={out}",
    )


@pytest.fixture(scope="module")
def two_rooms_dir(tmp_path_factory):
    return collect(_two_rooms(tmp_path_factory.mktemp("traj") / "two_rooms"))


def _episodes(directory):
    """Episodes straight from the shard files (plain numpy, not the library's reader)."""
    meta = json.loads((directory / "meta.json").read_text())
    episodes = []
    for name in meta["shards"]:
        with np.load(directory / name) as npz:
            shard = dict(npz)
        o = a = 0
        for episode_id, length in zip(shard["episode_ids"], shard["episode_lengths"]):
            episodes.append(
                {
                    "id": int(episode_id),
                    "obs": shard["obs"][o : o + length + 1],
                    "state": shard["state"][o : o + length + 1],
                    **{k: shard[k][a : a + length] for k in ("actions", "rewards", "terminated", "truncated")},
                }
            )
            o, a = o + length + 1, a + length
    return meta, episodes


def test_collect_writes_whole_episodes_in_shards_with_meta(two_rooms_dir):
    meta, episodes = _episodes(two_rooms_dir)
    assert meta["env"] == "jepa/TwoRooms-v0" and meta["policy"] == "waypoint" and meta["seed"] == 3
    assert meta["shards"] == ["shard_00000.npz", "shard_00001.npz", "shard_00002.npz"]
    assert meta["episodes"] == EPISODES == len(episodes) and [e["id"] for e in episodes] == list(range(EPISODES))
    assert meta["transitions"] == sum(len(e["actions"]) for e in episodes)
    assert meta["obs_shape"] == [64, 64, 3] and meta["action_shape"] == [2] and meta["state_shape"] == [2]
    assert sorted(p.name for p in two_rooms_dir.iterdir()) == ["meta.json", *meta["shards"]]  # no temp files
    for e in episodes:
        assert e["obs"].dtype == np.uint8 and e["actions"].dtype == np.float32
        assert 1 <= len(e["actions"]) <= STEPS
        ended = e["terminated"] | e["truncated"]
        assert ended[-1] and not ended[:-1].any()  # an episode ends once, at its last step
        assert e["truncated"][-1] == (len(e["actions"]) == STEPS and not e["terminated"][-1])


def test_collected_episodes_replay_exactly(two_rooms_dir):
    """Observations, states and actions were stored as the env produced them: replaying the stored
    actions from the stored start reproduces every stored frame. The start comes back from its float32
    copy, so an anti-aliased edge pixel may round to the neighbouring level; a wrong action would move the
    disc by whole pixels."""
    _, episodes = _episodes(two_rooms_dir)
    env = TwoRoomsEnv()
    for e in episodes:
        obs, info = env.reset(options={"start": e["state"][0].astype(np.float64)})
        np.testing.assert_array_equal(obs, e["obs"][0])
        for t, action in enumerate(e["actions"]):
            obs, *_ = env.step(action)
            np.testing.assert_allclose(obs.astype(int), e["obs"][t + 1].astype(int), atol=1)
            np.testing.assert_allclose(env.pos, e["state"][t + 1], atol=1e-6)


def test_collect_is_deterministic_under_a_seed(two_rooms_dir, tmp_path):
    _, a = _episodes(two_rooms_dir)
    _, b = _episodes(collect(_two_rooms(tmp_path / "again")))
    for x, y in zip(a, b, strict=True):
        for key in x:
            np.testing.assert_array_equal(x[key], y[key])
    _, c = _episodes(collect(_two_rooms(tmp_path / "other", seed=4)))
    assert not np.array_equal(a[0]["actions"], c[0]["actions"])


def test_dataset_windows_round_trip_and_never_cross_episodes(two_rooms_dir):
    T = 4
    ds = TrajectoryDataset(two_rooms_dir, num_steps=T)
    _, episodes = _episodes(two_rooms_dir)
    expected = [(e, s) for e in episodes for s in range(len(e["obs"]) - T + 1)]
    assert len(ds) == len(expected) and ds.num_skipped == 0 and ds.num_episodes == EPISODES
    for i, (e, s) in enumerate(expected):
        item = ds[i]
        assert item["obs"].shape == (T, 3, 64, 64) and item["obs"].dtype == torch.float32
        assert torch.equal(item["obs"], obs_to_tensor(e["obs"][s : s + T]))
        assert torch.equal(item["actions"], torch.from_numpy(e["actions"][s : s + T - 1]))
        assert torch.equal(item["states"], torch.from_numpy(e["state"][s : s + T]))
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=5)))
    assert batch["obs"].shape == (5, T, 3, 64, 64) and batch["actions"].shape == (5, T - 1, 2)
    longest = max(len(e["obs"]) for e in episodes)
    with pytest.raises(ValueError, match="num_steps"):
        TrajectoryDataset(two_rooms_dir, num_steps=longest + 1)


def test_trajectory_frames_hold_out_the_last_shard_and_carry_the_true_state_as_float_labels(two_rooms_dir):
    from jepa.data import build_image_dataset

    _, episodes = _episodes(two_rooms_dir)
    everything = {"num_train": 10_000, "num_val": 10_000, "val_shards": 1}
    for split, expected in [("train", episodes[:-PER_SHARD]), ("val", episodes[-PER_SHARD:])]:
        frames = build_image_dataset("trajectories", split, two_rooms_dir, 64, **everything)
        states = np.concatenate([e["state"] for e in expected])
        assert frames.main_label is None and set(frames.labels) == {"state_0", "state_1"}
        assert np.array_equal(np.stack([frames.labels["state_0"], frames.labels["state_1"]], 1), states)
        assert frames.labels["state_0"].dtype == np.float32 and len(frames) == len(states)
        x, y = frames[5]
        assert torch.equal(x, obs_to_tensor(np.concatenate([e["obs"] for e in expected])[5:6])[0]) and y == 0
    few = TrajectoryFrames(two_rooms_dir, "train", num_train=7, seed=1)
    train_states = np.concatenate([e["state"] for e in episodes[:-PER_SHARD]])
    assert len(few) == 7 and all((train_states == (a, b)).all(1).any() for a, b in zip(*few.labels.values()))
    with pytest.raises(ValueError, match="data.image_size=32"):
        TrajectoryFrames(two_rooms_dir, image_size=32)


def test_shard_write_and_read_round_trip_exactly(tmp_path):
    rng = np.random.default_rng(0)
    episodes = [
        Episode(
            obs=rng.integers(0, 256, (n + 1, 8, 8, 3), dtype=np.uint8),
            state=rng.normal(size=(n + 1, 3)).astype(np.float32),
            actions=rng.normal(size=(n, 1)).astype(np.float32),
            rewards=rng.normal(size=n).astype(np.float32),
            terminated=np.arange(n) == n - 1,
            truncated=np.zeros(n, dtype=bool),
        )
        for n in (3, 1, 5)
    ]
    shard = read_shard(write_shard(tmp_path / "shard_00000.npz", episodes, first_id=10))
    np.testing.assert_array_equal(shard["episode_ids"], [10, 11, 12])
    np.testing.assert_array_equal(shard["episode_lengths"], [3, 1, 5])
    for key in ("obs", "state", "actions", "rewards", "terminated", "truncated"):
        np.testing.assert_array_equal(shard[key], np.concatenate([getattr(e, key) for e in episodes]))
    assert [p.name for p in tmp_path.iterdir()] == ["shard_00000.npz"]


@pytest.mark.parametrize("damage", ["truncate", "garble", "delete"])
def test_a_bad_shard_is_skipped_and_reported(two_rooms_dir, tmp_path, caplog, damage):
    directory = shutil.copytree(two_rooms_dir, tmp_path / "copy")
    bad = directory / "shard_00001.npz"
    if damage == "truncate":
        bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    elif damage == "garble":
        data = bytearray(bad.read_bytes())
        data[len(data) // 3 : len(data) // 3 + 64] = bytes(64)  # inside the compressed frames
        bad.write_bytes(bytes(data))
    else:
        bad.unlink()
    with caplog.at_level(logging.WARNING, logger="jepa.data.trajectories"):
        ds = TrajectoryDataset(directory, num_steps=2)
    assert ds.num_skipped == 1 and ds.bad_shards == [bad]
    assert ds.num_episodes == EPISODES - PER_SHARD
    assert "shard_00001.npz" in caplog.text and "1 of 3 shards skipped" in caplog.text
    assert torch.isfinite(ds[len(ds) - 1]["obs"]).all()


def test_only_bad_shards_or_no_meta_raise_clear_errors(two_rooms_dir, tmp_path):
    directory = shutil.copytree(two_rooms_dir, tmp_path / "copy")
    for shard in directory.glob("shard_*.npz"):
        shard.write_bytes(b"not a shard")
    with pytest.raises(DataError, match="all 3 are unreadable"):
        TrajectoryDataset(directory)
    (directory / "meta.json").unlink()
    with pytest.raises(DataError, match="not a finished trajectory collection"):
        TrajectoryDataset(directory)


def test_collect_config_composes_from_groups_and_keys(tmp_path):
    cfg = _collect_config("env=two_rooms", "policy=waypoint", "episodes=3", "steps=null", f"out={tmp_path}")
    assert cfg.env.id == "jepa/TwoRooms-v0" and cfg.policy == "waypoint" and cfg.episodes == 3
    assert cfg.steps is None and cfg.out == str(tmp_path)


def test_a_misspelt_collect_key_exits_2_naming_the_key(capsys):
    assert main(["collect", "episods=3"]) == 2
    assert "episods" in capsys.readouterr().err


@pytest.mark.parametrize("override", ["steps=ten", "seed=null", "episods=3"])
def test_a_wrong_type_or_unknown_collect_key_fails_naming_it(override):
    with pytest.raises(HydraException, match=override.split("=")[0]):
        _collect_config(override)


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["episodes=0"], "episodes"),
        (["num_envs=0"], "num_envs"),
        (["policy=planner"], "policy"),
        (["policy=expert", "env.id=CartPole-v1"], "policy=expert"),
        (["action_noise=-0.1"], "action_noise"),
        (["policy=waypoint", "env=pendulum"], "policy=waypoint"),
        (["env.id=NoSuchEnv-v0"], "env.id"),
    ],
)
def test_a_bad_collect_value_fails_naming_the_key(overrides, key, tmp_path):
    with pytest.raises(ConfigError, match=key):
        collect(_collect_config(*overrides, f"out={tmp_path / 'out'}"))
    assert not (tmp_path / "out").exists()


def test_collect_refuses_a_used_directory_and_state_observations(two_rooms_dir):
    with pytest.raises(ConfigError, match="is not empty"):
        collect(_two_rooms(two_rooms_dir))
    state_based = two_rooms_dir.parent / "state_based"
    with pytest.raises(ValueError, match="not RGB frames"):
        collect(_collect_config("env.id=Pendulum-v1", "num_envs=1", f"out={state_based}"))
    assert not state_based.exists()


def test_cli_collects_pixel_pendulum_with_its_state(tmp_path):
    out = tmp_path / "pendulum"
    args = ["env=pendulum", "episodes=2", "steps=8", "num_envs=2", f"out={out}", "seed=1", "progress=false"]
    assert main(["collect", *args]) == 0
    ds = TrajectoryDataset(out, num_steps=3)
    assert len(ds) == 2 * (8 + 1 - 3 + 1)
    item = ds[0]
    assert item["obs"].shape == (3, 3, 64, 64) and item["actions"].shape == (2, 1) and item["states"].shape == (3, 3)
    np.testing.assert_allclose(item["states"][:, 0] ** 2 + item["states"][:, 1] ** 2, 1.0, rtol=1e-5)  # cos, sin


def test_collection_exports_to_minari_losslessly(two_rooms_dir, tmp_path, monkeypatch):
    pytest.importorskip("minari", reason="Minari export needs the 'minari' extra")
    from envs.minari_export import export_minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    metadata = {"author": "tests", "author_email": "tests@example.invalid", "code_permalink": "tests"}
    dataset = export_minari(two_rooms_dir, "jepa/two-rooms/test-v0", **metadata)
    _, episodes = _episodes(two_rooms_dir)
    assert dataset.total_episodes == EPISODES and dataset.total_steps == sum(len(e["actions"]) for e in episodes)
    for exported, e in zip(dataset.iterate_episodes(), episodes, strict=True):
        np.testing.assert_array_equal(exported.observations, e["obs"])
        np.testing.assert_array_equal(exported.actions, e["actions"])
        np.testing.assert_array_equal(exported.infos["state"], e["state"])
        np.testing.assert_array_equal(exported.terminations, e["terminated"])
    env = dataset.recover_environment()
    assert env.spec.id == "jepa/TwoRooms-v0" and env.spec.max_episode_steps == STEPS


def _demos(out, noise: float, env: str = "two_rooms", episodes: int = 4) -> DictConfig:
    overrides = [f"env={env}", "policy=expert", f"action_noise={noise}", f"episodes={episodes}", "num_envs=2"]
    return _collect_config(*overrides, "episodes_per_shard=2", f"out={out}")


def test_expert_demonstrations_record_each_episodes_goal_image(tmp_path):
    directory = collect(_demos(tmp_path / "clean", noise=0.0))
    env = TwoRoomsEnv()
    for name in json.loads((directory / "meta.json").read_text())["shards"]:
        shard = read_shard(directory / name)
        assert shard["goal_obs"].shape == (len(shard["episode_lengths"]), 64, 64, 3)
        ends = np.cumsum(shard["episode_lengths"]) - 1
        assert shard["terminated"][ends].all()  # the noiseless expert reaches every goal
        last_obs = np.cumsum(shard["episode_lengths"] + 1) - 1
        for goal_image, last_state in zip(shard["goal_obs"], shard["state"][last_obs]):
            # the goal image shows the agent at the goal, within the goal radius of where the episode ended
            drawn = np.argwhere((goal_image != env._background).any(-1)).mean(0)
            x, y = (drawn[1] + 0.5) / 64, 1 - (drawn[0] + 0.5) / 64
            assert np.hypot(x - last_state[0], y - last_state[1]) < env.goal_radius + 1 / 32


def test_action_noise_perturbs_the_experts_actions_within_the_action_space(tmp_path):
    clean = read_shard(collect(_demos(tmp_path / "clean", noise=0.0)) / "shard_00000.npz")
    noisy_dir = collect(_demos(tmp_path / "noisy", noise=0.5))
    noisy = read_shard(noisy_dir / "shard_00000.npz")
    assert json.loads((noisy_dir / "meta.json").read_text())["action_noise"] == 0.5
    assert np.abs(noisy["actions"]).max() <= 1.0

    # the noisy expert zigzags: its consecutive actions differ far more than the clean expert's
    def turning(actions):
        return np.abs(np.diff(actions, axis=0)).mean()

    assert turning(noisy["actions"]) > 3 * turning(clean["actions"])


def test_pendulum_demonstrations_have_no_goal_images(tmp_path):
    cfg = _demos(tmp_path / "pendulum", noise=0.2, env="pendulum", episodes=2)
    cfg.steps = 20
    shard = read_shard(collect(cfg) / "shard_00000.npz")
    assert "goal_obs" not in shard and shard["state"].shape[1] == 3 and shard["actions"].shape[1] == 1


def test_an_unreadable_held_out_shard_never_moves_the_held_out_split_onto_a_training_shard(two_rooms_dir, tmp_path):
    from jepa.data.trajectories import shard_split

    directory = shutil.copytree(two_rooms_dir, tmp_path / "copy")
    ds = TrajectoryDataset(directory)
    assert shard_split(ds.meta, ds.bad_shards, 1) == ([0, 1], [2])
    (directory / "shard_00000.npz").write_bytes(b"garbage")  # a training shard: the rest train, the last is held out
    ds = TrajectoryDataset(directory)
    assert shard_split(ds.meta, ds.bad_shards, 1) == ([0], [1]) and len(ds.shards) == 2
    (directory / "shard_00002.npz").write_bytes(b"garbage")  # the held-out shard: refused, not replaced
    ds = TrajectoryDataset(directory)
    with pytest.raises(DataError, match="every held-out shard is unreadable"):
        shard_split(ds.meta, ds.bad_shards, 1)
