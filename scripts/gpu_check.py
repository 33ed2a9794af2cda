"""One pass over what a GPU must run: every shipped method trains on the device in bf16 (one of them compiled), a
one-GPU torchrun run (nccl), SDPA against xformers, a SIGKILLed run that resumes with equal losses, and the bench
at ViT-L/16, 224 px, bf16 with its model FLOP utilisation. Writes ``<out>/gpu_check.json`` and prints a table.

Without a CUDA device every step runs on the CPU with tiny settings, so CI exercises this script itself:
``python scripts/gpu_check.py --out runs/gpu_check`` (``scripts/gpu_check.sh`` installs what is missing first).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

# dense bf16 tensor-core peaks from the vendors' datasheets, TFLOP/s; a device not listed is measured instead
BF16_PEAK_TFLOPS = {"H100 SXM": 989.4, "H100 PCIe": 756.0, "H100 NVL": 835.0, "H200": 989.4, "A100": 312.0}

CUDA = torch.cuda.is_available()
STEPS = 30 if CUDA else 3
ENGINE = [f"train.steps={STEPS}", "train.log_every=1", "train.progress=false", "data.num_workers=0"]
ENGINE += ["optim.warmup_steps=1", "eval.enabled=false", "train.precision=bf16"]
ENGINE += [] if CUDA else ["train.threads=1"]
SMALL = [] if CUDA else ["model.embed_dim=32", "model.depth=1", "model.num_heads=2", "model.predictor_depth=1"]
DATA = ["data.num_train=64", "data.num_val=16", "data.batch_size=16" if CUDA else "data.batch_size=4"]
POLICY = ["method.embed_dim=16", "method.depth=1"] if not CUDA else []
# each shipped method: (name, overrides); the world model and the policies train on demonstrations collected first
METHODS = {
    "ijepa": ["experiment=ijepa_shapes", *SMALL, *DATA] + (["train.compile=true"] if CUDA else []),
    "vjepa": ["experiment=vjepa_moving_shapes", *SMALL, *DATA],
    "ajepa": ["experiment=ajepa_sounds", *SMALL, *DATA],
    "lejepa": ["experiment=lejepa_shapes", *SMALL, *DATA],
    "seq_jepa": ["experiment=seq_jepa_shapes", *SMALL, *DATA, "method.probe_sequences=16"],
    "world_model": ["experiment=wm_two_rooms", "data.batch_size=8", "method.window=3", "method.rollout_steps=2"],
    "act_jepa": ["experiment=act_jepa_two_rooms", *POLICY, "data.batch_size=8", "method.rollouts=0"],
    "act": ["experiment=act_two_rooms", *POLICY, "data.batch_size=8", "method.rollouts=0"],
    "bc": ["experiment=bc_two_rooms", *POLICY, "data.batch_size=8", "method.rollouts=0"],
}
DEMOS = ["env=two_rooms", "policy=expert", "action_noise=0.5", "episodes=6", "num_envs=2", "episodes_per_shard=2"]


def jepa(*args: str) -> list[str]:
    return [sys.executable, "-m", "jepa.cli", *args]


def run(command: list[str], timeout: float = 480) -> dict:
    """Run a command -> ``{"ok", "seconds", "error"}`` (the last line of its stderr when it fails)."""
    start = time.time()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "seconds": round(time.time() - start, 1), "error": f"timed out after {timeout:.0f} s"}
    lines = done.stderr.strip().splitlines()
    error = None if done.returncode == 0 else (lines[-1] if lines else f"exit {done.returncode}")
    return {"ok": done.returncode == 0, "seconds": round(time.time() - start, 1), "error": error}


def losses(run_dir: Path) -> dict[int, float]:
    rows = map(json.loads, (run_dir / "metrics.jsonl").read_text().splitlines())
    return {row["step"]: row["loss"] for row in rows if "loss" in row}


def train_methods(out: Path, data: Path) -> dict:
    demos = out / "demos"
    collected = run(jepa("collect", *DEMOS, f"out={demos}", "progress=false"))

    def train(name: str) -> dict:
        overrides = METHODS[name]
        needs_demos = any(o.startswith(("experiment=wm_", "experiment=act", "experiment=bc")) for o in overrides)
        if needs_demos and not collected["ok"]:
            return {"ok": False, "error": f"collecting demonstrations failed: {collected['error']}"}
        root = f"data.root={demos}" if needs_demos else f"data.root={data / name}"  # generated apart: no race
        result = run(jepa("train", *overrides, *ENGINE, root, f"run_dir={out / 'methods' / name}"))
        if result["ok"]:
            result["final_loss"] = losses(out / "methods" / name)[STEPS]
        return result

    # one at a time on a GPU (each timing its own); two single-thread trainings at a time on the CPU
    with ThreadPoolExecutor(max_workers=1 if CUDA else 2) as pool:
        return dict(zip(METHODS, pool.map(train, METHODS)))


def torchrun_one_process(out: Path, data: Path) -> dict:
    """A one-process torchrun run: the process group (nccl on CUDA, gloo on CPU) wraps the model in DDP."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=1", "-m", "jepa.cli", "train"]
    overrides = [*METHODS["lejepa"], *ENGINE, f"data.root={data}", f"run_dir={out / 'torchrun'}"]
    result = run([*torchrun, *overrides])
    result["backend"] = "nccl" if CUDA else "gloo"
    return result


