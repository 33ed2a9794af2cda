"""Cross-entropy method: refit the sampling distribution to the elites, weighting them equally."""

from __future__ import annotations

import torch

from jepa.planning.base import SamplingPlanner


class CEM(SamplingPlanner):
    """CEM over action sequences (DINO-WM: horizon 5, 300 samples, 30 elites, 30 iterations on a GPU)."""

    def weights(self, costs: torch.Tensor) -> torch.Tensor:
        return torch.full_like(costs, 1.0 / len(costs))
