"""A-JEPA end to end at toy size: config checks, pretraining on generated sounds, resumption, probes."""

import json
from pathlib import Path

import pytest
from hydra.errors import HydraException

pytest.importorskip("soundfile", reason="audio tests need the 'audio' extra (soundfile, torchaudio)")

import torch  # noqa: E402

from jepa.common.errors import ConfigError  # noqa: E402
from jepa.config import load_config  # noqa: E402
from jepa.data import SyntheticSounds, audio  # noqa: E402
from jepa.data.loader import StepTagged  # noqa: E402
from jepa.masks import TimeFrequencyMasks  # noqa: E402
from jepa.recipes import make_trainer  # noqa: E402
from jepa.recipes.masked_jepa import build_method  # noqa: E402
from jepa.recipes.parts import FBANK_STATS, build_masks, input_shape  # noqa: E402
from jepa.recipes.probing import evaluate_encoder  # noqa: E402
from jepa.train.checkpoint import latest_checkpoint  # noqa: E402

TINY_AUDIO = [
    "experiment=ajepa_sounds",
    "model.embed_dim=32",
    "model.depth=1",
    "model.num_heads=2",
    "model.predictor_dim=16",
    "model.predictor_depth=1",
    "model.predictor_heads=2",
    "data.clip_frames=64",  # 4 x 8 patches
    "data.num_train=16",
    "data.num_val=8",
    "data.batch_size=8",
    "data.num_workers=0",
    "optim.warmup_steps=2",
    "train.steps=6",
    "train.log_every=1",
    "train.checkpoint_every=3",
    "train.progress=false",
    "train.threads=1",
    "eval.batch_size=8",
]


@pytest.fixture
def audio_overrides(tmp_path_factory, tmp_path):
    """A toy A-JEPA config whose generated sounds are shared by the tests of one session."""
    root = tmp_path_factory.getbasetemp() / "sounds"
    return [*TINY_AUDIO, f"data.root={root}", f"run_dir={tmp_path / 'run'}"]


def _losses(run_dir: Path) -> dict[int, float]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return {r["step"]: r["loss"] for r in map(json.loads, lines)}


def test_audio_preset_builds_a_one_channel_spectrogram_vit_with_the_curriculum_masks():
    cfg = load_config(["experiment=ajepa_sounds"])
    assert cfg.optim.loss == "l2" and cfg.mask.kind == "time_frequency"
    method = build_method(cfg)
    assert input_shape(cfg) == (1, 128, 128) and method.encoder.grid == (8, 8)
    masks = build_masks(cfg.mask, method.encoder.grid, cfg.train.steps)
    assert isinstance(masks, TimeFrequencyMasks) and masks.total_steps == cfg.train.steps
    assert masks.stripes.num_targets == 3 and masks.blocks.num_targets == 4


def test_misspelt_audio_key_fails_naming_the_key():
    with pytest.raises(HydraException, match="data.clip_frame"):
        load_config(["experiment=ajepa_sounds", "data.clip_frame=96"])


@pytest.mark.parametrize(
    "override, key",
    [
        ("data.clip_frames=100", "data.clip_frames"),
        ("model.patch_size=24", "model.patch_size"),
        ("model.in_chans=3", "model.in_chans"),
        ("mask.kind=multiblock3d", "mask.kind"),
        ("mask.stripe_scale=[0.05]", "mask.stripe_scale"),
        ("mask.curriculum_start=0", "mask.curriculum_start"),
        ("data.name=sound", "data.name"),
    ],
)
def test_bad_audio_values_fail_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=key):
        load_config(["experiment=ajepa_sounds", override])


def test_training_crops_are_drawn_from_seed_step_and_index_while_probes_see_the_centre(audio_overrides):
    root = load_config(audio_overrides).data.root
    sounds = SyntheticSounds(root, "train", num_train=16, num_val=8, duration=0.5, random_crop=True)
    tagged = StepTagged(sounds, seed=0)
    crops = [tagged[(step, 3)][0][0] for step in (7, 7, 8)]
    assert torch.equal(crops[0], crops[1]) and not torch.equal(crops[0], crops[2])
    assert not torch.equal(StepTagged(sounds, seed=1)[(7, 3)][0][0], crops[0])
    centre = SyntheticSounds(root, "train", num_train=16, num_val=8, duration=0.5)[3][0]
    assert torch.equal(sounds[3][0], centre)


class Interrupted(Exception):
    pass


def test_resumed_audio_run_replays_crops_and_masks_and_keeps_its_feature_statistics(
    audio_overrides, tmp_path, monkeypatch
):
    reference = load_config([*audio_overrides, f"run_dir={tmp_path / 'reference'}"])
    assert len(make_trainer(reference).fit()) == 6
    stats = json.loads((Path(reference.run_dir) / FBANK_STATS).read_text())
    assert stats["files"] == 16 and stats["frames"] == 64 and stats["std"] > 0

    cfg = load_config(audio_overrides)
    trainer = make_trainer(cfg)
    forward = trainer.method.forward

    def dies_at_step_4(batch):
        if batch["step"] == 4:
            raise Interrupted
        return forward(batch)

    monkeypatch.setattr(trainer.method, "forward", dies_at_step_4)
    with pytest.raises(Interrupted):
        trainer.fit()
    assert latest_checkpoint(Path(cfg.run_dir) / "checkpoints").name == "step_00000003"

    def no_recount(_):
        raise AssertionError("feature statistics recomputed on resume")

    monkeypatch.setattr(audio, "fbank_stats", no_recount)
    resumed = make_trainer(cfg)
    assert resumed.step == 3 and len(resumed.fit()) == 3
    assert _losses(Path(cfg.run_dir)) == pytest.approx(_losses(Path(reference.run_dir)), rel=1e-6, abs=1e-7)


def test_audio_run_probes_sound_classes_against_random_init_and_raw_fbanks(audio_overrides):
    cfg = load_config([*audio_overrides, "train.steps=2"])
    trainer = make_trainer(cfg)
    trainer.fit()
    results = evaluate_encoder(cfg, trainer.method, trainer.facts)
    assert results["main_label"] == "sound" and results["num_val"] == 8
    assert [row["encoder"] for row in results["rows"]] == ["pretrained", "random_init", "raw_input"]
    for row in results["rows"]:
        for column in ("linear_acc", "knn_acc", "attentive_acc", "timbre_acc", "pitch_r2"):
            assert column in row
    assert (Path(cfg.run_dir) / "eval.json").exists()
