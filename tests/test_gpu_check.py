"""The device check runs here too: without a CUDA device scripts/gpu_check.py trains every shipped method, runs
torchrun, a killed-and-resumed run and the bench on the CPU with tiny settings, and its JSON says each passed."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "gpu_check.py"


@pytest.mark.slow
def test_the_device_check_passes_on_the_cpu_with_every_method_ok(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path / "check")], capture_output=True, text=True, timeout=900
    )
    report = json.loads((tmp_path / "check" / "gpu_check.json").read_text())
    failed = {name: check for name, check in report["methods"].items() if not check["ok"]}
    assert done.returncode == 0 and report["ok"], failed or done.stdout[-2000:]
    methods = {"ijepa", "vjepa", "ajepa", "lejepa", "seq_jepa", "world_model", "act_jepa", "act", "bc"}
    assert set(report["methods"]) == methods
    assert report["resume"]["killed"] and report["resume"]["equal_losses"]
    assert report["torchrun"]["backend"] == "gloo" and report["bench"]["samples_per_s"] > 0
    assert "ok" in done.stdout and "gpu_check.json" in done.stdout


def test_the_device_check_refuses_a_used_output_directory(tmp_path):
    (tmp_path / "old").write_text("")
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and "is not empty" in done.stderr
