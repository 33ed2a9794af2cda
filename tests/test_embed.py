"""`jepa.load_encoder(FILE).embed(path)` and `jepa embed`: an exported encoder turns an image, a video file or a
sound file into the features the run's own evaluation computes for that file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import Subset

import jepa
from evals import extract_features
from jepa.cli import main
from jepa.recipes import load_run
from jepa.recipes.parts import build_dataset


def _trained_and_exported(overrides: list[str], tmp_path: Path) -> tuple[Path, Path]:
    run_dir = Path(next(o for o in overrides if o.startswith("run_dir=")).split("=", 1)[1])
    assert main(["train", *overrides, "train.steps=2", "eval.enabled=false", "data.num_workers=0"]) == 0
    out = tmp_path / "encoder.safetensors"
    assert main(["export", f"run={run_dir}", f"out={out}"]) == 0
    return run_dir, out


def _embeds_as_the_evaluation_does(run_dir: Path, out: Path, modality: str) -> None:
    cfg, method, _ = load_run(run_dir)
    held_out = build_dataset(cfg.data, "val", run_dir)
    expected, _ = extract_features(method.eval_encoder(), Subset(held_out, [0, 1]))
    encoder = jepa.load_encoder(out)
    assert encoder.preprocessing.modality == modality
    one = encoder.embed(held_out.files[0])
    both = encoder.embed([held_out.files[0], held_out.files[1]])
    assert one.shape == (1, expected.shape[1])
    torch.testing.assert_close(both, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(one[0], both[0], rtol=0, atol=0)


def test_an_exported_image_encoder_embeds_image_files(tiny_overrides, tmp_path):
    _embeds_as_the_evaluation_does(*_trained_and_exported(tiny_overrides, tmp_path), "image")


def test_an_exported_video_encoder_embeds_a_video_file(video_overrides, tmp_path):
    pytest.importorskip("decord", reason="video needs the 'video' extra")
    _embeds_as_the_evaluation_does(*_trained_and_exported(video_overrides, tmp_path), "video")


def test_an_exported_audio_encoder_embeds_a_sound_file(tmp_path_factory, tmp_path):
    pytest.importorskip("soundfile", reason="audio needs the 'audio' extra")
    from test_audio_train import TINY_AUDIO

    overrides = [*TINY_AUDIO, f"data.root={tmp_path_factory.getbasetemp() / 'sounds'}", f"run_dir={tmp_path / 'run'}"]
    _embeds_as_the_evaluation_does(*_trained_and_exported(overrides, tmp_path), "audio")


def test_jepa_embed_writes_one_row_per_file_of_a_folder(tiny_overrides, tmp_path, capsys):
    run_dir, out = _trained_and_exported(tiny_overrides, tmp_path)
    cfg, _, _ = load_run(run_dir)
    folder = build_dataset(cfg.data, "val", run_dir).files[0].parent
    features = tmp_path / "features.npy"
    assert main(["embed", f"file={out}", f"inputs={folder}", f"out={features}"]) == 0
    files = sorted(folder.glob("*.png"))
    rows = np.load(features)
    assert rows.shape[0] == len(files)
    assert (tmp_path / "features.npy.files.txt").read_text().split() == [str(f) for f in files]
    np.testing.assert_allclose(rows[:1], jepa.load_encoder(out).embed(files[0]).numpy(), rtol=0, atol=1e-6)
    assert main(["embed", f"run={run_dir}", f"inputs=[{files[0]}]", f"out={tmp_path / 'one.npy'}"]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "one.npy"), rows[:1], rtol=0, atol=1e-6)
    capsys.readouterr()
    assert main(["embed", f"file={out}", f"inputs={tmp_path / 'nothing'}"]) == 2
    assert capsys.readouterr().err.strip() == f"jepa embed: no such file or folder: {tmp_path / 'nothing'}"
