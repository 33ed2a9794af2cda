import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch


@pytest.fixture(autouse=True)
def _deterministic_threads():
    """Tests compare numbers across processes; keep each test on a fixed thread count."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


TINY = [
    "model.embed_dim=64",
    "model.depth=2",
    "model.num_heads=2",
    "model.patch_size=4",
    "model.predictor_dim=32",
    "model.predictor_depth=1",
    "model.predictor_heads=2",
    "data.image_size=32",
    "data.batch_size=16",
    "data.num_train=128",
    "data.num_val=64",
    "optim.warmup_steps=2",
    "train.progress=false",
    "train.threads=1",
]


@pytest.fixture(scope="session")
def data_root(tmp_path_factory):
    """One small generated shapes dataset shared by every test that trains."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def tiny_overrides(data_root, tmp_path):
    return [*TINY, f"data.root={data_root}", f"run_dir={tmp_path / 'run'}"]


TINY_VIDEO = [
    "experiment=vjepa_moving_shapes",
    "model.embed_dim=32",
    "model.depth=1",
    "model.num_heads=2",
    "model.patch_size=4",
    "model.predictor_dim=16",
    "model.predictor_depth=1",
    "model.predictor_heads=2",
    "data.image_size=32",
    "data.frames_per_clip=4",
    "data.video_frames=8",
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
def video_overrides(tmp_path_factory, tmp_path):
    """A toy V-JEPA config whose generated videos are shared by the tests of one session."""
    root = tmp_path_factory.getbasetemp() / "videos"
    return [*TINY_VIDEO, f"data.root={root}", f"run_dir={tmp_path / 'run'}"]


@pytest.fixture(scope="session")
def collected(tmp_path_factory):
    """A tiny Two-Rooms collection (6 waypoint episodes of 30 steps, 2 per shard) shared by the tests of a session."""
    pytest.importorskip("gymnasium", reason="control tests need the 'control' extra (gymnasium)")
    from jepa.commands.collect import collect
    from jepa.config import load_config

    out = tmp_path_factory.mktemp("collected") / "two_rooms"
    args = ["env=two_rooms", "policy=waypoint", "episodes=6", "steps=30", "num_envs=2", "episodes_per_shard=2"]
    return collect(load_config([*args, f"out={out}", "progress=false"], command="collect"))


def _logged_losses(run_dir) -> dict[int, float]:
    return {m["step"]: m["loss"] for m in map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())}


@pytest.fixture
def killed_and_resumed_losses(tmp_path):
    """``run(train_args, steps, kill_after)``: ``jepa train`` once uninterrupted and once SIGKILLed after its
    checkpoint of step ``kill_after`` and then re-run; -> (the step it resumed from, its losses per step, the
    uninterrupted run's losses per step)."""

    def cli(*args: str) -> list[str]:
        return [sys.executable, "-m", "jepa.cli", "train", *args]

    def run(train_args: list[str], steps: int, kill_after: int) -> tuple[int, dict, dict]:
        from jepa.train.checkpoint import latest_checkpoint

        reference, killed = tmp_path / "reference", tmp_path / "killed"
        subprocess.run(cli(*train_args, f"run_dir={reference}"), check=True, timeout=600, capture_output=True)
        proc = subprocess.Popen(
            cli(*train_args, f"run_dir={killed}"), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:
            pointer = killed / "checkpoints" / "latest"
            if pointer.exists() and pointer.read_text().strip() >= f"step_{kill_after:08d}":
                break
            time.sleep(0.01)
        assert proc.poll() is None, "the run finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        resumed_from = int(latest_checkpoint(killed / "checkpoints").name.split("_")[1])
        assert resumed_from < steps
        subprocess.run(cli(*train_args, f"run_dir={killed}"), check=True, timeout=600, capture_output=True)
        return resumed_from, _logged_losses(killed), _logged_losses(reference)

    return run


@pytest.fixture(scope="session")
def train_world_model():
    """``train(data, run_dir, *overrides) -> run_dir``: a tiny world-model training through the CLI."""
    from world_model_runs import TINY_WORLD_MODEL

    from jepa.cli import main

    def train(data, run_dir, *overrides: str):
        assert main(["train", *TINY_WORLD_MODEL, f"data.root={data}", f"run_dir={run_dir}", *overrides]) == 0
        return run_dir

    return train


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Keep the ``slow`` marker honest: a test that kills and resumes a training or starts torchrun processes
    runs several trainings and must carry it, so ``-m "not slow"`` is a quick run."""
    for item in items:
        multi_process = "killed_and_resumed_losses" in getattr(item, "fixturenames", ()) or "torchrun" in item.name
        if multi_process and item.get_closest_marker("slow") is None:
            raise pytest.UsageError(f"{item.nodeid} starts several processes: mark it @pytest.mark.slow")
