import json
import math
import sys
from pathlib import Path

import pytest
import torch

from jepa.common.errors import NonFiniteLossError
from jepa.config import load_config
from jepa.recipes import make_trainer
from jepa.train.checkpoint import latest_checkpoint


def _losses(run_dir: Path) -> dict[int, float]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return {r["step"]: r["loss"] for r in map(json.loads, lines)}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "jepa.cli", "train", *args]


def test_tiny_run_trains_logs_and_checkpoints(tiny_overrides, tmp_path):
    cfg = load_config(
        [*tiny_overrides, "train.steps=30", "train.log_every=1", "train.checkpoint_every=10", "data.num_workers=0"]
    )
    losses = make_trainer(cfg).fit()
    assert len(losses) == 30
    assert sum(losses[-5:]) < sum(losses[:5])  # the predictor learns something
    run = Path(cfg.run_dir)
    assert sorted(_losses(run)) == list(range(1, 31))
    assert latest_checkpoint(run / "checkpoints").name == "step_00000030"
    assert (run / "config.yaml").exists() and any((run / "tb").iterdir())
    assert "rankme" in json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])


@pytest.mark.slow
def test_resume_after_sigkill_matches_uninterrupted_losses(tiny_overrides, killed_and_resumed_losses):
    common = [*tiny_overrides, "train.steps=150", "train.log_every=1", "train.checkpoint_every=10"]
    common += ["eval.enabled=false", "data.num_workers=1"]  # the run directories come last, and win
    resumed_from, got, expected = killed_and_resumed_losses(common, steps=150, kill_after=20)
    assert sorted(got) == list(range(1, 151))  # no gap, no duplicate records
    for step in range(resumed_from + 1, 151):
        assert got[step] == pytest.approx(expected[step], rel=1e-6, abs=1e-7), step


def test_non_finite_loss_stops_with_a_clear_error_and_keeps_the_last_checkpoint(tiny_overrides, monkeypatch):
    cfg = load_config([*tiny_overrides, "train.steps=20", "train.checkpoint_every=5", "data.num_workers=0"])
    trainer = make_trainer(cfg)
    forward = trainer.method.forward

    def poisoned(batch):
        out = forward(batch)
        if batch["step"] == 12:
            out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(trainer.method, "forward", poisoned)
    with pytest.raises(NonFiniteLossError, match="step 12.*step_00000010"):
        trainer.fit()
    assert latest_checkpoint(Path(cfg.run_dir) / "checkpoints").name == "step_00000010"


@pytest.mark.slow
def test_bf16_autocast_loss_curve_tracks_fp32(tiny_overrides):
    curves = {}
    for precision in ("fp32", "bf16"):
        cfg = load_config(
            [
                *tiny_overrides,
                "train.steps=200",
                f"train.precision={precision}",
                "data.num_workers=0",
                f"run_dir={tiny_overrides[-1].split('=')[1]}-{precision}",
            ]
        )
        curves[precision] = torch.tensor(make_trainer(cfg).fit())
    # compare 20-step means: bf16 rounding noise averages out, a real divergence does not
    fp32, bf16 = (c.view(10, 20).mean(1) for c in (curves["fp32"], curves["bf16"]))
    assert torch.allclose(bf16, fp32, rtol=0.05), (fp32, bf16)


@pytest.mark.slow
def test_compiled_blocks_train_like_eager(tiny_overrides):
    losses = {}
    for compiled in (False, True):
        cfg = load_config(
            [
                *tiny_overrides,
                "train.steps=4",
                "train.precision=fp32",
                "data.num_workers=0",
                f"train.compile={compiled}",
                f"run_dir={tiny_overrides[-1].split('=')[1]}-{compiled}",
            ]
        )
        losses[compiled] = make_trainer(cfg).fit()
    assert losses[True] == pytest.approx(losses[False], rel=1e-3)


