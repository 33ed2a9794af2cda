"""The pixel normalisation every image, video and trajectory dataset shares, so that frames a model sees in
one of them look like those of the others (and none of those modules has to import another for it)."""

from __future__ import annotations

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalise(x: torch.Tensor) -> torch.Tensor:
    """ImageNet mean/std along the first axis of ``x`` in [0, 1]: (3, H, W) images or (3, T, H, W) clips."""
    shape = (3,) + (1,) * (x.dim() - 1)
    return (x - torch.tensor(IMAGENET_MEAN).view(shape)) / torch.tensor(IMAGENET_STD).view(shape)
