"""The world model on a frozen pretrained encoder: pretraining on collected frames, the frozen and the random-init
encoder, planning with it, and its preset."""

import json
import shutil

import numpy as np
import pytest
import torch
from world_model_runs import TINY_PLAN


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
def trained_frozen(collected, pretrained, train_world_model, tmp_path_factory):
    """A world model over the pretrained encoder, trained from a copy of the pretraining run that is then
    deleted: the checkpoint must rebuild without it."""
    copy = tmp_path_factory.mktemp("ijepa") / "copy"
    shutil.copytree(pretrained, copy)
    run = tmp_path_factory.mktemp("wm") / "frozen"
    train_world_model(collected, run, f"method.encoder={copy}", "method.encoder_pool=2")
    shutil.rmtree(copy)
    return run


def test_pretraining_on_collected_frames_reports_the_state_r2_of_every_encoder(pretrained):
    rows = json.loads((pretrained / "eval.json").read_text())["rows"]
    assert [row["encoder"] for row in rows] == ["pretrained", "random_init", "raw_input"]
    for row in rows:
        assert "linear_acc" not in row and np.isfinite(row["state_0_r2"]) and np.isfinite(row["state_1_r2"])


def test_a_frozen_pretrained_encoder_is_unchanged_by_training_and_rebuilt_from_the_checkpoint(
    pretrained, trained_frozen
):
    from jepa.recipes import load_run
    from jepa.recipes.world_model.data import EncodedWindows, window_dataset
    from jepa.recipes.world_model.frozen import load_pretrained_encoder

    cfg, model, _ = load_run(trained_frozen)
    assert model.freeze_encoder and model.regularizer is None
    vit, _ = load_pretrained_encoder(str(pretrained), 64)
    for name, weight in vit.state_dict().items():
        assert torch.equal(model.encoder.vit.state_dict()[name], weight), name
    frames = torch.randn(2, 3, 64, 64)
    assert model.encode(frames).shape == (2, 4, 32)  # 8 x 8 patch tokens pooled to 2 x 2
    windows = window_dataset(cfg.data.root, cfg.method.window, cfg.method.frameskip)
    encoded = EncodedWindows(windows, model)[7]  # what training saw: every frame encoded once, up front
    assert torch.allclose(encoded["z"], model.encode(windows[7]["obs"]), atol=1e-5)
    assert torch.equal(encoded["actions"], windows[7]["actions"])
    probe = json.loads((trained_frozen / "eval.json").read_text())["rows"]
    assert {row["encoder"] for row in probe} == {"world_model", "random_init", "raw_input"}
    assert all(np.isfinite(row["r2"]) for row in probe)


def test_a_random_init_frozen_encoder_has_the_pretrained_architecture_and_not_its_weights(
    collected, pretrained, train_world_model, tmp_path
):
    from jepa.recipes import load_run
    from jepa.recipes.world_model.frozen import load_pretrained_encoder

    run = tmp_path / "random"
    train_world_model(collected, run, f"method.encoder={pretrained}", "method.encoder_init=random")
    _, model, _ = load_run(run)
    vit, _ = load_pretrained_encoder(str(pretrained), 64)
    ours, theirs = model.encoder.vit.state_dict(), vit.state_dict()
    assert ours.keys() == theirs.keys() and all(ours[k].shape == theirs[k].shape for k in ours)
    assert not torch.equal(ours["blocks.0.attn.qkv.weight"], theirs["blocks.0.attn.qkv.weight"])


