import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from world_model_runs import TINY_PLAN, TINY_WORLD_MODEL

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


def test_the_proprio_state_is_read_standardised_by_the_statistics_the_model_was_given():
    plain = _model(proprio_dim=P)
    mean, std = torch.tensor([3.0, -1.0]), torch.tensor([10.0, 0.5])
    scaled = WorldModel(plain.encoder, plain.predictor, proprio_mean=mean, proprio_std=std).eval()
    z, proprio, actions = torch.randn(3, 2, 1, D), mean + std * torch.randn(3, 2, P), torch.randn(3, 5, A)
    with torch.no_grad():
        assert torch.allclose(scaled.rollout(z, actions, proprio), plain.rollout(z, actions, (proprio - mean) / std))
        assert not torch.allclose(scaled.rollout(z, actions, proprio), plain.rollout(z, actions, proprio))
    assert "proprio_mean" not in scaled.state_dict()  # rebuilt from the run's facts, so old checkpoints still load
    with pytest.raises(ValueError, match="proprio_mean"):
        WorldModel(plain.encoder, plain.predictor, proprio_mean=torch.zeros(P + 1))


def test_losses_train_the_encoder_but_targets_carry_no_gradient():
    model = _model(rollout_steps=2).train()
    batch = {"obs": torch.randn(3, 4, 3, 16, 16), "actions": torch.randn(3, 3, A)}
    out = model(batch)
    assert set(out) == {"loss", "teacher", "rollout"}
    out["loss"].backward()
    assert model.encoder.head[-1].weight.grad.abs().sum() > 0
    z = model.encode(batch["obs"])
    assert z.shape == (3, 4, 1, D)


def test_the_smoothness_term_is_the_mean_squared_change_of_consecutive_latents():
    model = _model(rollout_steps=0)
    batch = {"obs": torch.randn(3, 4, 3, 16, 16), "actions": torch.randn(3, 3, A)}
    plain = model(batch)
    smooth = WorldModel(model.encoder, model.predictor, rollout_steps=0, smooth_weight=0.5)(batch)
    z = model.encode(batch["obs"])
    assert torch.allclose(smooth["smooth"], (z[:, 1:] - z[:, :-1]).pow(2).mean())
    assert torch.allclose(smooth["loss"], plain["loss"] + 0.5 * smooth["smooth"])
    with pytest.raises(ValueError, match="smooth_weight"):
        WorldModel(model.encoder, model.predictor, smooth_weight=-1.0)


def test_a_frozen_encoder_gets_no_gradient_and_no_regulariser():
    from jepa.losses import VCR

    model = _model()
    frozen = WorldModel(model.encoder, model.predictor, regularizer=VCR(), freeze_encoder=True, smooth_weight=1.0)
    out = frozen.train()({"obs": torch.randn(2, 3, 3, 16, 16), "actions": torch.randn(2, 2, A)})
    out["loss"].backward()
    assert "reg" not in out and "smooth" not in out and not frozen.encoder.training
    assert all(p.grad is None for p in frozen.encoder.parameters())


def _wm_config(*overrides: str):
    from jepa.config import load_config

    tiny = ["method.predictor_dim=16", "method.predictor_heads=2", "method.predictor_depth=1"]
    return load_config(["experiment=wm_two_rooms", *tiny, *overrides])


def _build(cfg, image_size=16, action_dim=A, proprio_dim=P):
    from jepa.recipes.world_model import build_world_model

    dims = {"image_size": image_size, "action_dim": action_dim, "proprio_dim": proprio_dim}
    return build_world_model(cfg, {"dims": dims, "encoder": None})


@pytest.mark.parametrize("regularizer", ["vcr", "sigreg"])
def test_the_jointly_trained_encoder_is_regularised_with_the_chosen_term(regularizer):
    cfg = _wm_config(f"regularizer={regularizer}", f"method.latent_dim={D}")
    model = _build(cfg).train()
    batch = {"obs": torch.randn(4, 3, 3, 16, 16), "actions": torch.randn(4, 2, A * cfg.method.frameskip)}
    out = model(batch | {"step": 7})
    assert out["reg"] > 0
    out["loss"].backward()
    assert model.encoder.head[-1].weight.grad.abs().sum() > 0
    if regularizer == "sigreg":  # its directions come from the step: another step, another value
        assert not torch.isclose(model(batch | {"step": 8})["reg"], out["reg"])


@pytest.mark.parametrize("hidden, affine", [(0, True), (16, False)])
def test_encoder_hidden_zero_makes_the_latent_affine_in_the_keypoints(hidden, affine):
    """With an affine map from keypoints to latent, a regulariser can whiten the keypoint geometry but not
    bend it (a 2-D SIGReg latent behind an MLP closed the gap the Two-Rooms wall leaves in the positions)."""
    head = _build(_wm_config("method.latent_dim=2", f"method.encoder_hidden={hidden}"), action_dim=2).encoder.head
    a, b = torch.randn(2, 64, generator=torch.Generator().manual_seed(0))
    midpoint = torch.allclose(head((a + b) / 2), (head(a) + head(b)) / 2, atol=1e-5)
    assert midpoint == affine


