"""Named model presets: ``create_model("vit_tiny", input_size=64, patch_size=8)``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from jepa.models.vit import VisionTransformer


@dataclass(frozen=True)
class ViTSize:
    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float = 4.0


MODEL_SIZES: dict[str, ViTSize] = {
    "vit_tiny": ViTSize(192, 12, 3),
    "vit_small": ViTSize(384, 12, 6),
    "vit_base": ViTSize(768, 12, 12),
    "vit_large": ViTSize(1024, 24, 16),
    "vit_huge": ViTSize(1280, 32, 16),
    "vit_giant": ViTSize(1408, 40, 22, 48 / 11),  # V-JEPA 2's ViT-g
}


def _as_tuple(value: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    return (int(value),) * ndim if isinstance(value, int) else tuple(int(v) for v in value)


def create_model(
    name: str,
    input_size: int | Sequence[int] = 224,
    patch_size: int | Sequence[int] = 16,
    in_chans: int = 3,
    num_frames: int | None = None,
    tubelet_size: int = 2,
    **overrides,
) -> VisionTransformer:
    """Build a ViT preset; ``overrides`` (embed_dim, depth, num_heads, mlp_ratio, attn_backend, ...)
    customise it. ``input_size`` is an int (square image), (H, W) (e.g. time x mel for spectrograms)
    or, with ``num_frames``, the spatial size of video clips split into ``tubelet_size``-frame tubelets.
    """
    if name not in MODEL_SIZES:
        raise ValueError(f"unknown model {name!r}; available: {sorted(MODEL_SIZES)}")
    spatial = _as_tuple(input_size, 2)
    patch = _as_tuple(patch_size, len(spatial))
    if num_frames is not None:
        spatial, patch = (num_frames, *spatial), (tubelet_size, *patch)
    size = MODEL_SIZES[name]
    kwargs = dict(embed_dim=size.embed_dim, depth=size.depth, num_heads=size.num_heads, mlp_ratio=size.mlp_ratio)
    kwargs.update(overrides)
    return VisionTransformer(spatial, patch, in_chans=in_chans, **kwargs)