def test_rollout_plans_with_a_frozen_encoder(trained_frozen, tmp_path, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    from jepa.cli import main

    args = ["rollout", f"run={trained_frozen}", f"out={tmp_path}", "max_steps=4", "gifs=0", "progress=false"]
    assert main([*args, *TINY_PLAN]) == 0
    assert json.loads((tmp_path / "rollout.json").read_text())["episodes"][0]["steps"] == 4


def test_the_frozen_preset_is_the_world_model_preset_on_the_pretraining_run():
    from jepa.config import load_config

    frozen, base = load_config(["experiment=wm_two_rooms_frozen"]), load_config(["experiment=wm_two_rooms"])
    assert frozen.method.encoder == "runs/lejepa_two_rooms" and frozen.method.encoder_pool == 1
    assert frozen.optim == base.optim and frozen.run_dir == "runs/wm_two_rooms_frozen"


def test_principal_components_read_out_whitens_the_directions_the_frames_vary_along():
    from jepa.models import VisionTransformer
    from jepa.recipes.world_model.frozen import PooledEncoder

    vit = VisionTransformer((16, 16), (8, 8), embed_dim=8, depth=1, num_heads=2)
    encoder = PooledEncoder(vit, pool=2, components=3)
    generator = torch.Generator().manual_seed(0)
    directions = torch.linalg.qr(torch.randn(32, 3, generator=generator))[0]  # 3 orthonormal directions in 4 x 8
    amounts = torch.randn(2000, 3, generator=generator) * torch.tensor([5.0, 3.0, 2.0])
    pooled = (7.0 + amounts @ directions.T + 1e-3 * torch.randn(2000, 32, generator=generator)).view(2000, 4, 8)
    encoder.fit(pooled, standardise=False)
    z = encoder.read_out(pooled)
    assert z.shape == (2000, 1, 3)
    torch.testing.assert_close(torch.cov(z[:, 0].T), torch.eye(3), atol=1e-3, rtol=0)  # whitened
    centred = amounts - amounts.mean(0)
    recovered = torch.linalg.lstsq(z[:, 0], centred).solution  # the same 3-D subspace, up to a rotation
    torch.testing.assert_close(z[:, 0] @ recovered, centred, atol=0.02, rtol=0)


def test_a_frozen_encoder_with_principal_components_trains_plans_and_rebuilds(
    collected, pretrained, train_world_model, tmp_path
):
    from jepa.cli import main
    from jepa.recipes import load_run
    from jepa.recipes.world_model.data import EncodedWindows, window_dataset

    run = tmp_path / "components"
    train_world_model(collected, run, f"method.encoder={pretrained}", "method.encoder_components=6")
    cfg, model, _ = load_run(run)
    assert model.encode(torch.randn(2, 3, 64, 64)).shape == (2, 1, 6) and model.encoder.projection.abs().sum() > 0
    windows = window_dataset(cfg.data.root, cfg.method.window, cfg.method.frameskip)
    encoded = EncodedWindows(windows, model)[7]
    assert torch.allclose(encoded["z"], model.encode(windows[7]["obs"]), atol=1e-4)
    args = ["rollout", f"run={run}", f"out={tmp_path / 'plan'}", "max_steps=4", "gifs=0", "progress=false"]
    assert main([*args, *TINY_PLAN]) == 0


def test_the_random_init_baseline_of_a_frozen_run_gets_its_read_out_fitted_too(collected, pretrained, tmp_path):
    from jepa.config import load_config
    from jepa.recipes.world_model import _fit_read_out, build_world_model
    from jepa.recipes.world_model.data import data_dims, window_dataset
    from jepa.recipes.world_model.frozen import load_pretrained_encoder

    overrides = [f"data.root={collected}", "method.probe_frames=40", "method.frameskip=2", "method.window=3"]
    overrides.append("method.rollout_steps=2")
    cfg = load_config(["experiment=wm_two_rooms_frozen", *overrides])
    windows = window_dataset(str(collected), cfg.method.window, cfg.method.frameskip)
    _, settings = load_pretrained_encoder(str(pretrained), 64)
    model = build_world_model(cfg, {"dims": data_dims(windows), "encoder": settings})
    assert model.encoder.projection.abs().sum() == 0
    _fit_read_out(cfg, model, windows)
    z = model.encode(torch.randn(3, 3, 64, 64))
    assert z.shape == (3, 1, 16) and model.encoder.projection.abs().sum() > 0 and z.std() > 0


def test_a_lejepa_vit_is_a_frozen_encoder_and_a_sound_encoder_is_refused(collected, tmp_path):
    """Any image ViT whose frames were normalised like the world model's serves, whatever objective trained it."""
    from jepa.cli import main
    from jepa.common.errors import ConfigError
    from jepa.models import VisionTransformer
    from jepa.recipes.world_model.frozen import load_pretrained_encoder

    tiny = ["model.embed_dim=32", "model.depth=1", "model.num_heads=2", "data.batch_size=8", "data.num_workers=0"]
    tiny += ["optim.warmup_steps=1", "train.steps=1", "train.threads=1", "train.progress=false", "eval.enabled=false"]
    frames = [f"data.root={collected}", "data.num_train=32", "data.num_val=16"]
    assert main(["train", "experiment=lejepa_two_rooms", f"run_dir={tmp_path / 'frames'}", *frames, *tiny]) == 0
    vit, settings = load_pretrained_encoder(str(tmp_path / "frames"), 64)
    assert isinstance(vit, VisionTransformer) and settings["model"]["embed_dim"] == 32
    sounds = ["data.num_train=16", "data.num_val=8"]
    assert main(["train", "experiment=lejepa_sounds", f"run_dir={tmp_path / 'sounds'}", *sounds, *tiny]) == 0
    with pytest.raises(ConfigError, match="data.name=sounds"):
        load_pretrained_encoder(str(tmp_path / "sounds"), 64)