# --- the control job end to end, through the engine and the rollout runner --------------------------------


@pytest.fixture(scope="module")
def trained(collected, train_world_model, tmp_path_factory):
    return train_world_model(collected, tmp_path_factory.mktemp("wm") / "run")


def test_strided_windows_keep_every_action_between_the_frames(collected):
    from jepa.data import TrajectoryDataset
    from jepa.recipes.world_model.data import to_model_steps, window_dataset

    dense, strided = TrajectoryDataset(collected, num_steps=7), window_dataset(str(collected), 3, 3)
    item, first = strided[0], dense[0]
    assert torch.equal(item["obs"], first["obs"][::3]) and torch.equal(item["states"], first["states"][::3])
    assert torch.equal(item["actions"], first["actions"])
    batch = to_model_steps({k: v[None] for k, v in item.items()}, 3)
    assert torch.equal(batch["actions"][0, 1], first["actions"][3:6].reshape(-1))


def test_the_engine_trains_the_world_model_and_its_run_rebuilds_from_the_checkpoint(trained):
    from jepa.recipes import load_run

    cfg, model, facts = load_run(trained)
    assert cfg.method.name == "world_model" and isinstance(model, WorldModel)
    assert facts["dims"] == {"image_size": 64, "action_dim": 2, "proprio_dim": 2}
    _, again, _ = load_run(trained)
    frames = torch.randn(2, 3, 64, 64)
    assert torch.equal(model.encode(frames), again.encode(frames))
    metrics = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics] == [1, 2, 3]
    assert {"loss", "teacher", "rollout", "reg", "lr", "grad_norm"} <= set(metrics[-1]) and "ema" not in metrics[-1]
    assert "rankme" in metrics[-1]  # the collapse monitors watch the world model's latents too
    assert any((trained / "tb").iterdir()) and (trained / "checkpoints" / "latest").exists()
    eval_json = json.loads((trained / "eval.json").read_text())
    assert {row["encoder"] for row in eval_json["rows"]} == {"world_model", "random_init", "raw_input"}
    assert np.isfinite(eval_json["val_teacher"]) and (trained / "summary.png").stat().st_size > 0


def test_a_run_with_proprio_standardises_it_by_its_training_states(collected, train_world_model, tmp_path):
    from jepa.data import TrajectoryDataset
    from jepa.recipes import load_run

    run = train_world_model(collected, tmp_path / "run", "method.proprio=true", "train.steps=1")
    _, model, facts = load_run(run)
    data = TrajectoryDataset(collected)
    states = np.concatenate([data.shards[i]["state"] for i in range(len(data.shards) - 1)])  # val_shards=1
    assert np.allclose(facts["proprio"]["mean"], states.mean(0), atol=1e-5)
    assert torch.allclose(model.proprio_std, torch.tensor(states.std(0)).float(), atol=1e-5)


def test_eval_rereads_the_world_model_run_from_its_saved_config(trained, capsys):
    from jepa.cli import main
    from jepa.recipes import load_run

    (trained / "eval.json").unlink()
    original = Path(load_run(trained)[0].data.root)
    moved = trained.parent / "moved_data"
    original.rename(moved)  # the data moved after training: data_root says where to
    try:
        assert main(["eval", f"run={trained}", f"data_root={moved}", "threads=1"]) == 0
    finally:
        moved.rename(original)
    assert "agent position on held-out episodes" in capsys.readouterr().out
    assert np.isfinite(json.loads((trained / "eval.json").read_text())["val_rollout"])


def test_a_held_action_is_repeated_for_each_env_step_of_a_model_step():
    from jepa.agents.mpc import model_actions

    plan = torch.tensor([[[0.5, -1.0], [0.0, 1.0]]])  # (S=1, H=2, A=2)
    held = model_actions(plan, 3, hold=True)
    assert held.shape == (1, 2, 6) and torch.equal(held[0, 1], torch.tensor([0.0, 1.0] * 3))
    assert torch.equal(held[0, 0].view(3, 2), plan[0, 0].expand(3, 2))
    assert model_actions(held, 3, hold=False) is held


def test_a_bad_encoder_run_fails_naming_the_key(collected, trained, tmp_path, capsys):
    from jepa.cli import main

    common = ["train", *TINY_WORLD_MODEL, f"data.root={collected}", f"run_dir={tmp_path / 'run'}"]
    for encoder, message in [(tmp_path / "missing", "is not a jepa train run"), (trained, "method=world_model")]:
        assert main([*common, f"method.encoder={encoder}"]) == 2
        err = capsys.readouterr().err
        assert f"method.encoder={encoder}" in err and message in err


