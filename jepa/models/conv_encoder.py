"""A small convolutional frame encoder for world models on low-resolution control tasks.

Planning encodes only the observed and goal frames, but training encodes every frame of every window, so
the encoder should be cheap; a few strided convolutions see a 64 px scene with one moving object well.
"""

from __future__ import annotations

import torch
from torch import nn


class ConvEncoder(nn.Module):
    """Frames (B, C, H, W) -> one latent token (B, 1, latent_dim).

    Each stage is a 4x4 convolution of stride 2 (halving the resolution) and a GELU; an MLP head maps the
    flattened final feature map to the latent, keeping where things are (no global pooling).
    """

    def __init__(
        self,
        input_size: int = 64,
        in_chans: int = 3,
        channels: tuple[int, ...] = (16, 32, 64, 64),
        latent_dim: int = 32,
        hidden_dim: int = 128,
    ):
        super().__init__()
        if input_size % 2 ** len(channels):
            raise ValueError(f"input_size {input_size} must be divisible by 2**{len(channels)} (one per stage)")
        stages, previous = [], in_chans
        for width in channels:
            stages += [nn.Conv2d(previous, width, kernel_size=4, stride=2, padding=1), nn.GELU()]
            previous = width
        self.features = nn.Sequential(*stages, nn.Flatten())
        final = input_size // 2 ** len(channels)
        self.head = nn.Sequential(
            nn.Linear(previous * final * final, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, latent_dim)
        )
        self.embed_dim, self.num_tokens = latent_dim, 1
        for m in self.modules():  # He init keeps a small object's signal from fading layer by layer, so the
            if isinstance(m, (nn.Conv2d, nn.Linear)):  # latents vary from the first step and VCR can act on them
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).unsqueeze(1)
