"""Model-predictive path integral control: elites weighted by the exponential of their negative energy."""

from __future__ import annotations

import torch

from jepa.planning.base import SamplingPlanner


class MPPI(SamplingPlanner):
    """MPPI over action sequences. Energies are divided by their spread over the elites before the exponential,
    so ``temperature`` is unitless (small: nearly the best sample; large: nearly CEM) whatever the latent scale."""

    def __init__(self, *args, temperature: float = 0.5, **kwargs):
        super().__init__(*args, **kwargs)
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        self.temperature = temperature

    def weights(self, costs: torch.Tensor) -> torch.Tensor:
        scale = costs.std().clamp_min(1e-8) if len(costs) > 1 else costs.new_tensor(1.0)
        return torch.softmax(-(costs - costs[0]) / (self.temperature * scale), dim=0)
