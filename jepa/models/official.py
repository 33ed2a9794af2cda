"""Weights of the official I-JEPA (facebookresearch/ijepa) and V-JEPA (facebookresearch/jepa) models in ours.

Our encoder and predictor are the official architectures under other parameter names, so importing an official
checkpoint is a renaming: DDP's ``module.`` and V-JEPA's multi-mask ``backbone.`` prefixes go, the MLP layers
``fc1``/``fc2`` become the indices of our ``nn.Sequential``, the predictor loses its ``predictor_`` prefixes, and
its mask tokens (I-JEPA's one ``mask_token``, V-JEPA's ``mask_tokens.<i>``, each (1, 1, D)) become our single
(num_mask_tokens, 1, 1, D) parameter. The official position embeddings are frozen parameters; ours are computed
buffers outside the state dict, so they are compared rather than loaded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch
from torch import nn

_PREFIXES = ("module.", "backbone.")
_RENAMES = (
    (re.compile(r"^predictor_(embed|blocks|norm|proj|pos_embed)\b"), r"\1"),
    (re.compile(r"\.mlp\.fc1\."), ".mlp.0."),
    (re.compile(r"\.mlp\.fc2\."), ".mlp.2."),
)
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
    its tokens at the wrong places."""
    converted = convert_official_state_dict(state_dict)
    official_pos = converted.pop("pos_embed", None)
    if official_pos is not None:
        ours = module.pos_embed
        if official_pos.shape != ours.shape or not torch.allclose(official_pos.to(ours), ours, rtol=0.0, atol=1e-5):
            raise ValueError(
                f"the official position embedding {tuple(official_pos.shape)} differs from the sincos embedding of "
                f"{type(module).__name__} on grid {module.grid}; the checkpoint was trained with another grid or layout"
            )
    module.load_state_dict(converted, strict=True)
