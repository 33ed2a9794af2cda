"""`jepa export` and `jepa.load_encoder`: a run's encoder alone in one file, rebuilt in one line (also through
torch.hub on a checkout), and `model.init_from` starting a run from such a file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import jepa
from jepa.cli import main
from jepa.common.errors import CheckpointError
from jepa.recipes import load_run

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def exported(tiny_overrides, tmp_path):
    """A tiny trained I-JEPA run and its exported encoder file."""
    run_dir, out = tmp_path / "run", tmp_path / "export" / "encoder.safetensors"
    assert main(["train", *tiny_overrides, "train.steps=2", "eval.enabled=false"]) == 0
    assert main(["export", f"run={run_dir}", f"out={out}"]) == 0
    return run_dir, out


def test_an_exported_encoder_gives_the_runs_features(exported):
    run_dir, out = exported
    _, method, _ = load_run(run_dir)
    encoder = jepa.load_encoder(out)
    assert not encoder.training
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        expected = method.eval_encoder()(x)
        torch.testing.assert_close(encoder(x), expected, rtol=0, atol=1e-6)
        hub = torch.hub.load(str(REPO), "load_encoder", str(out), source="local", trust_repo=True)
        torch.testing.assert_close(hub(x), expected, rtol=0, atol=1e-6)
    assert not torch.equal(method.eval_encoder().blocks[0].attn.qkv.weight, method.encoder.blocks[0].attn.qkv.weight)


def test_a_run_starts_from_an_exported_encoder(exported, tiny_overrides, tmp_path, capsys):
    _, out = exported
    second = tmp_path / "second"
    overrides = [
        *tiny_overrides,
        f"run_dir={second}",
        "train.steps=2",
        "eval.enabled=false",
        "optim.lr=0",
        "optim.start_lr=0",
        "optim.final_lr=0",
    ]
    assert main(["train", *overrides, f"model.init_from={out}"]) == 0
    assert "encoder <- encoder, target_encoder <- encoder" in capsys.readouterr().out  # the file has no predictor
    _, method, _ = load_run(second)
    for name, tensor in jepa.load_encoder(out).state_dict().items():  # lr 0: the weights it started from
        torch.testing.assert_close(method.encoder.state_dict()[name], tensor, rtol=0, atol=0)
        torch.testing.assert_close(method.target_encoder.state_dict()[name], tensor, rtol=0, atol=1e-6)


def test_files_not_written_by_export_are_refused(tmp_path):
    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(CheckpointError, match="not written by `jepa export`"):
        jepa.load_encoder(tmp_path / "plain.safetensors")
    torch.save({"w": torch.zeros(2)}, tmp_path / "weights.pth")
    with pytest.raises(CheckpointError, match="call jepa.models.load_pretrained"):
        jepa.load_encoder(tmp_path / "weights.pth")


def test_a_run_starts_from_another_runs_checkpoint(exported, tiny_overrides, tmp_path, capsys):
    run_dir, _ = exported
    weights = run_dir / "checkpoints" / "step_00000002" / "model.safetensors"
    overrides = [*tiny_overrides, f"run_dir={tmp_path / 'third'}", "train.steps=1", "eval.enabled=false"]
    assert main(["train", *overrides, f"model.init_from={weights}"]) == 0
    out = capsys.readouterr().out
    assert "encoder <- encoder, target_encoder <- target_encoder, predictor <- predictor" in out
