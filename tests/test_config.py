import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import HydraException

from jepa.cli import main
from jepa.common.errors import ConfigError
from jepa.config import load_config


def test_default_and_experiment_presets_compose():
    cfg = load_config(["experiment=ijepa_shapes"])
    assert cfg.name == "ijepa_shapes" and cfg.run_dir == "runs/ijepa_shapes"
    assert cfg.mask.target_scale == [0.15, 0.2]


def test_video_preset_builds_a_tubelet_vit_and_two_mask_generators():
    from jepa.recipes.masked_jepa import build_method
    from jepa.recipes.parts import build_masks, input_shape

    cfg = load_config(["experiment=vjepa_moving_shapes"])
    assert cfg.optim.loss == "l1" and cfg.optim.ema_momentum == [0.998, 1.0]
    method = build_method(cfg)
    frames, size = cfg.data.frames_per_clip, cfg.data.image_size
    assert method.encoder.grid == (frames // cfg.model.tubelet_size, size // 8, size // 8)
    assert input_shape(cfg) == (3, frames, size, size)
    masks = build_masks(cfg.mask, method.encoder.grid, cfg.train.steps)
    assert masks.num_generators == method.num_generators == 2
    assert [s.num_blocks for s in masks.specs] == [8, 2] and masks.specs[1].spatial_scale == (0.7, 0.7)


def test_misspelt_key_fails_naming_the_key():
    with pytest.raises(HydraException, match="model.dept"):
        load_config(["model.dept=3"])


def test_wrong_type_fails():
    with pytest.raises(HydraException, match="model.depth"):
        load_config(["model.depth=deep"])


@pytest.mark.parametrize(
    "override, key",
    [
        ("model.name=vit_gigantic", "model.name"),
        ("data.image_size=30", "data.image_size"),
        ("train.precision=fp8", "train.precision"),
        ("train.steps=0", "train.steps"),
        ("data.name=moving_shape", "data.name"),
        ("mask.kind=multiblock4d", "mask.kind"),
        ("mask.kind=multiblock3d", "mask.kind"),  # image data
        ("experiment=vjepa_moving_shapes data.frames_per_clip=7", "data.frames_per_clip"),
        ("experiment=vjepa_moving_shapes data.frame_step=3", "data.video_frames"),
        ("experiment=vjepa_moving_shapes data.video_backend=opencv", "data.video_backend"),
        ("experiment=vjepa_moving_shapes mask.kind=multiblock", "mask.kind"),
        ("experiment=vjepa_moving_shapes mask.num_blocks=[8]", "mask.num_blocks"),
        ("experiment=vjepa_moving_shapes mask.spatial_scale=[0.15,1.5]", "mask.spatial_scale"),
        ("experiment=vjepa_moving_shapes model.patch_embed=conv", "model.patch_embed"),
        ("regularizer.name=vicreg", "regularizer.name"),
        ("regularizer.online_target=true", "regularizer.online_target"),
        ("bench.clips=0", "bench.clips"),
        ("bench.rounds=0", "bench.rounds"),
        ("bench.reference_masks=true", "bench.reference"),
    ],
)
def test_bad_values_fail_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=key):
        load_config(override.split())


def test_bench_refuses_a_reference_that_is_not_a_checkout():
    from jepa.bench.reference import check_bench_reference

    with pytest.raises(ConfigError, match="bench.reference"):
        check_bench_reference(load_config(["bench.reference=/nonexistent/ijepa"]))


def test_collapse_ablation_is_refused_unless_explicitly_allowed():
    from jepa.recipes.masked_jepa import build_method

    with pytest.raises(ConfigError, match="regularizer.allow_collapse=true"):
        load_config(["regularizer.online_target=true"])
    cfg = load_config(["regularizer.online_target=true", "regularizer.allow_collapse=true"])
    method = build_method(cfg)
    assert method.target_encoder is None and method.regularizer is None


def test_cli_reports_a_bad_key_before_any_work(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "jepa.cli", "train", "optim.lrr=1"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2
    assert "optim.lrr" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_bench_video_refuses_an_unknown_backend_before_any_work():
    from jepa.bench.video import check_video_config

    cfg = load_config(["experiment=vjepa_moving_shapes", "bench.video_backends=[opencv]"])
    with pytest.raises(ConfigError, match="bench.video_backends"):
        check_video_config(cfg)


PRESETS = sorted(p.stem for p in (Path(__file__).resolve().parents[1] / "configs" / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("preset", PRESETS)
def test_every_shipped_preset_composes_and_sets_only_what_its_method_reads(preset):
    cfg = load_config([f"experiment={preset}"])
    assert cfg.name == preset


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        (["experiment=act_two_rooms", "model.depth=4"], "model.depth"),  # the policy's encoder is method.depth
        (["experiment=wm_two_rooms", "mask.num_targets=2"], "mask.num_targets"),
        (["experiment=seq_jepa_shapes", "mask=multiblock3d"], "mask.kind"),
        (["experiment=ijepa_shapes", "views.flip_p=0.1"], "views.flip_p"),
    ],
)
def test_a_key_in_a_section_the_method_does_not_read_is_refused_naming_it(overrides, key, capsys):
    with pytest.raises(ConfigError, match=rf"{key}=.*does not read"):
        load_config(overrides)
    assert main(["train", *overrides]) == 2
    assert key in capsys.readouterr().err


def test_the_group_options_are_the_registries_they_name():
    import envs
    from jepa.config import store
    from jepa.losses import REGULARIZERS
    from jepa.models import MODEL_SIZES
    from jepa.planning import PLANNERS

    assert set(store.MODELS) == set(MODEL_SIZES)
    assert set(store.REGULARIZERS) == set(REGULARIZERS)
    assert set(store.PLANNERS) == set(PLANNERS)
    assert set(store.ENVS.values()) <= set(envs.ENV_IDS + envs.OPTIONAL_ENV_IDS)