@pytest.mark.parametrize("hold", ["true", "false"])
def test_rollout_runs_mpc_in_the_env_the_data_came_from_and_writes_its_report(trained, tmp_path, monkeypatch, hold):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    from jepa.cli import main

    out = tmp_path / "rollout"
    args = ["rollout", f"run={trained}", f"out={out}", "max_steps=6", "planner=mppi", "gifs=1", "progress=false"]
    assert main([*args, *TINY_PLAN, f"planner.hold={hold}"]) == 0
    result = json.loads((out / "rollout.json").read_text())
    assert result["env_id"] == "jepa/TwoRooms-v0"  # from the run's data, not a default
    assert result["trained"]["precision"] == "fp32" and result["trained"]["device"] == "cpu"
    assert result["trained"]["seed"] == 0 and result["trained"]["checkpoint"].startswith("step_")
    episode = result["episodes"][0]
    assert episode["steps"] == 6 and len(episode["latent_distance"]) == 3  # frameskip 2: replans at 0, 2, 4
    assert 0 <= episode["subgoal_replannings"] <= 3  # subgoals through the run's recorded latents, by default
    assert 0 <= result["summary"]["success_rate"] <= 1 and result["summary"]["plan_seconds"] > 0
    assert (out / "episode_00.gif").stat().st_size > 0 and (out / "rollout.png").stat().st_size > 0


@pytest.mark.parametrize(
    "args, key",
    [
        (["train", "experiment=wm_two_rooms", "method.stpes=3"], "method.stpes"),
        (["train", "experiment=wm_two_rooms", "optim.lr=fast"], "optim.lr"),
        (["train", "experiment=wm_two_rooms", "method.window=4", "method.rollout_steps=4"], "method.rollout_steps"),
        (["train", "experiment=wm_two_rooms", "method.proprio=maybe"], "method.proprio"),
        (["train", "experiment=wm_two_rooms", "method.encoder_pool=0"], "method.encoder_pool"),
        (["train", "experiment=wm_two_rooms", "regularizer=vicreg"], "regularizer"),
        (["train", "experiment=wm_two_rooms", "regularizer=none"], "regularizer.name=none"),
        (["train", "experiment=wm_two_rooms", "method.encoder_hidden=-1"], "method.encoder_hidden"),
        (["train", "experiment=wm_two_rooms", "data=shapes"], "data.val_shards"),  # a key of trajectories only
        (["train", "experiment=wm_two_rooms", "data.name=shapes"], "data.name"),
        (["rollout", "run=x", "planner=random"], "planner"),
        (["rollout", "run=x", "planner.execute=11"], "planner.execute"),
        (["rollout", "run=x", "planner.lookahead=0"], "planner.lookahead"),
        (["rollout", "run=x", "planner.link=-1"], "planner.link"),
        (["rollout", "agent=expert"], "env"),
        (["rollout"], "run="),
    ],
)
def test_control_commands_name_a_bad_key_or_value(args, key, capsys):
    from jepa.cli import main

    assert main(args) == 2
    assert key in capsys.readouterr().err


def _losses(run_dir: Path) -> dict[int, float]:
    return {m["step"]: m["loss"] for m in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "jepa.cli", *args]


@pytest.mark.slow
def test_world_model_resumes_after_sigkill_with_the_uninterrupted_losses(collected, killed_and_resumed_losses):
    common = [*TINY_WORLD_MODEL, f"data.root={collected}", "train.steps=60", "train.checkpoint_every=5"]
    common += ["eval.enabled=false", "data.num_workers=1"]
    resumed_from, got, expected = killed_and_resumed_losses(common, steps=60, kill_after=10)
    assert sorted(got) == list(range(1, 61))  # no gap, no duplicate records
    for step in range(resumed_from + 1, 61):
        assert got[step] == pytest.approx(expected[step], rel=1e-6, abs=1e-7), step


@pytest.mark.slow
def test_torchrun_two_processes_train_the_world_model_as_one_process(collected, tmp_path):
    common = ["train", *TINY_WORLD_MODEL, f"data.root={collected}", "train.steps=4", "eval.enabled=false"]
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    subprocess.run(_cli(*common, f"run_dir={single}"), check=True, timeout=300, capture_output=True)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "jepa.cli"]
    result = subprocess.run([*torchrun, *common, f"run_dir={ddp}"], timeout=300, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    single_losses, ddp_losses = _losses(single), _losses(ddp)
    assert sorted(ddp_losses) == [1, 2, 3, 4]
    assert [ddp_losses[s] for s in sorted(ddp_losses)] == pytest.approx(
        [single_losses[s] for s in sorted(single_losses)], rel=1e-4
    )
