"""The planner interface and the sampling loop CEM and MPPI share.

A planner needs only a batched ``rollout_fn(z0 (S, ...), actions (S, H, A)) -> latents (S, H, ...)`` and the
goal latent: it never sees the world model, so tests can hand it toy dynamics.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import torch

RolloutFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
METRICS = ("l1", "l2")
REDUCTIONS = ("final", "sum")


class Planner(Protocol):
    def plan(
        self, rollout_fn: RolloutFn, z0: torch.Tensor, z_goal: torch.Tensor, horizon: int, init: torch.Tensor | None
    ) -> torch.Tensor:
        """The action sequence (horizon, A) whose predicted latents end (or stay) closest to ``z_goal``."""
        ...


def _distance(diff: torch.Tensor, metric: str) -> torch.Tensor:
    """Latent differences (S, H, ...) -> (S, H): mean absolute (l1) or mean squared (l2)."""
    diff = diff.flatten(2)
    return (diff.abs() if metric == "l1" else diff.pow(2)).mean(-1)


def goal_energy(
    pred: torch.Tensor, goal: torch.Tensor, metric: str = "l2", reduce: str = "final", settle: float = 0.0
) -> torch.Tensor:
    """Distance of predicted latents (S, H, ...) to the goal latent (...) -> (S,), at the final step or summed over
    the steps (which rewards getting there early). ``settle`` adds that weight times the distance between the last
    two predicted latents: a plan that ends still moving scores worse, which matters where success is judged on an
    episode's last step and one frame does not show the velocity."""
    per_step = _distance(pred - goal, metric)
    energy = per_step[:, -1] if reduce == "final" else per_step.sum(1)
    if settle and pred.shape[1] > 1:
        energy = energy + settle * _distance(pred[:, -1:] - pred[:, -2:-1], metric)[:, 0]
    return energy


class SamplingPlanner:
    """Iteratively refit a diagonal Gaussian over action sequences to low-energy samples.

    The action bounds ``action_low`` and ``action_high`` are (A,) vectors. Each iteration rolls all ``samples``
    candidates (clipped to the bounds; the first is the current mean) out in one batched call, scores them
    with :func:`goal_energy`, and moves the mean and std to a weighted average of the ``elites`` best;
    subclasses choose the weights. Returns the final mean.
    """

    def __init__(
        self,
        action_low: Sequence[float] | torch.Tensor,
        action_high: Sequence[float] | torch.Tensor,
        *,
        samples: int = 300,
        elites: int = 30,
        iterations: int = 10,
        init_std: float = 1.0,
        min_std: float = 0.05,
        metric: str = "l2",
        reduce: str = "final",
        settle: float = 0.0,
        seed: int = 0,
    ):
        if not 1 <= elites <= samples:
            raise ValueError(f"need 1 <= elites <= samples, got elites={elites}, samples={samples}")
        if iterations < 1:
            raise ValueError(f"iterations must be >= 1, got {iterations}")
        if metric not in METRICS or reduce not in REDUCTIONS:
            raise ValueError(f"metric must be one of {METRICS} and reduce one of {REDUCTIONS}")
        if settle < 0:
            raise ValueError(f"settle must be >= 0, got {settle}")
        self.low = torch.as_tensor(action_low, dtype=torch.float32)
        self.high = torch.as_tensor(action_high, dtype=torch.float32)
        if self.low.ndim != 1 or self.low.shape != self.high.shape or (self.low >= self.high).any():
            raise ValueError("action_low and action_high must be (A,) vectors with every low below its high")
        self.samples, self.elites, self.iterations = samples, elites, iterations
        self.init_std, self.min_std = init_std, min_std
        self.metric, self.reduce, self.settle = metric, reduce, settle
        self.generator = torch.Generator().manual_seed(seed)

    def weights(self, costs: torch.Tensor) -> torch.Tensor:
        """Non-negative weights summing to one for the ``elites`` lowest costs (sorted ascending)."""
        raise NotImplementedError

    @torch.no_grad()
    def plan(
        self,
        rollout_fn: RolloutFn,
        z0: torch.Tensor,
        z_goal: torch.Tensor,
        horizon: int,
        init: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """z0, z_goal: one latent each (any shape ``rollout_fn`` takes); init: a warm-start mean (horizon, A)."""
        low, high = self.low.to(z0.device), self.high.to(z0.device)
        shape = (horizon, len(low))
        mean = ((low + high) / 2).expand(shape).clone() if init is None else init.to(z0.device).clamp(low, high)
        std = (self.init_std * (high - low) / 2).expand(shape).clone()
        start = z0.unsqueeze(0).expand(self.samples, *z0.shape)
        for _ in range(self.iterations):
            noise = torch.randn((self.samples, *shape), generator=self.generator).to(z0.device)
            candidates = torch.minimum(torch.maximum(mean + std * noise, low), high)
            candidates[0] = mean
            costs = goal_energy(rollout_fn(start, candidates), z_goal, self.metric, self.reduce, self.settle)
            order = costs.argsort()[: self.elites]
            elites, w = candidates[order], self.weights(costs[order]).view(-1, *([1] * len(shape)))
            mean = (w * elites).sum(0)
            std = (w * (elites - mean).pow(2)).sum(0).sqrt().clamp_min(self.min_std)
        return mean
