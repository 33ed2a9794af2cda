import json
import shutil

import numpy as np
import pytest
import torch

from jepa.methods import WorldModel
from jepa.models import ActionConditionedPredictor, ConvEncoder, block_causal_mask

D, A, P = 8, 3, 2


def _model(proprio_dim: int = 0, rollout_steps: int = 2) -> WorldModel:
    torch.manual_seed(0)
    encoder = ConvEncoder(input_size=16, channels=(4, 8), latent_dim=D, hidden_dim=16)
    predictor = ActionConditionedPredictor(D, A, proprio_dim=proprio_dim, predictor_dim=16, depth=2, num_heads=2)
    return WorldModel(encoder, predictor, rollout_steps=rollout_steps).eval()


def test_block_causal_mask_lets_a_step_see_itself_and_earlier_steps_only():
    mask = block_causal_mask(3, 2)
    step = torch.arange(3).repeat_interleave(2)
    assert mask.shape == (6, 6)
    for i in range(6):
        for j in range(6):
            assert mask[i, j] == (step[j] <= step[i])


def test_future_inputs_do_not_change_past_predictions():
    predictor = _model(proprio_dim=P).predictor
    z, actions, proprio = torch.randn(2, 5, 1, D), torch.randn(2, 5, A), torch.randn(2, 5, P)
    z_pred, p_pred = predictor(z, actions, proprio)
    changed = [t.clone() for t in (z, actions, proprio)]
    for t in changed:
        t[:, 3:] += torch.randn_like(t[:, 3:])
    z_new, p_new = predictor(*changed)
    assert torch.equal(z_pred[:, :3], z_new[:, :3]) and torch.equal(p_pred[:, :3], p_new[:, :3])
    assert not torch.allclose(z_pred[:, 3:], z_new[:, 3:])
    shorter, _ = predictor(z[:, :3], actions[:, :3], proprio[:, :3])  # mask built for the actual length
    assert torch.allclose(shorter, z_pred[:, :3], atol=1e-6)


def test_one_step_rollout_is_the_teacher_forced_prediction():
    model = _model()
    z, actions = torch.randn(4, 3, 1, D), torch.randn(4, 3, A)
    teacher, _ = model.predict(z, actions)
    assert torch.allclose(model.rollout(z, actions), teacher[:, -1:], atol=1e-6)


def test_cached_rollout_equals_recomputing_the_whole_history_each_step():
    model = _model(proprio_dim=P)
    z, proprio, actions = torch.randn(3, 2, 1, D), torch.randn(3, 2, P), torch.randn(3, 2 - 1 + 5, A)
    zs, ps = z, proprio
    for t in range(2, 7):  # the reference: one full forward over everything so far per imagined step
        z_next, p_next = model.predict(zs, actions[:, :t], ps)
        zs, ps = torch.cat([zs, z_next[:, -1:]], 1), torch.cat([ps, p_next[:, -1:]], 1)
    rolled = model.rollout(z, actions, proprio)
    assert rolled.shape == (3, 5, 1, D)
    assert torch.allclose(rolled, zs[:, 2:], atol=1e-5)
    rolled.sum().backward()  # the cache keeps the graph: the rollout loss trains through it
    assert model.predictor.action_embed.weight.grad.abs().sum() > 0


def test_one_batched_rollout_equals_per_candidate_rollouts():
    model = _model(proprio_dim=P)
    z0, proprio, actions = torch.randn(1, 1, 1, D), torch.randn(1, 1, P), torch.randn(6, 4, A)
    with torch.no_grad():
        batched = model.rollout(z0.expand(6, -1, -1, -1), actions, proprio.expand(6, -1, -1))
        single = torch.cat([model.rollout(z0, actions[i : i + 1], proprio) for i in range(6)])
    assert batched.shape == (6, 4, 1, D)
    assert torch.allclose(batched, single, atol=1e-5)


