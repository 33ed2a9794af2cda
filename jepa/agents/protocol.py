"""What the episode runner drives: anything with ``reset`` and ``act``, a learned planner or a scripted expert.

A ``typing.Protocol`` rather than a base class, so that agents living outside ``jepa`` (the scripted experts
of ``envs``) qualify without importing it.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np


class Agent(Protocol):
    def reset(self, seed: int) -> None:
        """Start an episode (the env was reset with the same ``seed``): forget the last plan, reseed draws."""
        ...

    def act(self, observation: np.ndarray, info: dict[str, Any]) -> np.ndarray:
        """One action (A,), or a chunk (K, A) the runner executes open-loop in order until the episode ends.

        ``info`` is the env's latest, plus ``goal_observation`` (the goal image) for envs that define one.
        """
        ...


@runtime_checkable
class RecordsEpisodes(Protocol):
    """An agent that also keeps per-episode figures; the runner merges them into the episode's record."""

    def episode_record(self) -> dict[str, Any]:
        """JSON-serialisable figures of the episode since the last ``reset`` (e.g. seconds per replanning)."""
        ...
