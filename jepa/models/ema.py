"""Exponential-moving-average target network (the teacher of I/V/A-JEPA)."""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_target(online: nn.Module) -> nn.Module:
    """A frozen copy of ``online`` that only ever changes through :func:`ema_update`."""
    target = copy.deepcopy(online)
    target.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target <- momentum * target + (1 - momentum) * online: one fused lerp over all tensors (one read of each
    target and online tensor, one write)."""
    t_params = list(target.parameters())
    o_params = list(online.parameters())
    if len(t_params) != len(o_params):
        raise ValueError("target and online networks have different parameter lists")
    torch._foreach_lerp_(t_params, o_params, 1.0 - momentum)