def test_losses_train_the_encoder_but_targets_carry_no_gradient():
    model = _model(rollout_steps=2).train()
    batch = {"obs": torch.randn(3, 4, 3, 16, 16), "actions": torch.randn(3, 3, A)}
    out = model(batch)
    assert set(out) == {"loss", "teacher", "rollout"}
    out["loss"].backward()
    assert model.encoder.head[-1].weight.grad.abs().sum() > 0
    z = model.encode(batch["obs"])
    assert z.shape == (3, 4, 1, D)


def test_a_frozen_encoder_gets_no_gradient_and_no_regulariser():
    from jepa.losses import VCR

    model = _model()
    frozen = WorldModel(model.encoder, model.predictor, regularizer=VCR(), freeze_encoder=True).train()
    out = frozen({"obs": torch.randn(2, 3, 3, 16, 16), "actions": torch.randn(2, 2, A)})
    out["loss"].backward()
    assert "reg" not in out and not frozen.encoder.training
    assert all(p.grad is None for p in frozen.encoder.parameters())


@pytest.mark.parametrize("regularizer", ["vcr", "sigreg"])
def test_the_jointly_trained_encoder_is_regularised_with_the_chosen_term(regularizer):
    from jepa.control.build import build_world_model
    from jepa.control.config import WorldModelTrainConfig

    cfg = WorldModelTrainConfig(regularizer=regularizer, latent_dim=D, predictor_dim=16, predictor_heads=2)
    model = build_world_model(cfg, image_size=16, action_dim=A, proprio_dim=P).train()
    batch = {"obs": torch.randn(4, 3, 3, 16, 16), "actions": torch.randn(4, 2, A * cfg.frameskip)}
    out = model(batch | {"step": 7})
    assert out["reg"] > 0
    out["loss"].backward()
    assert model.encoder.head[-1].weight.grad.abs().sum() > 0
    if regularizer == "sigreg":  # its directions come from the step: another step, another value
        assert not torch.isclose(model(batch | {"step": 8})["reg"], out["reg"])


# --- the control job end to end ------------------------------------------------------------------------


@pytest.mark.parametrize("hidden, affine", [(0, True), (16, False)])
def test_encoder_hidden_zero_makes_the_latent_affine_in_the_keypoints(hidden, affine):
    """With an affine map from keypoints to latent, a regulariser can whiten the keypoint geometry but not
    bend it (a 2-D SIGReg latent behind an MLP closed the gap the Two-Rooms wall leaves in the positions)."""
    from jepa.control.build import build_world_model
    from jepa.control.config import WorldModelTrainConfig

    cfg = WorldModelTrainConfig(latent_dim=2, encoder_hidden=hidden, predictor_dim=16, predictor_heads=2)
    head = build_world_model(cfg, image_size=16, action_dim=2, proprio_dim=2).encoder.head
    a, b = torch.randn(2, 64, generator=torch.Generator().manual_seed(0))
    midpoint = torch.allclose(head((a + b) / 2), (head(a) + head(b)) / 2, atol=1e-5)
    assert midpoint == affine


@pytest.fixture(scope="module")
def collected(tmp_path_factory):
    pytest.importorskip("gymnasium", reason="control tests need the 'control' extra (gymnasium)")
    from envs.collect import CollectConfig, collect

    out = tmp_path_factory.mktemp("wm") / "two_rooms"
    cfg = CollectConfig(policy="waypoint", episodes=6, steps=30, num_envs=2, episodes_per_shard=2, out=str(out))
    return collect(cfg, progress=False)


def _tiny_world_model(data, out, **overrides):
    from jepa.control.config import WorldModelTrainConfig
    from jepa.control.train import train_world_model

    cfg = WorldModelTrainConfig(
        data=str(data),
        out=str(out),
        steps=3,
        batch_size=8,
        warmup=1,
        frameskip=2,
        window=3,
        rollout_steps=2,
        latent_dim=8,
        predictor_dim=16,
        predictor_depth=1,
        predictor_heads=2,
        probe_frames=50,
        progress=False,
        **overrides,
    )
    return train_world_model(cfg), cfg


@pytest.fixture(scope="module")
def trained(collected, tmp_path_factory):
    return _tiny_world_model(collected, tmp_path_factory.mktemp("wm") / "run")


