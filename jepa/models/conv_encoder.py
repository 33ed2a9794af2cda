"""A small convolutional frame encoder for world models on low-resolution control tasks.

Planning encodes only the observed and goal frames, but training encodes every frame of every window, so
the encoder should be cheap. It ends in a spatial soft-argmax (deep spatial autoencoders, Levine et al.):
each feature map becomes the expected image coordinates of where it fires. A flattened strided-conv map
turned out to be a near-random function of a small object's exact pixel position (consecutive frames were
as far apart in latent space as random ones), which no predictor can follow; expected coordinates move
smoothly with the object, so latents of nearby states are near each other.
"""

from __future__ import annotations

import torch
from torch import nn


class SpatialSoftArgmax(nn.Module):
    """Feature maps (B, C, H, W) -> expected (x, y) in [-1, 1] of each map's spatial softmax, (B, 2C)."""

    def __init__(self):
        super().__init__()
        self.log_temperature = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        attention = torch.softmax(x.flatten(2) / self.log_temperature.exp(), dim=-1).view(b, c, h, w)
        xs = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=attention.dtype)
        ys = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=attention.dtype)
        return torch.cat([(attention.sum(2) * xs).sum(-1), (attention.sum(3) * ys).sum(-1)], dim=1)


class ConvEncoder(nn.Module):
    """Frames (B, C, H, W) -> one latent token (B, 1, latent_dim).

    A 5x5 and a 3x3 convolution of stride 2 (a quarter of the input resolution), then 3x3 convolutions at
    that resolution (GELU between), a spatial soft-argmax per final channel and a map from the
    2 * channels[-1] coordinates to the latent: an MLP with ``hidden_dim`` units, or affine when
    ``hidden_dim`` is 0. The softmax weighting keeps positions finer than a cell.
    """

    def __init__(
        self,
        input_size: int = 64,
        in_chans: int = 3,
        channels: tuple[int, ...] = (16, 32, 32),
        latent_dim: int = 32,
        hidden_dim: int = 128,
    ):
        super().__init__()
        if input_size % 4 or len(channels) < 2:
            raise ValueError(f"need input_size divisible by 4 and >= 2 channels, got {input_size}, {channels}")
        layers: list[nn.Module] = [nn.Conv2d(in_chans, channels[0], kernel_size=5, stride=2, padding=2)]
        for i, (previous, width) in enumerate(zip(channels, channels[1:])):
            layers += [nn.GELU(), nn.Conv2d(previous, width, kernel_size=3, stride=2 if i == 0 else 1, padding=1)]
        self.features = nn.Sequential(*layers, SpatialSoftArgmax())
        keypoints = 2 * channels[-1]
        if hidden_dim:
            self.head = nn.Sequential(nn.Linear(keypoints, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, latent_dim))
        else:
            self.head = nn.Linear(keypoints, latent_dim)
        self.embed_dim, self.num_tokens = latent_dim, 1
        for m in self.modules():  # He init: a small object's signal should not fade layer by layer
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).unsqueeze(1)
