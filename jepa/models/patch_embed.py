"""Tokenizers: non-overlapping patches of images/spectrograms (2D) or tubelets of video (3D)."""

from __future__ import annotations

import torch
from torch import nn


class PatchEmbed(nn.Module):
    """Conv with kernel = stride = patch, flattened to tokens.

    input_size is (H, W) for images and spectrograms (time x mel) or (T, H, W) for video; patch_size
    is the matching tuple. x: (B, C, *input_size) -> (B, N, D) with N = prod(grid).
    """

    def __init__(self, input_size: tuple[int, ...], patch_size: tuple[int, ...], in_chans: int, embed_dim: int):
        super().__init__()
        if len(input_size) != len(patch_size) or len(input_size) not in (2, 3):
            raise ValueError(f"input_size {input_size} and patch_size {patch_size} must both be 2D or 3D")
        for size, patch in zip(input_size, patch_size):
            if size % patch:
                raise ValueError(f"input size {tuple(input_size)} is not divisible by patch size {tuple(patch_size)}")
        self.input_size = tuple(input_size)
        self.grid = tuple(s // p for s, p in zip(input_size, patch_size))
        conv = nn.Conv2d if len(input_size) == 2 else nn.Conv3d
        self.proj = conv(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    @property
    def num_patches(self) -> int:
        return int(torch.tensor(self.grid).prod())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[2:]) != self.input_size:
            raise ValueError(f"expected input of spatial size {self.input_size}, got {tuple(x.shape[2:])}")
        return self.proj(x).flatten(2).transpose(1, 2)