@pytest.fixture(scope="module")
def pretrained(collected, tmp_path_factory):
    """A tiny ``jepa train`` run of the Two-Rooms preset on the collected frames, probes included."""
    from jepa.cli import main

    run = tmp_path_factory.mktemp("ijepa") / "run"
    tiny = ["model.embed_dim=32", "model.depth=1", "model.num_heads=2", "model.predictor_dim=32"]
    tiny += ["model.predictor_depth=1", "model.predictor_heads=2", "data.batch_size=16", "data.num_train=64"]
    tiny += ["data.num_val=32", "data.num_workers=0", "optim.warmup_steps=1", "train.steps=2", "train.threads=1"]
    args = ["train", "experiment=ijepa_two_rooms", f"data.root={collected}", f"run_dir={run}", *tiny]
    assert main([*args, "train.progress=false"]) == 0
    return run


@pytest.fixture(scope="module")
def trained_frozen(collected, pretrained, tmp_path_factory):
    """A world model over the pretrained encoder, trained from a copy of the pretraining run that is then
    deleted: the checkpoint must rebuild without it."""
    copy = tmp_path_factory.mktemp("ijepa") / "copy"
    shutil.copytree(pretrained, copy)
    run = _tiny_world_model(collected, tmp_path_factory.mktemp("wm") / "frozen", encoder=str(copy), encoder_pool=2)
    shutil.rmtree(copy)
    return run


def test_strided_windows_keep_every_action_between_the_frames(collected):
    from jepa.control.data import to_model_steps, window_dataset
    from jepa.data import TrajectoryDataset

    dense, strided = TrajectoryDataset(collected, num_steps=7), window_dataset(str(collected), 3, 3)
    item, first = strided[0], dense[0]
    assert torch.equal(item["obs"], first["obs"][::3]) and torch.equal(item["states"], first["states"][::3])
    assert torch.equal(item["actions"], first["actions"])
    batch = to_model_steps({k: v[None] for k, v in item.items()}, 3)
    assert torch.equal(batch["actions"][0, 1], first["actions"][3:6].reshape(-1))


def test_checkpoint_round_trip_rebuilds_the_same_model(trained):
    from jepa.control.build import load_world_model

    run_dir, cfg = trained
    model, loaded_cfg = load_world_model(run_dir)
    assert loaded_cfg == cfg
    again, _ = load_world_model(run_dir)
    frames = torch.randn(2, 3, 64, 64)
    assert torch.equal(model.encode(frames), again.encode(frames))
    eval_json = json.loads((run_dir / "eval.json").read_text())
    assert {row["encoder"] for row in eval_json["probe"]} == {"world_model", "random_init", "raw_input"}
    assert np.isfinite(eval_json["val_teacher"])


def test_a_held_action_is_repeated_for_each_env_step_of_a_model_step():
    from jepa.control.plan import model_actions

    plan = torch.tensor([[[0.5, -1.0], [0.0, 1.0]]])  # (S=1, H=2, A=2)
    held = model_actions(plan, 3, hold=True)
    assert held.shape == (1, 2, 6) and torch.equal(held[0, 1], torch.tensor([0.0, 1.0] * 3))
    assert torch.equal(held[0, 0].view(3, 2), plan[0, 0].expand(3, 2))
    assert model_actions(held, 3, hold=False) is held


def test_pretraining_on_collected_frames_reports_the_state_r2_of_every_encoder(pretrained):
    rows = json.loads((pretrained / "eval.json").read_text())["rows"]
    assert [row["encoder"] for row in rows] == ["pretrained", "random_init", "raw_input"]
    for row in rows:
        assert "linear_acc" not in row and np.isfinite(row["state_0_r2"]) and np.isfinite(row["state_1_r2"])


