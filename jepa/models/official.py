"""Weights of the official I-JEPA (facebookresearch/ijepa), V-JEPA (facebookresearch/jepa) and V-JEPA 2
(facebookresearch/vjepa2) models in ours.

Our encoder and predictor are the official architectures under other parameter names, so importing an official
checkpoint is a renaming: DDP's ``module.`` and V-JEPA's multi-mask ``backbone.`` prefixes go, the MLP layers
``fc1``/``fc2`` become the indices of our ``nn.Sequential``, the predictor loses its ``predictor_`` prefixes, and
its mask tokens (I-JEPA's one ``mask_token``, V-JEPA's ``mask_tokens.<i>``, each (1, 1, D)) become our single
(num_mask_tokens, 1, 1, D) parameter. The official position embeddings are frozen parameters; ours are computed
buffers outside the state dict, so they are compared rather than loaded. ``load_pretrained`` reads whole checkpoint
files (official ones, and ours) and gives each of our modules its part.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from jepa.common.errors import CheckpointError
from jepa.common.weights import load_weights

_PREFIXES = ("module.", "backbone.")
_RENAMES = (
    (re.compile(r"^predictor_(embed|blocks|norm|proj|pos_embed)\b"), r"\1"),
    (re.compile(r"\.mlp\.fc1\."), ".mlp.0."),
    (re.compile(r"\.mlp\.fc2\."), ".mlp.2."),
)
CHECKPOINT_PARTS = ("encoder", "target_encoder", "predictor")
_MASK_TOKEN = re.compile(r"^mask_token$|^mask_tokens\.(\d+)$")  # I-JEPA | V-JEPA


def _strip_prefixes(key: str) -> str:
    while key.startswith(_PREFIXES):
        key = key.split(".", 1)[1]
    return key


def convert_official_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An official encoder's or predictor's state dict (or any dict of per-parameter tensors keyed like it, e.g.
    gradients) under our names. The position embedding, if present, is kept under ``pos_embed``."""
    converted: dict[str, torch.Tensor] = {}
    mask_tokens: dict[int, torch.Tensor] = {}
    for key, value in state_dict.items():
        key = _strip_prefixes(key)
        token = _MASK_TOKEN.match(key)
        if token:
            mask_tokens[int(token.group(1) or 0)] = value
            continue
        for pattern, replacement in _RENAMES:
            key = pattern.sub(replacement, key)
        converted[key] = value
    if mask_tokens:
        converted["mask_tokens"] = torch.stack([mask_tokens[i] for i in sorted(mask_tokens)])
    return converted


def load_official_weights(module: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Load an official encoder or predictor state dict into our ``module`` (a VisionTransformer or
    MaskedPredictor of the same sizes), strictly. The official position embedding must equal ours: a checkpoint
    trained with another layout (e.g. V-JEPA without ``uniform_power``) would otherwise load and silently see
    its tokens at the wrong places. A module with rotary positions has no embedding to compare: V-JEPA 2's
    checkpoints keep an unused one, which is dropped."""
    converted = convert_official_state_dict(state_dict)
    official_pos = converted.pop("pos_embed", None)
    if official_pos is not None and not module.rope:
        ours = module.pos_embed
        if official_pos.shape != ours.shape or not torch.allclose(official_pos.to(ours), ours, rtol=0.0, atol=1e-5):
            raise ValueError(
                f"the official position embedding {tuple(official_pos.shape)} differs from the sincos embedding of "
                f"{type(module).__name__} on grid {module.grid}; the checkpoint was trained with another grid or layout"
            )
    module.load_state_dict(converted, strict=True)


def checkpoint_parts(path: str | Path) -> dict[str, Mapping[str, torch.Tensor]]:
    """The state dicts a weights file holds, by part. An official checkpoint has one per part (``encoder``,
    ``predictor``, ``target_encoder``) beside its optimizer state and counters; one of our checkpoints
    (``model.safetensors``) names them as key prefixes; a bare state dict (an encoder of `jepa export`, or converted
    weights) is the one part ``encoder``. Read without unpickling code."""
    state = load_weights(path)
    parts = {key: value for key, value in state.items() if key in CHECKPOINT_PARTS and isinstance(value, Mapping)}
    if parts:
        return parts
    if state and all(isinstance(value, torch.Tensor) for value in state.values()):
        ours: dict[str, dict[str, torch.Tensor]] = {}  # a checkpoint of ours (model.safetensors): "<part>.<name>"
        for key, value in state.items():
            part, _, name = key.partition(".")
            if part in CHECKPOINT_PARTS:
                ours.setdefault(part, {})[name] = value
        return ours if "encoder" in ours else {"encoder": state}
    raise CheckpointError(
        f"{path} holds neither a state dict nor any of the parts {CHECKPOINT_PARTS}; its keys: {sorted(state)[:8]}"
    )


def load_pretrained(
    path: str | Path,
    encoder: nn.Module,
    predictor: nn.Module | None = None,
    target_encoder: nn.Module | None = None,
) -> list[str]:
    """Load an official I-JEPA / V-JEPA / V-JEPA 2 checkpoint, or a `jepa export` file, into our modules (built
    with the checkpoint's sizes and position embedding); returns what went where, e.g.
    ``["encoder <- target_encoder"]``. A lone encoder gets the checkpoint's EMA target when there is one (the
    encoder the papers evaluate); given ``target_encoder`` too, to go on training, each gets its own part."""
    parts = checkpoint_parts(path)
    encoder_sources = ("encoder",) if target_encoder is not None else ("target_encoder", "encoder")
    plan = [
        ("encoder", encoder, encoder_sources),
        ("target_encoder", target_encoder, ("target_encoder", "encoder")),
        ("predictor", predictor, ("predictor",)),
    ]
    loaded = []
    for name, module, sources in plan:
        source = next((source for source in sources if source in parts), None)
        if module is None or (source is None and name == "predictor"):
            continue  # an encoder-only file leaves the predictor as initialised
        if source is None:
            raise CheckpointError(f"{path} has no {sources[-1]} weights; it holds {sorted(parts)}")
        try:
            load_official_weights(module, parts[source])
        except RuntimeError as err:  # strict loading: missing, unexpected or mis-shaped tensors
            detail = " ".join(str(err).split("\n")[1:2]).strip() or str(err)
            raise CheckpointError(
                f"{path}: its {source} does not fit this {type(module).__name__} (check model.name, patch_size, "
                f"embed_dim, depth, num_heads, pos_embed): {detail}"
            ) from err
        loaded.append(f"{name} <- {source}")
    return loaded
