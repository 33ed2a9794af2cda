"""Subgoals for goals a short plan cannot reach: shortest paths through the latents of recorded episodes.

A sampling planner scores a plan by how close its predicted latents come to the goal's. When the way to the goal
first leads away from it (round a wall, out of a maze's dead end), every plan within the horizon scores worse
than standing still, and MPC stalls. The recorded episodes already hold the detours: their latents, one model
step apart, are the nodes of a graph whose edges are the recorded steps (cost 1 each) and links between nearly
equal latents of different episodes (cost their distance in steps, so paths can change episode there). The
goal and the current latent join the graph at their nearest nodes. The cost to go of every node is one Dijkstra
from the goal per episode, and each replanning aims at the node ``lookahead`` steps along the shortest path from
the current latent (search on the replay buffer, Eysenbach et al. 2019). Nothing is specific to one task: the
radius of the links is a fraction of the median recorded step, in the same metric the planner scores with.
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
    ``neighbours`` per node); the goal and the current latent join at their nearest node and at those of their
    ``neighbours`` nearest within that radius. ``lookahead``: how many steps along the path the subgoal lies.
    """

    def __init__(
        self,
        sequences: Sequence[torch.Tensor],
        *,
        metric: str = "l1",
        link: float = 0.5,
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
        self.edges = (np.concatenate(rows), np.concatenate(cols), np.concatenate(costs))  # from, to, cost in steps
        self.neighbours, self.link = max(neighbours, 1), link
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

    def _entries(self, z: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Where a latent joins the graph: its nearest node, and those of its ``neighbours`` nearest within the
        link radius, with their distances in steps."""
        d = latent_distance(z.reshape(1, -1).float().cpu(), self.nodes, self.metric)[0] / self.step_size
        nearest, index = d.topk(min(self.neighbours, len(d)), largest=False)
        keep = nearest <= max(self.link, float(nearest[0]))
        return index[keep].numpy(), nearest[keep].double().numpy()

    def set_goal(self, z_goal: torch.Tensor) -> None:
        """Cost to go of every node to ``z_goal`` and each node's next node on its path (``len(nodes)``: the goal).

        The goal joins the graph as one more node, reached from its nearest nodes at their distance, so that one
        node with no recorded way in cannot cut it off."""
        n = len(self.nodes)
        rows, cols, costs = self.edges
        entries, distances = self._entries(z_goal)
        # Dijkstra from the goal runs on the reversed graph: entry (i, j) is the cost of stepping from j to i.
        reversed_edges = coo_matrix(
            (
                np.concatenate([costs, distances]),
                (np.concatenate([cols, np.full(len(entries), n)]), np.concatenate([rows, entries])),
            ),
            shape=(n + 1, n + 1),
        ).tocsr()
        cost, predecessors = dijkstra(reversed_edges, indices=n, return_predecessors=True)
        self.cost_to_go, self.next_node = cost, predecessors

    def subgoal(self, z: torch.Tensor) -> torch.Tensor | None:
        """The latent ``lookahead`` steps along the shortest path from ``z`` to the goal, or None when the goal is
        that close (or out of the graph's reach): then the planner should aim at the goal itself. The path may
        enter the graph at any of the nodes nearest ``z``."""
        if self.cost_to_go is None or self.next_node is None:
            raise RuntimeError("call set_goal before subgoal")
        entries, distances = self._entries(z)
        totals = distances + self.cost_to_go[entries]
        best = int(totals.argmin())
        if not np.isfinite(totals[best]) or totals[best] <= self.lookahead:
            return None
        node, travelled = int(entries[best]), distances[best]
        while travelled < self.lookahead:
            following = int(self.next_node[node])
            if following == len(self.nodes):  # the goal itself lies within the lookahead on this path
                return None
            travelled += self.cost_to_go[node] - self.cost_to_go[following]
            node = following
        return self.nodes[node].reshape(z.shape).to(z.device, z.dtype)
