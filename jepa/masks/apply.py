"""Masks are index tensors; selecting the kept tokens is one gather for every modality."""

from __future__ import annotations

import torch


def apply_masks(x: torch.Tensor, masks: list[torch.Tensor]) -> torch.Tensor:
    """x: (B, N, D); masks: list of M index tensors (B, K) -> (M*B, K, D), mask-major.

    Mask-major order (all samples for mask 0, then mask 1, ...) matches how the predictor repeats
    the context once per target mask.
    """
    D = x.shape[-1]
    return torch.cat([torch.gather(x, 1, m.unsqueeze(-1).expand(-1, -1, D)) for m in masks], dim=0)


def repeat_chunks(x: torch.Tensor, chunk: int, repeats: int) -> torch.Tensor:
    """(M*chunk, ...) -> (M*repeats*chunk, ...): each chunk of ``chunk`` rows repeated in place.

    Pairs every target mask with every context mask in target-major order, the order in which the
    predictor repeats its (context-major) input.
    """
    if repeats == 1:
        return x
    m = x.shape[0] // chunk
    return x.view(m, 1, chunk, *x.shape[1:]).expand(m, repeats, chunk, *x.shape[1:]).reshape(-1, *x.shape[1:])
