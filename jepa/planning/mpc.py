"""Receding-horizon control: plan a sequence, execute its first action(s), plan again from what is observed."""

from __future__ import annotations

import time

import torch

from jepa.planning.base import Planner, RolloutFn


class MPC:
    """``act(rollout_fn, z, z_goal) -> action`` replans every ``execute`` actions; the unexecuted rest of the last
    plan, padded with its final action, warm-starts the next one. ``plan_seconds`` records each replanning's time.
    ``rollout_fn`` is passed per call so it may close over what changes between steps (e.g. a proprio state)."""

    def __init__(self, planner: Planner, horizon: int, execute: int = 1):
        if not 1 <= execute <= horizon:
            raise ValueError(f"need 1 <= execute <= horizon, got execute={execute}, horizon={horizon}")
        self.planner, self.horizon, self.execute = planner, horizon, execute
        self.reset()

    def reset(self) -> None:
        """Forget the last plan (call at the start of every episode)."""
        self.queue: list[torch.Tensor] = []
        self.warm: torch.Tensor | None = None
        self.plan_seconds: list[float] = []

    def act(self, rollout_fn: RolloutFn, z: torch.Tensor, z_goal: torch.Tensor) -> torch.Tensor:
        if not self.queue:
            start = time.perf_counter()
            plan = self.planner.plan(rollout_fn, z, z_goal, self.horizon, self.warm)
            self.plan_seconds.append(time.perf_counter() - start)
            self.queue = list(plan[: self.execute])
            rest = plan[self.execute :]
            self.warm = torch.cat([rest, plan[-1:].expand(self.execute, *plan.shape[1:])])
        return self.queue.pop(0)
