"""V-JEPA end to end at toy size: pretraining on generated videos, resumption, and the dynamics probes."""

import json
from pathlib import Path

import pytest

pytest.importorskip("decord", reason="video tests need the 'video' extra (decord2, av)")

from jepa.config import load_config  # noqa: E402
from jepa.recipes import make_trainer  # noqa: E402
from jepa.recipes.probing import evaluate_encoder  # noqa: E402
from jepa.train.checkpoint import latest_checkpoint  # noqa: E402


def _records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


class Interrupted(Exception):
    pass


def test_video_run_resumes_from_its_checkpoint_with_the_uninterrupted_losses(video_overrides, tmp_path, monkeypatch):
    reference = load_config([*video_overrides, f"run_dir={tmp_path / 'reference'}"])
    assert len(make_trainer(reference).fit()) == 6
    records = _records(Path(reference.run_dir))
    assert all(r["skipped_files"] == 0 for r in records)

    cfg = load_config(video_overrides)
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
    resumed = make_trainer(cfg)
    assert resumed.step == 3 and len(resumed.fit()) == 3
    expected = {r["step"]: r["loss"] for r in records}
    got = {r["step"]: r["loss"] for r in _records(Path(cfg.run_dir))}
    assert sorted(got) == list(range(1, 7))
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-7)


def test_video_run_probes_direction_and_velocity_against_baselines(video_overrides):
    cfg = load_config([*video_overrides, "train.steps=2"])
    trainer = make_trainer(cfg)
    trainer.fit()
    results = evaluate_encoder(cfg, trainer.method, trainer.facts)
    assert results["main_label"] == "direction"
    assert [row["encoder"] for row in results["rows"]] == ["pretrained", "random_init", "raw_input"]
    for row in results["rows"]:
        for column in ("linear_acc", "attentive_acc", "velocity_r2", "velocity_attentive_r2", "speed_r2"):
            assert column in row
    saved = json.loads((Path(cfg.run_dir) / "eval.json").read_text())
    assert saved["rows"][2]["attentive_acc"] == results["rows"][2]["attentive_acc"]
