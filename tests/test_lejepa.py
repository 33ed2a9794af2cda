"""View-based LeJEPA: the objective, its training through the engine (resumable, replaying the same views), its
config checks, and the probes with intervals over seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from jepa.common.errors import ConfigError
from jepa.config import load_config
from jepa.data.loader import BatchContext
from jepa.losses import SIGReg
from jepa.methods import LeJEPA
from jepa.methods.lejepa import projector
from jepa.models import create_model
from jepa.recipes import make_trainer
from jepa.recipes.lejepa import build, view_groups
from jepa.recipes.probing import evaluate_encoder

TINY_LEJEPA = [
    "experiment=lejepa_shapes",
    "model.embed_dim=32",
    "model.depth=1",
    "model.num_heads=2",
    "model.patch_size=4",
    "data.image_size=32",
    "data.batch_size=16",
    "data.num_train=64",
    "data.num_val=32",
    "method.local_size=16",
    "method.local_views=2",
    "method.projector_hidden=32",
    "method.projector_dim=16",
    "optim.warmup_steps=2",
    "train.progress=false",
    "train.threads=1",
    "eval.batch_size=32",
]


@pytest.fixture
def lejepa_overrides(data_root, tmp_path):
    return [*TINY_LEJEPA, f"data.root={data_root}", f"run_dir={tmp_path / 'run'}"]


def tiny_method(weight: float = 0.05) -> LeJEPA:
    encoder = create_model("vit_tiny", input_size=16, patch_size=4, embed_dim=32, depth=1, num_heads=2)
    return LeJEPA(encoder, projector(32, 32, 8), SIGReg(num_slices=16), sigreg_weight=weight)


def test_identical_views_leave_only_the_sigreg_term():
    method = tiny_method()
    image = torch.randn(8, 1, 3, 16, 16)
    out = method({"views": [image.expand(-1, 2, -1, -1, -1), image.expand(-1, 3, -1, -1, -1)], "step": 0})
    assert float(out["invariance"]) < 1e-10
    torch.testing.assert_close(out["loss"], 0.05 * out["sigreg"])


def test_the_loss_weighs_invariance_against_sigreg_and_trains_encoder_and_projector():
    method = tiny_method(weight=0.25)
    batch = {"views": [torch.randn(8, 2, 3, 16, 16), torch.randn(8, 3, 3, 8, 8)], "step": 3}
    out = method(batch)
    torch.testing.assert_close(out["loss"], 0.75 * out["invariance"] + 0.25 * out["sigreg"])
    out["loss"].backward()
    assert method.encoder.patch_embed.proj.weight.grad.abs().sum() > 0
    assert method.projector[0].weight.grad.abs().sum() > 0
    assert method.eval_encoder() is method.encoder and method.pooled_embeddings(batch).shape == (8, 32)


def test_lambda_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match="lambda"):
        tiny_method(weight=1.5)


def test_a_tiny_run_trains_and_probes_with_intervals_over_seeds(lejepa_overrides):
    cfg = load_config([*lejepa_overrides, "train.steps=4", "eval.seeds=3", "data.num_workers=0"])
    trainer = make_trainer(cfg)
    losses = trainer.fit()
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
    results = evaluate_encoder(cfg, trainer.method, trainer.facts)
    rows = {r["encoder"]: r for r in results["rows"]}
    assert set(rows) == {"pretrained", "random_init", "raw_input"} and results["seeds"] == 3
    per_seed = [{r["encoder"]: r for r in rows} for rows in results["rows_per_seed"]]
    randoms = [seed["random_init"]["linear_acc"] for seed in per_seed]
    assert rows["random_init"]["linear_acc"] == pytest.approx(sum(randoms) / 3)
    assert rows["random_init"]["linear_acc_ci"] > 0  # three random-init encoders, three probes
    assert "colour_acc" in per_seed[0]["pretrained"] and "colour_acc" not in per_seed[1]["pretrained"]
    saved = json.loads((Path(cfg.run_dir) / "eval.json").read_text())
    assert saved["rows"][0]["linear_acc_ci"] is not None


@pytest.mark.slow
def test_resume_after_sigkill_replays_the_same_views(lejepa_overrides, killed_and_resumed_losses):
    common = [*lejepa_overrides, "train.steps=40", "train.log_every=1", "train.checkpoint_every=10"]
    common += ["eval.enabled=false", "data.num_workers=1"]
    resumed_from, got, expected = killed_and_resumed_losses(common, steps=40, kill_after=10)
    assert sorted(got) == list(range(1, 41))
    for step in range(resumed_from + 1, 41):
        assert got[step] == pytest.approx(expected[step], rel=1e-6, abs=1e-7), step


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("regularizer=vcr", "regularizer.name"),
        ("method.local_size=18", "method.local_size"),
        ("method.local_scale=[0.5,0.2]", "method.local_scale"),
        ("views.grayscale_p=1.5", "views.grayscale_p"),
        ("data=moving_shapes data.name=moving_shapes", "model.patch_embed"),  # the conv stem is for images
        ("regularizer.sigreg_weight=2", "regularizer.sigreg_weight"),
    ],
)
def test_bad_lejepa_configs_name_their_key(lejepa_overrides, override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config([*lejepa_overrides, *override.split()])


def test_on_sounds_the_views_are_time_crops_across_every_mel_bin(tmp_path_factory, tmp_path):
    overrides = ["experiment=lejepa_sounds", *TINY_LEJEPA[1:4], "model.patch_size=16", "data.clip_frames=64"]
    overrides += ["data.num_train=16", "data.num_val=8", "data.batch_size=8", "data.num_workers=0"]
    overrides += ["method.local_size=16", "method.projector_hidden=32", "method.projector_dim=16", "eval.seeds=2"]
    overrides += ["train.steps=2", "train.progress=false", "train.threads=1", "eval.batch_size=8"]
    overrides += [f"data.root={tmp_path_factory.getbasetemp() / 'sounds'}", f"run_dir={tmp_path / 'run'}"]
    cfg = load_config(overrides)
    trainer = make_trainer(cfg)
    losses = trainer.fit()
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    setup = build(cfg, Path(cfg.run_dir))
    batch = setup.collate([setup.train_set[i] for i in range(4)], BatchContext(0, 0, 4, slice(0, 4)))
    assert [v.shape for v in batch["views"]] == [(4, 2, 1, 64, 128), (4, 2, 1, 16, 128)]  # (B, V, 1, time, mel)
    assert all(spec.full_width for spec, _ in view_groups(cfg))
    results = evaluate_encoder(cfg, trainer.method, trainer.facts)
    rows, per_seed = {r["encoder"]: r for r in results["rows"]}, results["rows_per_seed"]
    assert rows["random_init"]["linear_acc_ci"] >= 0 and rows["random_init"]["attentive_acc_ci"] is None
    assert "attentive_acc" in per_seed[0][0] and "attentive_acc" not in per_seed[1][0]  # attentive: first seed only


def test_on_video_the_local_views_are_shorter_smaller_clips(tmp_path_factory, tmp_path):
    from conftest import TINY_VIDEO

    overrides = ["experiment=lejepa_moving_shapes", *TINY_VIDEO[1:], "train.steps=2", "eval.enabled=false"]
    overrides += ["method.local_size=16", "method.local_frames=2", "method.projector_hidden=32"]
    overrides += ["method.projector_dim=16", f"data.root={tmp_path_factory.getbasetemp() / 'videos'}"]
    cfg = load_config([*overrides, f"run_dir={tmp_path / 'run'}"])
    losses = make_trainer(cfg).fit()
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    setup = build(cfg, Path(cfg.run_dir))
    batch = setup.collate([setup.train_set[i] for i in range(4)], BatchContext(0, 0, 4, slice(0, 4)))
    assert [v.shape for v in batch["views"]] == [(4, 2, 3, 4, 32, 32), (4, 2, 3, 2, 16, 16)]  # (B, V, C, T, H, W)
    with pytest.raises(ConfigError, match="method.local_frames"):
        load_config([*overrides, "method.local_frames=3"])


def test_a_run_starts_by_drawing_the_views_it_trains_on(tiny_overrides, capsys):
    from PIL import Image

    from jepa.cli import main

    args = [*tiny_overrides, "method.local_size=16", "train.steps=1", "eval.enabled=false", "data.num_workers=0"]
    assert main(["train", "experiment=lejepa_shapes", "method.local_views=4", *args]) == 0
    run_dir = Path(next(o for o in tiny_overrides if o.startswith("run_dir=")).split("=", 1)[1])
    assert f"wrote {run_dir / 'views.png'}" in capsys.readouterr().out
    with Image.open(run_dir / "views.png") as grid:
        assert grid.size[0] > 6 * 64 and grid.size[1] > 6 * 64  # 6 views of each of 6 images
