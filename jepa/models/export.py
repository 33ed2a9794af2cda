"""An encoder alone in one safetensors file, with the architecture that rebuilds it in its metadata.

``save_encoder`` writes what ``jepa export run=DIR out=FILE`` hands to other code; ``load_encoder(FILE)`` (also
``jepa.load_encoder``) rebuilds the encoder from that file alone, without the training config or any pickle. An
export of a run also keeps how the run read a file (:class:`jepa.data.inputs.Preprocessing`), so the encoder
embeds images, video files and sound files in one call: ``jepa.load_encoder(FILE).embed("clip.mp4")``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from jepa.common.errors import CheckpointError
from jepa.common.weights import load_weights
from jepa.data.inputs import Preprocessing
from jepa.models.vit import VisionTransformer

ENCODER_FORMAT = "jepa-encoder/1"


class PretrainedEncoder(VisionTransformer):
    """An exported encoder: the ViT (called on tensors as ever) and, for an export of a run, the run's
    :class:`Preprocessing`, with which :meth:`embed` turns files into features."""

    preprocessing: Preprocessing | None = None

    @classmethod
    def from_encoder(
        cls, encoder: VisionTransformer, preprocessing: Preprocessing | None, attn_backend: str = "sdpa"
    ) -> PretrainedEncoder:
        """A copy of ``encoder`` that embeds files as ``preprocessing`` says, in eval mode."""
        pretrained = cls(**encoder.architecture, attn_backend=attn_backend)
        pretrained.load_state_dict(encoder.state_dict(), strict=True)
        pretrained.preprocessing = preprocessing
        return pretrained.eval()

    @torch.no_grad()
    def embed(self, inputs: str | Path | Sequence[str | Path], batch_size: int = 32) -> torch.Tensor:
        """Features ``(N, D)`` of the files ``inputs`` names (a file, a folder's files of the run's modality in
        sorted order, or a list): each read as the run's evaluation reads its held-out data, encoded, its tokens
        averaged, as the probes average them."""
        if self.preprocessing is None:
            raise CheckpointError(
                "this encoder knows no preprocessing: only `jepa export` of a run whose data are files (not the "
                "digits) records how to read one"
            )
        files = self.preprocessing.files(inputs)
        device = next(self.parameters()).device
        features = []
        for start in range(0, len(files), batch_size):
            x = torch.stack([self.preprocessing.load(f) for f in files[start : start + batch_size]])
            features.append(self(x.to(device)).mean(1).float().cpu())
        return torch.cat(features)


def save_encoder(encoder: VisionTransformer, path: str | Path, preprocessing: Preprocessing | None = None) -> Path:
    """Write ``encoder``'s weights and architecture, and how its run read a file, to ``path`` (.safetensors)."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"{path}: an exported encoder is a .safetensors file")
    path.parent.mkdir(parents=True, exist_ok=True)
    weights = {name: tensor.detach().cpu().contiguous() for name, tensor in encoder.state_dict().items()}
    metadata = {"format": ENCODER_FORMAT, "architecture": json.dumps(encoder.architecture)}
    if preprocessing is not None:
        metadata["preprocessing"] = preprocessing.to_json()
    save_file(weights, str(path), metadata=metadata)
    return path


def encoder_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of an exported file: its format, architecture and (exports of runs) preprocessing."""
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
    return metadata


def load_encoder(path: str | Path, attn_backend: str = "sdpa") -> PretrainedEncoder:
    """The encoder of a `jepa export` file, in eval mode: ``jepa.load_encoder("encoder.safetensors")(images)`` on
    tensors, ``.embed("photo.png")`` on files."""
    metadata = encoder_metadata(path)
    encoder = PretrainedEncoder(**json.loads(metadata["architecture"]), attn_backend=attn_backend)
    encoder.load_state_dict(load_weights(path), strict=True)
    if "preprocessing" in metadata:
        encoder.preprocessing = Preprocessing.from_json(metadata["preprocessing"])
    return encoder.eval()
