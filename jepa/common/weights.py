"""Reading weight files without running pickled code: the one loader of checkpoints, official weights and
exported encoders."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from safetensors.torch import load_file

from jepa.common.errors import CheckpointError


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a flat state dict from .safetensors, or a dict from a torch .pt/.pth/.pth.tar file with pickle
    restricted to tensors and plain containers and values (``weights_only``), so a crafted file cannot execute
    code. Official JEPA checkpoints are such dicts: one state dict per part, plus the epoch, the loss, ..."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except Exception as err:
            raise CheckpointError(f"{path} is not a valid safetensors file: {err}") from err
    try:
        with warnings.catch_warnings():  # a refused file is reported once, as a CheckpointError
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"refused to load {path}: it is not a plain tensor checkpoint ({type(err).__name__}); "
            "pickled objects and code are never unpickled"
        ) from err
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, expected a dict of tensors")
    return state