def test_online_target_mode_trains_the_encoder_through_its_own_targets(tiny_overrides, tmp_path):
    overrides = [*tiny_overrides, "train.steps=3", "data.num_workers=0", "regularizer.name=sigreg"]
    x = torch.randn(2, 3, 32, 32)
    ema = make_trainer(load_config(overrides)).method
    assert not ema.target_tokens(x).requires_grad  # stop-gradient through the EMA target
    online = [*overrides, "regularizer.online_target=true", f"run_dir={tmp_path / 'online'}"]
    trainer = make_trainer(load_config(online))
    method = trainer.method
    assert method.target_encoder is None and method.eval_encoder() is method.encoder
    assert method.target_tokens(x).requires_grad  # no stop-gradient
    losses = trainer.fit()
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    assert not any(k.startswith("target_encoder.") for k in method.state_dict())


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_the_ema_momentum_ramps_from_its_start_to_its_end_on_the_chosen_schedule(schedule):
    from jepa.train.engine import Trainer

    cfg = load_config(["train.steps=100", f"optim.ema_schedule={schedule}", "optim.ema_momentum=[0.996,1.0]"])
    trainer = Trainer.__new__(Trainer)  # the schedules read only the config
    trainer.cfg = cfg
    momenta = [trainer.hyperparams(step)[2] for step in (0, 25, 50, 100)]
    assert momenta[0] == pytest.approx(0.996) and momenta[-1] == pytest.approx(1.0)
    assert momenta[2] == pytest.approx(0.998)  # both ramps are half-way at half-time
    quarter = 0.996 + 0.004 * (0.25 if schedule == "linear" else (1 - math.cos(math.pi / 4)) / 2)
    assert momenta[1] == pytest.approx(quarter)


class _Stop(Exception):
    """Ends a training mid-way, as a kill would, after its last checkpoint."""


def _stop_at(trainer, step: int) -> None:
    forward = trainer.method.forward

    def stopping(batch):
        if batch["step"] == step:
            raise _Stop
        return forward(batch)

    trainer.method.forward = stopping


def test_precision_auto_is_decided_once_per_run_and_kept_on_resume(tiny_overrides, tmp_path, monkeypatch):
    overrides = [*tiny_overrides, "train.steps=4", "train.checkpoint_every=2", "data.num_workers=0"]
    overrides += ["train.precision=auto", "eval.enabled=false"]
    decided = {"auto": torch.bfloat16}  # what a measurement would pick now
    real = __import__("jepa.common.runtime", fromlist=["select_precision"]).select_precision
    monkeypatch.setattr(
        "jepa.train.engine.select_precision", lambda asked, device: decided.get(asked) or real(asked, device)
    )
    reference = make_trainer(load_config([*overrides, f"run_dir={tmp_path / 'reference'}"]))
    assert reference.dtype == torch.bfloat16
    expected = reference.fit()

    cfg = load_config([*overrides, f"run_dir={tmp_path / 'resumed'}"])
    first = make_trainer(cfg)
    _stop_at(first, 2)
    with pytest.raises(_Stop):
        first.fit()
    decided["auto"] = torch.float32  # the machine got busy: a new measurement would say fp32
    resumed = make_trainer(cfg)
    assert resumed.step == 2 and resumed.dtype == torch.bfloat16
    assert resumed.fit() == pytest.approx(expected[2:], rel=1e-6)
    assert make_trainer(load_config([*overrides, f"run_dir={tmp_path / 'new'}"])).dtype == torch.float32


def test_weights_that_are_not_finite_are_never_checkpointed_so_the_last_good_one_resumes(tiny_overrides):
    overrides = [*tiny_overrides, "train.steps=6", "train.checkpoint_every=2", "data.num_workers=0"]
    cfg = load_config(overrides)
    trainer = make_trainer(cfg)
    step = trainer.optimizer.step

    def poisoned_step(*args, **kwargs):  # the fourth update leaves a weight NaN, its loss still finite
        out = step(*args, **kwargs)
        if trainer._steps_done == 3:
            with torch.no_grad():
                trainer.optimizer.param_groups[0]["params"][0].fill_(float("nan"))
        trainer._steps_done += 1
        return out

    trainer._steps_done = 0
    trainer.optimizer.step = poisoned_step
    with pytest.raises(NonFiniteLossError, match="not finite after step 4.*step_00000002"):
        trainer.fit()
    checkpoints = Path(cfg.run_dir) / "checkpoints"
    assert latest_checkpoint(checkpoints).name == "step_00000002"
    assert sorted(p.name for p in checkpoints.glob("step_*")) == ["step_00000002"]
    lower = load_config([*overrides, "optim.lr=1e-4", "train.resume=force"])
    resumed = make_trainer(lower)
    assert resumed.step == 2
    assert all(math.isfinite(loss) for loss in resumed.fit())
