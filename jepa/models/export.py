"""An encoder alone in one safetensors file, with the architecture that rebuilds it in its metadata.

``save_encoder`` writes what ``jepa export run=DIR out=FILE`` hands to other code; ``load_encoder(FILE)`` (also
``jepa.load_encoder``) rebuilds the encoder from that file alone, without the training config or any pickle.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import save_file

from jepa.common.errors import CheckpointError
from jepa.common.weights import load_weights
from jepa.models.vit import VisionTransformer

ENCODER_FORMAT = "jepa-encoder/1"


def save_encoder(encoder: VisionTransformer, path: str | Path) -> Path:
    """Write ``encoder``'s weights and architecture to ``path`` (.safetensors)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"{path}: an exported encoder is a .safetensors file")
    path.parent.mkdir(parents=True, exist_ok=True)
    weights = {name: tensor.detach().cpu().contiguous() for name, tensor in encoder.state_dict().items()}
    metadata = {"format": ENCODER_FORMAT, "architecture": json.dumps(encoder.architecture)}
    save_file(weights, str(path), metadata=metadata)
    return path


def encoder_architecture(path: str | Path) -> dict:
    """The constructor arguments of the :class:`VisionTransformer` an exported file holds."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(
            f"{path}: load_encoder reads the .safetensors files of `jepa export`; for an official checkpoint, build "
            "the model (create_model) and call jepa.models.load_pretrained"
        )
    try:
        with safe_open(str(path), "pt") as file:
            metadata = file.metadata() or {}
    except Exception as err:
        raise CheckpointError(f"{path} is not a valid safetensors file: {err}") from err
    if metadata.get("format") != ENCODER_FORMAT:
        raise CheckpointError(f"{path} was not written by `jepa export`: its metadata holds no encoder architecture")
    return json.loads(metadata["architecture"])


def load_encoder(path: str | Path, attn_backend: str = "sdpa") -> VisionTransformer:
    """The encoder of a `jepa export` file, in eval mode: ``jepa.load_encoder("encoder.safetensors")(images)``."""
    encoder = VisionTransformer(**encoder_architecture(path), attn_backend=attn_backend)
    encoder.load_state_dict(load_weights(path), strict=True)
    return encoder.eval()
