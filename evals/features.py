"""Feature extraction from frozen encoders.

An encoder is any module mapping a batch ``x`` to tokens ``(B, N, D)``; the
modality of ``x`` (image, video, audio) is never inspected. Features are pooled
over tokens so that every downstream probe sees plain ``(N, D)`` vectors.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

POOLS = ("mean", "none")


def _as_loader(data: Dataset | DataLoader, batch_size: int, num_workers: int) -> Iterable:
    """Wrap a dataset in an ordered loader; loaders are used as given.

    Order is preserved (no shuffling) so that features stay index-aligned with
    any extra per-sample label arrays the dataset carries.
    """
    if isinstance(data, DataLoader):
        return data
    return DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=num_workers)


def _pool_tokens(tokens: torch.Tensor, pool: str) -> torch.Tensor:
    """Reduce ``(B, N, D)`` tokens; a ``(B, D)`` output counts as a single token."""
    if tokens.ndim == 2:
        tokens = tokens.unsqueeze(1)
    if tokens.ndim != 3:
        raise ValueError(f"encoder must return (B, N, D) tokens, got shape {tuple(tokens.shape)}")
    return tokens.mean(dim=1) if pool == "mean" else tokens


@torch.no_grad()
def extract_features(
    encoder: nn.Module,
    dataset_or_loader: Dataset | DataLoader,
    *,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    num_workers: int = 0,
    pool: str = "mean",
    progress: bool = False,
    amp_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen features ``(N, D)`` float32 on CPU and labels ``(N,)`` long.

    Dataset items are ``(x, label)`` tuples. ``pool='mean'`` averages tokens;
    ``pool='none'`` keeps ``(N, T, D)`` tokens for token-level probes. The
    encoder runs in eval mode (dropout/stochastic depth off, norm statistics
    frozen) and every submodule's previous mode is restored afterwards.
    ``amp_dtype`` (e.g. ``torch.bfloat16``) enables autocast; ``None`` keeps fp32.
    """
    if pool not in POOLS:
        raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
    device = torch.device(device)
    loader = _as_loader(dataset_or_loader, batch_size, num_workers)
    modes = {module: module.training for module in encoder.modules()}
    encoder.eval()
    feats, labels = [], []
    try:
        for step, (x, y) in enumerate(loader, start=1):
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                tokens = encoder(x.to(device, non_blocking=True))
            feats.append(_pool_tokens(tokens, pool).float().cpu())
            labels.append(torch.as_tensor(y).long().reshape(-1).cpu())
            if progress:
                print(f"\rextract_features: batch {step}", end="", file=sys.stderr)
    finally:
        for module, was_training in modes.items():
            module.train(was_training)
    if progress:
        print(file=sys.stderr)
    if not feats:
        raise ValueError("cannot extract features from an empty dataset")
    return torch.cat(feats), torch.cat(labels)


class RawPatches(nn.Module):
    """The no-learning baseline as an "encoder": the raw input cut into the non-overlapping patches (tubelets
    for video) a ViT would embed, as tokens ``(B, N, C * prod(patch_size))`` in the ViT's row-major grid
    order; with no ``patch_size``, one token holding the whole flattened input. Token probes (the attentive
    probe) thus get a raw-pixel baseline with the same token layout as the encoders they are compared to."""

    def __init__(self, patch_size: tuple[int, ...] | None = None):
        super().__init__()
        self.patch_size = tuple(patch_size) if patch_size is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        if self.patch_size is None:
            return x.flatten(1).unsqueeze(1)
        B, C, *sizes = x.shape
        grid = [n // p for n, p in zip(sizes, self.patch_size)]
        x = x.reshape(B, C, *[v for g, p in zip(grid, self.patch_size) for v in (g, p)])
        axes = len(grid)
        order = [0, *range(2, 2 + 2 * axes, 2), 1, *range(3, 3 + 2 * axes, 2)]  # (B, grid..., C, patch...)
        return x.permute(order).reshape(B, math.prod(grid), -1)


def raw_features(
    dataset_or_loader: Dataset | DataLoader, *, batch_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flattened raw inputs ``(N, prod(x.shape))`` and labels: the no-learning baseline.

    Any encoder worth keeping should beat probes trained on these.
    """
    return extract_features(RawPatches(), dataset_or_loader, batch_size=batch_size)
