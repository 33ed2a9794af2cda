"""The world-model probe of a policy's encoder (ACT-JEPA's evaluation): how well the next states can be read off it.

The encoder is frozen; an attentive probe (one learned query, one cross-attention block) is trained on its tokens
to regress the change of the true state over each of the next K steps, and scored on held-out episodes. Regressing
the change rather than the state itself keeps the figure about dynamics: the current state is in the encoder's
input, and copying it would already score well.
"""

from __future__ import annotations

import torch

from .attentive import attentive_regression


def future_state_errors(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """pred, target (N, K, S) in state units -> ``rmse`` over every step and state dimension, ``step_l2`` the mean
    Euclidean error of a step's state, ``last_l2`` the same at the K-th (farthest) step."""
    error = pred.double() - target.double()
    step_l2 = error.norm(dim=-1)  # (N, K)
    return {
        "rmse": error.pow(2).mean().sqrt().item(),
        "step_l2": step_l2.mean().item(),
        "last_l2": step_l2[:, -1].mean().item(),
    }


def future_state_probe(
    train_tokens: torch.Tensor,
    train_change: torch.Tensor,
    val_tokens: torch.Tensor,
    val_change: torch.Tensor,
    *,
    epochs: int = 4,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """Frozen tokens (N, T, D) and the true state changes (N, K, S) ahead of each sample -> the held-out errors of
    :func:`future_state_errors`, in state units."""
    pred = attentive_regression(train_tokens, train_change, val_tokens, epochs=epochs, seed=seed, device=device)
    return future_state_errors(pred, val_change)
