"""Subgoals for goals a short plan cannot reach: shortest paths through the latents of recorded episodes.

A sampling planner scores a plan by how close its predicted latents come to the goal's. When the way to the goal
first leads away from it (round a wall, out of a maze's dead end), every plan within the horizon scores worse
than standing still, and MPC stalls. The recorded episodes already hold the detours: their latents, one model
step apart, are the nodes of a graph whose edges are the recorded steps (cost 1 each) and links between nearly
equal latents of different episodes (cost their distance in steps, so paths can change episode there). The
cost to go of every node is one Dijkstra from the goal per episode, and each replanning aims at the node
``lookahead`` steps along the shortest path from the node nearest the current latent (search on the replay
buffer, Eysenbach et al. 2019). Nothing is specific to one task: the radius of the links is a fraction of the
median recorded step, in the same metric the planner scores with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra


def latent_distance(a: torch.Tensor, b: torch.Tensor, metric: str) -> torch.Tensor:
    """Pairwise distances of flattened latents a (M, F) and b (N, F) -> (M, N), as the planner scores them:
    mean absolute (l1) or mean squared (l2) difference."""
    if metric == "l1":
        return torch.cdist(a, b, p=1) / a.shape[1]
    return torch.cdist(a, b).pow(2) / a.shape[1]


class LatentGraph:
    """The graph of recorded latents; ``set_goal(z_goal)`` once per episode, then ``subgoal(z)`` per replanning.

    sequences: each recorded episode's latents one model step apart, (T_i, ...) each. ``link``: nodes of
    different steps closer than ``link`` times the median recorded step are joined both ways (at most
    ``neighbours`` per node). ``lookahead``: how many steps along the path the subgoal lies.
    """

    def __init__(
        self,
        sequences: Sequence[torch.Tensor],
        *,
        metric: str = "l1",
        link: float = 0.25,
        neighbours: int = 8,
        lookahead: float = 1.0,
        chunk: int = 1024,
    ):
        if not sequences or min(len(s) for s in sequences) < 1:
            raise ValueError("LatentGraph needs at least one recorded latent sequence")
        if link < 0 or lookahead <= 0 or neighbours < 0:
            raise ValueError(
                f"need link >= 0, lookahead > 0 and neighbours >= 0, got {link}, {lookahead}, {neighbours}"
            )
        self.metric, self.lookahead, self.chunk = metric, lookahead, chunk
        self.nodes = torch.cat([s.flatten(1).float() for s in sequences])  # (N, F)
        starts = np.cumsum([0] + [len(s) for s in sequences])
        source = np.concatenate([np.arange(a, b - 1) for a, b in zip(starts[:-1], starts[1:])])
        step = self.nodes[source + 1] - self.nodes[source]
        step = step.abs() if metric == "l1" else step.pow(2)
        self.step_size = step_size = float(step.mean(1).median().clamp_min(1e-12)) if len(source) else 1.0
        rows, cols, costs = [source], [source + 1], [np.ones(len(source))]
        if link > 0 and neighbours > 0:
            r, c, d = self._links(link * step_size, neighbours)
            rows += [r, c]
            cols += [c, r]
            costs += [d / step_size, d / step_size]
        n = len(self.nodes)
        # Dijkstra from the goal runs on the reversed graph: entry (i, j) is the cost of stepping from j to i.
        self.reversed_edges = coo_matrix(
            (np.concatenate(costs), (np.concatenate(cols), np.concatenate(rows))), shape=(n, n)
        ).tocsr()
        self.cost_to_go: np.ndarray | None = None
        self.next_node: np.ndarray | None = None

    def _links(self, radius: float, neighbours: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs (i < j) within ``radius`` of each other, the ``neighbours`` nearest per node, and their distances."""
        rows, cols, dists = [], [], []
        k = min(neighbours + 1, len(self.nodes))
        for start in range(0, len(self.nodes), self.chunk):
            d = latent_distance(self.nodes[start : start + self.chunk], self.nodes, self.metric)
            nearest, index = d.topk(k, dim=1, largest=False)
            i = torch.arange(start, start + len(d)).unsqueeze(1).expand_as(index)
            keep = (nearest <= radius) & (index > i)
            rows.append(i[keep].numpy())
            cols.append(index[keep].numpy())
            dists.append(nearest[keep].double().numpy())
        return np.concatenate(rows), np.concatenate(cols), np.concatenate(dists)

    def nearest(self, z: torch.Tensor) -> int:
        """The node whose latent is closest to ``z`` (any shape flattening to the nodes' size)."""
        return int(latent_distance(z.reshape(1, -1).float().cpu(), self.nodes, self.metric).argmin())

    def set_goal(self, z_goal: torch.Tensor) -> None:
        """Cost to go of every node to the node nearest ``z_goal``, and each node's next node on its path."""
        goal = self.nearest(z_goal)
        cost, predecessors = dijkstra(self.reversed_edges, indices=goal, return_predecessors=True)
        self.cost_to_go, self.next_node = cost, predecessors

    def subgoal(self, z: torch.Tensor) -> torch.Tensor | None:
        """The latent ``lookahead`` steps along the shortest path from ``z`` to the goal, or None when the goal is
        that close (or out of the graph's reach): then the planner should aim at the goal itself."""
        if self.cost_to_go is None or self.next_node is None:
            raise RuntimeError("call set_goal before subgoal")
        node = self.nearest(z)
        start = self.cost_to_go[node]
        if not np.isfinite(start) or start <= self.lookahead:
            return None
        while start - self.cost_to_go[node] < self.lookahead:
            node = int(self.next_node[node])
        return self.nodes[node].reshape(z.shape).to(z.device, z.dtype)