def test_a_frozen_pretrained_encoder_is_unchanged_by_training_and_rebuilt_from_the_checkpoint(
    pretrained, trained_frozen
):
    from jepa.control.build import load_world_model
    from jepa.control.data import EncodedWindows, window_dataset
    from jepa.control.pretrained import load_pretrained_encoder

    run_dir, cfg = trained_frozen
    model, loaded_cfg = load_world_model(run_dir)
    assert loaded_cfg == cfg and model.freeze_encoder and model.regularizer is None
    vit, _ = load_pretrained_encoder(str(pretrained), 64)
    for name, weight in vit.state_dict().items():
        assert torch.equal(model.encoder.vit.state_dict()[name], weight), name
    frames = torch.randn(2, 3, 64, 64)
    assert model.encode(frames).shape == (2, 4, 32)  # 8 x 8 patch tokens pooled to 2 x 2
    windows = window_dataset(cfg.data, cfg.window, cfg.frameskip)
    encoded = EncodedWindows(windows, model)[7]  # what training saw: every frame encoded once, up front
    assert torch.allclose(encoded["z"], model.encode(windows[7]["obs"]), atol=1e-5)
    assert torch.equal(encoded["actions"], windows[7]["actions"])
    probe = json.loads((run_dir / "eval.json").read_text())["probe"]
    assert {row["encoder"] for row in probe} == {"world_model", "random_init", "raw_input"}
    assert all(np.isfinite(row["r2"]) for row in probe)


def test_plan_runs_with_a_frozen_encoder(trained_frozen, tmp_path, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    from jepa.cli import main

    run_dir, _ = trained_frozen
    args = ["plan", f"run={run_dir}", f"out={tmp_path}", "episodes=1", "max_steps=4", "samples=8", "elites=2"]
    assert main([*args, "iterations=1", "horizon=2", "gifs=0"]) == 0
    assert json.loads((tmp_path / "plan.json").read_text())["episodes"][0]["steps"] == 4


def test_a_bad_encoder_run_fails_naming_the_key(collected, trained, tmp_path, capsys):
    from jepa.cli import main

    common = ["wm-train", f"data={collected}", f"out={tmp_path}", "steps=1", "window=3", "rollout_steps=2"]
    for encoder, message in [(tmp_path / "missing", "is not a jepa train run"), (trained[0], "holds other settings")]:
        assert main([*common, f"encoder={encoder}"]) == 2
        err = capsys.readouterr().err
        assert f"encoder={encoder}" in err and message in err


@pytest.mark.parametrize("hold", ["true", "false"])
def test_plan_runs_an_episode_and_writes_its_report(trained, tmp_path, monkeypatch, hold):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    from jepa.cli import main

    run_dir, _ = trained
    out = tmp_path / "plan"
    args = ["plan", f"run={run_dir}", f"out={out}", "episodes=1", "max_steps=6", "samples=16", "elites=4"]
    assert main([*args, "iterations=2", "horizon=2", "planner=mppi", "gifs=1", f"hold={hold}"]) == 0
    result = json.loads((out / "plan.json").read_text())
    episode = result["episodes"][0]
    assert episode["steps"] == 6 and len(episode["latent_distance"]) == 3  # frameskip 2: replans at 0, 2, 4
    assert 0 <= result["summary"]["success_rate"] <= 1 and result["summary"]["plan_seconds"] > 0
    assert (out / "episode_00.gif").stat().st_size > 0 and (out / "distance.png").stat().st_size > 0


def test_control_commands_name_a_bad_key_or_value(capsys):
    from jepa.cli import main

    for args, message in [
        (["wm-train", "stpes=3"], "unknown key 'stpes' for wm-train"),
        (["wm-train", "lr=fast"], "lr must be a number"),
        (["wm-train", "window=4", "rollout_steps=4"], "rollout_steps must be in"),
        (["wm-train", "proprio=maybe"], "proprio must be true or false"),
        (["wm-train", "encoder_pool=0"], "encoder_pool must be positive"),
        (["wm-train", "regularizer=vicreg"], "regularizer must be one of"),
        (["wm-train", "encoder_hidden=-1"], "encoder_hidden must be >= 0"),
        (["plan", "planner=random"], "planner must be one of"),
        (["plan", "execute=9"], "execute must be in"),
    ]:
        assert main(args) == 2
        assert message in capsys.readouterr().err
