import json
import subprocess
import sys

import pytest


def _losses(run_dir):
    return [json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _one_process_and_torchrun(common: list[str], tmp_path) -> tuple[list[float], list[float], object]:
    """The per-step losses of ``jepa train common`` in one process and under ``torchrun --nproc_per_node=2``
    (CPU, gloo), and the torchrun run's directory."""
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    subprocess.run(
        [sys.executable, "-m", "jepa.cli", "train", *common, f"run_dir={single}"],
        check=True,
        timeout=300,
        capture_output=True,
    )
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "jepa.cli"]
    result = subprocess.run(
        [*torchrun, "train", *common, f"run_dir={ddp}"], timeout=300, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return _losses(single), _losses(ddp), ddp


@pytest.mark.slow
def test_torchrun_two_cpu_processes_match_one_process_with_the_same_global_batch(tiny_overrides, tmp_path):
    common = [*tiny_overrides, "train.steps=5", "train.log_every=1", "eval.enabled=false", "data.num_workers=0"]
    single, ddp, ddp_dir = _one_process_and_torchrun(common, tmp_path)
    assert ddp == pytest.approx(single, rel=1e-4)
    assert (ddp_dir / "checkpoints" / "latest").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "method", [["experiment=lejepa_shapes", "method.local_size=16"], ["experiment=seq_jepa_shapes"]], ids=lambda m: m[0]
)
def test_torchrun_matches_one_process_for_the_methods_with_batch_norm(method, tiny_overrides, tmp_path):
    """LeJEPA's projector and seq-JEPA's action embedding, encoding norm, predictor and target standardisation
    take the statistics of the global batch, so two ranks with half the batch each compute what one process does
    (with per-rank statistics the first loss already differs, 0.3345 against 0.3387 for LeJEPA)."""
    common = [*method, *tiny_overrides, "train.steps=4", "train.log_every=1", "eval.enabled=false"]
    single, ddp, _ = _one_process_and_torchrun([*common, "data.num_workers=0"], tmp_path)
    assert ddp == pytest.approx(single, rel=1e-5)


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "jepa.cli"]


@pytest.mark.slow
def test_torchrun_fsdp_matches_one_process_with_batch_norm(tiny_overrides, tmp_path):
    """FSDP2 on two CPU processes (gloo): each rank holds half of every parameter and moment, and LeJEPA's losses,
    with its global-batch norms, are one process's (I-JEPA's: the next test)."""
    method = ["experiment=lejepa_shapes", "method.local_size=16"]
    common = [*method, *tiny_overrides, "train.steps=4", "train.log_every=1", "eval.enabled=false"]
    single, sharded, run_dir = _one_process_and_torchrun(
        [*common, "data.num_workers=0", "train.strategy=fsdp"], tmp_path
    )
    assert sharded == pytest.approx(single, rel=1e-5)
    assert (run_dir / "checkpoints" / "latest").exists()


@pytest.mark.slow
def test_a_checkpoint_resumes_under_either_strategy(tiny_overrides, tmp_path):
    """The checkpoint is the consolidated weights and optimizer state under DDP and FSDP alike: an FSDP run (of
    I-JEPA, with one process's losses) leaves a step-3 checkpoint that continues in one process, a DDP run's
    continues under FSDP, each with the uninterrupted run's losses."""
    common = [*tiny_overrides, "train.steps=6", "train.log_every=1", "train.checkpoint_every=3", "eval.enabled=false"]
    common += ["data.num_workers=0"]

    def train(strategy: str, run_dir, *extra: str, processes: int = 2) -> None:
        launcher = TORCHRUN if processes == 2 else [sys.executable, "-m", "jepa.cli"]
        args = [*launcher, "train", *common, f"train.strategy={strategy}", f"run_dir={run_dir}", *extra]
        done = subprocess.run(args, timeout=300, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]

    reference = tmp_path / "reference"
    train("ddp", reference, processes=1)
    train("fsdp", tmp_path / "fsdp")
    train("ddp", tmp_path / "ddp")
    step_3 = "checkpoints/step_00000003"
    train("ddp", tmp_path / "fsdp_then_one", f"train.resume={tmp_path / 'fsdp' / step_3}", processes=1)
    train("fsdp", tmp_path / "ddp_then_fsdp", f"train.resume={tmp_path / 'ddp' / step_3}")
    assert _losses(tmp_path / "fsdp") == pytest.approx(_losses(reference), rel=1e-5)  # sharded = one process
    expected = _losses(reference)[3:]
    assert _losses(tmp_path / "fsdp_then_one") == pytest.approx(expected, rel=1e-5)
    assert _losses(tmp_path / "ddp_then_fsdp") == pytest.approx(expected, rel=1e-5)