def killed_and_resumed(out: Path, data: Path) -> dict:
    """The same training uninterrupted and SIGKILLed after a checkpoint, then re-run: equal losses at every step."""
    steps, every = (40, 10) if CUDA else (8, 2)
    args = [*METHODS["ijepa"], *ENGINE, f"train.steps={steps}", f"train.checkpoint_every={every}", f"data.root={data}"]
    args = [a for a in args if a != "train.compile=true"]
    reference, killed = out / "resume" / "reference", out / "resume" / "killed"
    first = run(jepa("train", *args, f"run_dir={reference}"))
    if not first["ok"]:
        return first
    proc = subprocess.Popen(jepa("train", *args, f"run_dir={killed}"), stderr=subprocess.DEVNULL)
    pointer = killed / "checkpoints" / "latest"
    while proc.poll() is None and not (pointer.exists() and pointer.read_text().strip() >= f"step_{every:08d}"):
        time.sleep(0.01)
    was_killed = proc.poll() is None
    if was_killed:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    resumed = run(jepa("train", *args, f"run_dir={killed}"))
    if not resumed["ok"]:
        return resumed
    expected, got = losses(reference), losses(killed)
    equal = all(abs(got[s] - expected[s]) <= 1e-6 * max(1.0, abs(expected[s])) for s in expected)
    return {"ok": was_killed and equal, "killed": was_killed, "equal_losses": equal, "steps": steps}


def sdpa_against_xformers() -> dict:
    """The attention of one block through SDPA and through xformers' memory-efficient kernel, on the device."""
    try:
        import xformers  # noqa: F401
    except ImportError:
        return {"ok": True, "skipped": "xformers is not installed"}
    from jepa.models.attention import Attention

    device = torch.device("cuda" if CUDA else "cpu")
    torch.manual_seed(0)
    sdpa = Attention(256, 4, backend="sdpa").to(device)
    xformers_attention = Attention(256, 4, backend="xformers").to(device)
    xformers_attention.load_state_dict(sdpa.state_dict())
    x = torch.randn(8, 197, 256, device=device)
    with torch.no_grad():
        difference = (sdpa(x) - xformers_attention(x)).abs().max().item()
    return {"ok": difference < 1e-3, "max_abs_difference": difference}


def device_peak_tflops(measured_gflops: float) -> tuple[float, str]:
    """The device's dense bf16 peak, from the datasheet when the device is listed, else the matmul rate the bench
    measured in the timed precision."""
    if CUDA:
        name = torch.cuda.get_device_name()
        for key, peak in BF16_PEAK_TFLOPS.items():
            if all(word in name for word in key.split()):
                return peak, f"datasheet ({name})"
    return measured_gflops / 1000, "measured matmul rate"


