"""Tokenizers: non-overlapping patches of images/spectrograms (2D) or tubelets of video (3D)."""

from __future__ import annotations

import torch
from torch import nn

PATCH_EMBEDS = ("linear", "conv")


class _ChannelNorm(nn.LayerNorm):
    """LayerNorm over the channels of each pixel of a (B, C, H, W) map: no statistics across positions
    or samples, so a token never depends on the rest of the batch or on far-away pixels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.movedim(1, -1)).movedim(-1, 1)


def conv_stem(patch: int, in_chans: int, embed_dim: int) -> nn.Sequential:
    """log2(patch) 3x3 stride-2 convolutions (each with norm and GELU, widths doubling up to
    embed_dim / 2) and a 1x1 projection: the "early convolutions" stem, whose local inductive bias
    lets a small ViT pick up shape within a CPU-sized budget where a single linear patch embedding
    does not. Each token sees a 2*patch - 1 pixel window, i.e. ~patch/2 pixels of its neighbours."""
    if patch < 2 or patch & (patch - 1):
        raise ValueError(f"the conv stem needs a power-of-two patch size >= 2, got {patch}")
    n = patch.bit_length() - 1
    layers: list[nn.Module] = []
    width_in = in_chans
    for i in range(n):
        width = max(embed_dim >> (n - i), 8)
        layers += [nn.Conv2d(width_in, width, 3, 2, 1, bias=False), _ChannelNorm(width, eps=1e-6), nn.GELU()]
        width_in = width
    layers.append(nn.Conv2d(width_in, embed_dim, 1))
    return nn.Sequential(*layers)


class PatchEmbed(nn.Module):
    """Image, spectrogram or video -> tokens. ``stem="linear"``: conv with kernel = stride = patch (ViT);
    ``stem="conv"``: :func:`conv_stem` (2D, square patches).

    input_size is (H, W) for images and spectrograms (time x mel) or (T, H, W) for video; patch_size
    is the matching tuple. x: (B, C, *input_size) -> (B, N, D) with N = prod(grid).
    """

    def __init__(
        self,
        input_size: tuple[int, ...],
        patch_size: tuple[int, ...],
        in_chans: int,
        embed_dim: int,
        stem: str = "linear",
    ):
        super().__init__()
        if stem not in PATCH_EMBEDS:
            raise ValueError(f"unknown patch embedding {stem!r}; choose from {PATCH_EMBEDS}")
        if len(input_size) != len(patch_size) or len(input_size) not in (2, 3):
            raise ValueError(f"input_size {input_size} and patch_size {patch_size} must both be 2D or 3D")
        for size, patch in zip(input_size, patch_size):
            if size % patch:
                raise ValueError(f"input size {tuple(input_size)} is not divisible by patch size {tuple(patch_size)}")
        self.input_size, self.patch_size = tuple(input_size), tuple(patch_size)
        self.grid = tuple(s // p for s, p in zip(input_size, patch_size))
        if stem == "conv":
            if len(patch_size) != 2 or patch_size[0] != patch_size[1]:
                raise ValueError(f"the conv stem supports square 2D patches only, got {tuple(patch_size)}")
            self.proj = conv_stem(patch_size[0], in_chans, embed_dim)
        else:
            conv = nn.Conv2d if len(input_size) == 2 else nn.Conv3d
            self.proj = conv(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    @property
    def num_patches(self) -> int:
        return int(torch.tensor(self.grid).prod())

    def grid_of(self, x: torch.Tensor) -> tuple[int, ...]:
        """The token grid of input ``x``: ``self.grid`` at the input size, another grid for other sizes (smaller
        crops of multi-view methods), whose sides must still be multiples of the patch."""
        size = tuple(x.shape[2:])
        if size == self.input_size:
            return self.grid
        if len(size) != len(self.input_size) or any(s % p for s, p in zip(size, self.patch_size)):
            raise ValueError(
                f"input of spatial size {size} does not split into patches of {self.patch_size} "
                f"(the model was built for {self.input_size})"
            )
        return tuple(s // p for s, p in zip(size, self.patch_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.grid_of(x)  # a clear error on a size the patches do not tile
        return self.proj(x).flatten(2).transpose(1, 2)
