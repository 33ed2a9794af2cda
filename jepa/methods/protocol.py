"""What the training engine needs of a method, and nothing more."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn


@runtime_checkable
class Method(Protocol):
    """A training objective the engine can train: an ``nn.Module`` whose ``forward(batch)`` returns ``"loss"`` (a
    scalar to minimise) and any other scalars to log (detached).

    ``batch`` is whatever the method's collate function built, moved to the device, plus its ``"step"``. The
    engine also calls, when the method has them:

    - ``update_target(momentum)`` after each optimiser step (methods with an EMA target encoder);
    - ``pooled_embeddings(batch) -> (B, D)`` for the collapse monitors (RankMe, feature std).

    ``encoder`` is the trained encoder; a method with an EMA target also has ``eval_encoder()``, the encoder that
    probes and exports read.
    """

    encoder: nn.Module

    def forward(self, batch: dict) -> dict[str, torch.Tensor]: ...


def probed_encoder(method: nn.Module) -> nn.Module:
    """The encoder that probes and exports read: ``eval_encoder()`` where the method has one, else ``encoder``."""
    return method.eval_encoder() if hasattr(method, "eval_encoder") else method.encoder