def bench(out: Path) -> dict:
    """``jepa bench`` of the masked-JEPA step: ViT-L/16 at 224 px in bf16 on CUDA, ViT-tiny at 32 px in fp32 on the
    CPU; MFU is the achieved model FLOP/s over the device's bf16 peak (on the CPU: over its measured matmul rate)."""
    from jepa.bench.step import run_bench
    from jepa.config import load_config

    if CUDA:
        size = ["model.name=vit_large", "model.embed_dim=null", "model.depth=null", "model.num_heads=null"]
        size += ["data.image_size=224", "model.patch_size=16", "data.batch_size=64", "bench.steps=5", "bench.warmup=2"]
        size += ["bench.precisions=[bf16]"]
    else:  # fp32: a CPU's bf16 matmul rate, which the bench measures, can be a small fraction of its fp32 one
        size = [*SMALL, "data.image_size=32", "model.patch_size=8", "data.batch_size=4", "bench.steps=2"]
        size += ["bench.warmup=1", "train.threads=1", "bench.precisions=[fp32]"]
    overrides = ["experiment=ijepa_shapes", *size, "model.patch_embed=linear", "bench.repeats=1"]
    overrides += [f"run_dir={out / 'bench'}"]
    try:
        (row,) = run_bench(load_config(overrides))
    except Exception as err:  # noqa: BLE001  (reported in the JSON, the other checks still count)
        return {"ok": False, "error": f"{type(err).__name__}: {err}"}
    peak, source = device_peak_tflops(row["matmul_peak_gflops"])
    achieved = row["gflops"] / 1000
    return {
        "ok": True,
        "model": "vit_large/16 224 px" if CUDA else "vit_tiny/8 32 px",
        "samples_per_s": row["samples_per_s"],
        "achieved_tflops": achieved,
        "peak_tflops": peak,
        "peak_source": source,
        "mfu": achieved / peak,
        "peak_memory_mb": row["peak_memory_mb"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/gpu_check", help="where the runs and gpu_check.json go")
    out = Path(parser.parse_args().out).resolve()
    if out.exists() and any(out.iterdir()):
        print(f"gpu_check: --out {out} is not empty; give a new directory", file=sys.stderr)
        return 2
    data = out / "data"
    device = torch.cuda.get_device_name() if CUDA else "cpu (tiny settings)"
    report = {"device": device, "torch": torch.__version__, "steps": STEPS}
    report["methods"] = train_methods(out, data)
    report["torchrun"] = torchrun_one_process(out, data)
    report["sdpa_vs_xformers"] = sdpa_against_xformers()
    report["resume"] = killed_and_resumed(out, data)
    report["bench"] = bench(out)
    checks = [*report["methods"].values(), report["torchrun"], report["sdpa_vs_xformers"], report["resume"]]
    report["ok"] = all(check["ok"] for check in [*checks, report["bench"]])
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2))
    print(f"gpu_check on {device}, torch {torch.__version__}")
    for name, check in [*report["methods"].items(), *((k, report[k]) for k in ("torchrun", "sdpa_vs_xformers"))]:
        print(f"  {name:<18} {'ok' if check['ok'] else 'FAILED'}  {check.get('error') or check.get('skipped') or ''}")
    resume, b = report["resume"], report["bench"]
    print(f"  {'resume':<18} {'ok' if resume['ok'] else 'FAILED'}  {resume.get('error') or ''}")
    if b["ok"]:
        print(
            f"  {'bench':<18} ok  {b['model']}: {b['samples_per_s']:.1f} samples/s, {b['achieved_tflops']:.3g} "
            f"TFLOP/s, MFU {b['mfu']:.1%} of {b['peak_tflops']:.3g} ({b['peak_source']}), {b['peak_memory_mb']:.0f} MB"
        )
    else:
        print(f"  {'bench':<18} FAILED  {b['error']}")
    print(f"wrote {out / 'gpu_check.json'}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
