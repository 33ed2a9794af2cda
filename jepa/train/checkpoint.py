"""Checkpoints without pickle: weights and tensor state in safetensors, everything else in JSON.

Layout of one checkpoint directory (written to a temporary name, then renamed, so a killed run
never leaves a half-written checkpoint behind a valid name):

    step_00000200/
      model.safetensors   the method's state_dict (encoder, predictor, target encoder, ...)
      state.safetensors   optimizer moments and RNG states
      state.json          step, the non-tensor optimizer state, the resolved config
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from jepa.common.errors import CheckpointError
from jepa.common.weights import load_weights

LATEST = "latest"
_TENSOR, _ITEMS = "__tensor__", "__items__"


def _encode(obj: Any, tensors: dict[str, torch.Tensor], path: str) -> Any:
    """Split a nested state into JSON (with placeholders) and a flat name -> tensor dict."""
    if isinstance(obj, torch.Tensor):
        tensors[path] = obj.detach().cpu().contiguous()
        return {_TENSOR: path}
    if isinstance(obj, dict):
        return {_ITEMS: [[k, _encode(v, tensors, f"{path}.{k}")] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [_encode(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot store {type(obj).__name__} at {path} in a checkpoint")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, dict):
        if _TENSOR in obj:
            return tensors[obj[_TENSOR]]
        return {k: _decode(v, tensors) for k, v in obj[_ITEMS]}
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    return obj


def rng_state() -> dict[str, torch.Tensor]:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state.update({f"cuda{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    return state


def set_rng_state(state: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(state["cpu"])
    cuda = [state[f"cuda{i}"] for i in range(torch.cuda.device_count()) if f"cuda{i}" in state]
    if cuda:
        torch.cuda.set_rng_state_all(cuda)


def save_checkpoint(
    directory: str | Path, step: int, model_state: dict[str, torch.Tensor], train_state: dict[str, Any], keep: int = 2
) -> Path:
    """Write ``directory/step_<step>`` atomically, point ``directory/latest`` at it, keep the newest ``keep``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step_{step:08d}"
    tmp = directory / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file({k: v.detach().cpu().contiguous() for k, v in model_state.items()}, str(tmp / "model.safetensors"))
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _encode(train_state, tensors, "state")
    save_file(tensors, str(tmp / "state.safetensors"))
    (tmp / "state.json").write_text(json.dumps({"format": 1, "step": step, "state": skeleton}, indent=1))
    if final.exists():
        shutil.rmtree(final)
    os.rename(tmp, final)
    _write_atomic(directory / LATEST, final.name)
    for old in sorted(p for p in directory.glob("step_*") if p.is_dir())[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The checkpoint ``latest`` points at, or None when the run has none yet."""
    pointer = Path(directory) / LATEST
    if not pointer.exists():
        return None
    path = Path(directory) / pointer.read_text().strip()
    if not (path / "state.json").exists():
        raise CheckpointError(f"{pointer} points at {path}, which is not a complete checkpoint")
    return path


def find_checkpoint(path: str | Path) -> Path | None:
    """A checkpoint directory, or the latest checkpoint of a ``checkpoints`` directory or of a run directory."""
    path = Path(path).expanduser()
    if (path / "state.json").exists():
        return path
    if (path / LATEST).exists():
        return latest_checkpoint(path)
    return latest_checkpoint(path / "checkpoints")


def read_train_values(path: str | Path, *keys: str) -> list[Any]:
    """Plain (not tensor) values of a checkpoint's train state, read from its JSON alone; None where absent."""
    try:
        items = dict(json.loads((Path(path) / "state.json").read_text())["state"][_ITEMS])
    except (ValueError, OSError, KeyError) as err:
        raise CheckpointError(f"checkpoint {path} is damaged ({type(err).__name__}: {err})") from err
    return [items.get(key) for key in keys]


def load_checkpoint(path: str | Path) -> tuple[int, dict[str, torch.Tensor], dict[str, Any]]:
    """-> (step, model_state, train_state). Reads only safetensors and JSON: no code can run."""
    path = Path(path)
    if not (path / "state.json").exists():
        raise CheckpointError(f"{path} is not a checkpoint directory (no state.json); expected a step_* directory")
    try:
        meta = json.loads((path / "state.json").read_text())
        tensors = load_file(str(path / "state.safetensors"))
        model_state = load_weights(path / "model.safetensors")
    except (ValueError, OSError, SafetensorError, CheckpointError) as err:  # JSON's errors are ValueErrors
        raise CheckpointError(
            f"checkpoint {path} is damaged ({type(err).__name__}: {err}); continue from an earlier one with "
            "train.resume=<its step_* directory>, or start afresh with train.resume=never"
        ) from err
    return int(meta["step"]), model_state, _decode(meta["state"], tensors)
