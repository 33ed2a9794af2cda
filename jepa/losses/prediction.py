"""Regression losses between predicted and target token embeddings."""

from __future__ import annotations

import torch
import torch.nn.functional as F

PREDICTION_LOSSES = ("smooth_l1", "l1", "l2")


def prediction_loss(pred: torch.Tensor, target: torch.Tensor, kind: str = "smooth_l1") -> torch.Tensor:
    """Mean over all elements. I-JEPA: smooth_l1; V-JEPA: l1; A-JEPA: l2 (mean squared error)."""
    if kind == "smooth_l1":
        return F.smooth_l1_loss(pred, target)
    if kind == "l1":
        return (pred - target).abs().mean()
    if kind == "l2":
        return F.mse_loss(pred, target)
    raise ValueError(f"unknown prediction loss {kind!r}; choose from {PREDICTION_LOSSES}")
