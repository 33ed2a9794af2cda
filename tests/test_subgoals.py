"""Subgoals through recorded latents: a plan that must first move away from the goal gets a subgoal that does."""

import numpy as np
import pytest
import torch

from jepa.planning import CEM, MPC, LatentGraph


def _u_corridor(steps: int = 8) -> torch.Tensor:
    """Latents (2 * steps + 1, 2) of one episode walking down x = 0, across y = -1 and up x = 1: its end lies
    0.5 from its start in a straight line (across the U's gap), 2 * steps + 1 steps along it."""
    down = torch.stack([torch.zeros(steps), torch.linspace(0.0, -1.0, steps)], 1)
    across = torch.tensor([[0.5, -1.0]])
    up = torch.stack([torch.ones(steps), torch.linspace(-1.0, 0.0, steps)], 1)
    return torch.cat([down, across, up])


def test_the_subgoal_follows_the_recorded_detour_not_the_straight_line():
    corridor = _u_corridor()
    graph = LatentGraph([corridor], link=0.0, lookahead=2.0)
    graph.set_goal(corridor[-1])
    assert graph.cost_to_go[0] == pytest.approx(len(corridor) - 1)
    subgoal = graph.subgoal(corridor[0] + 0.01)  # the nearest node is the start
    assert torch.equal(subgoal, corridor[2])  # two recorded steps on, further from the goal than the start
    assert (subgoal - corridor[-1]).abs().sum() > (corridor[0] - corridor[-1]).abs().sum()
    assert graph.subgoal(corridor[-2]) is None  # one step away: aim at the goal itself


def test_links_join_episodes_that_pass_through_nearly_the_same_latent():
    first = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    second = torch.tensor([[2.01, 0.0], [3.0, 0.0], [4.0, 0.0]])  # starts where the first one ends
    unlinked = LatentGraph([first, second], link=0.0, lookahead=1.0)
    unlinked.set_goal(second[-1])
    assert np.isinf(unlinked.cost_to_go[0]) and unlinked.subgoal(first[0]) is None  # unreachable: aim at the goal
    linked = LatentGraph([first, second], link=0.25, lookahead=1.0)
    linked.set_goal(second[-1])
    assert linked.cost_to_go[0] == pytest.approx(4.01)  # four recorded steps and a link of 0.01 steps
    assert torch.equal(linked.subgoal(first[2]), second[1])  # across the link, then one recorded step


def test_links_never_join_latents_further_apart_than_the_radius():
    first = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    second = torch.tensor([[1.5, 0.0], [2.5, 0.0]])  # half a step from the first episode's end
    graph = LatentGraph([first, second], link=0.25, lookahead=1.0)
    graph.set_goal(second[-1])
    assert np.isinf(graph.cost_to_go[0])


def test_the_goal_joins_every_node_within_the_radius_not_only_its_nearest():
    first = torch.tensor([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    second = torch.tensor([[2.6, 0.0], [3.6, 0.0]])  # too far from the first to be linked; no way into its start
    graph = LatentGraph([first, second], link=0.5, lookahead=1.0)
    graph.set_goal(torch.tensor([2.35, 0.0]))  # nearest: the second episode's start, unreachable from the first
    assert graph.cost_to_go[0] == pytest.approx(2.35)  # two recorded steps, then 0.35 steps to the goal


def test_subgoal_before_set_goal_and_bad_settings_raise():
    with pytest.raises(RuntimeError, match="set_goal"):
        LatentGraph([_u_corridor()]).subgoal(torch.zeros(2))
    with pytest.raises(ValueError, match="lookahead"):
        LatentGraph([_u_corridor()], lookahead=0.0)
    with pytest.raises(ValueError, match="at least one"):
        LatentGraph([])


def test_mpc_with_subgoals_walks_round_a_wall_that_stalls_it_without_them():
    """Point dynamics z' = z + 0.3 a in the plane, with a wall on the segment x in [-1, 1] at y = 0 that stops any
    step crossing it. Start (0, 0.5), goal (0, -0.5): every short plan gets closer only by pressing into the wall.
    A recorded episode walks round its end at x = 1.5."""

    def blocked(z: torch.Tensor, nxt: torch.Tensor) -> torch.Tensor:
        crosses = (z[..., 1] > 0) != (nxt[..., 1] > 0)
        t = z[..., 1] / (z[..., 1] - nxt[..., 1]).where(crosses, torch.ones_like(z[..., 1]))
        x = z[..., 0] + t * (nxt[..., 0] - z[..., 0])
        return crosses & (x.abs() <= 1.0)

    def rollout_fn(z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        z, out = z0, []
        for t in range(actions.shape[1]):
            nxt = z + 0.3 * actions[:, t]
            z = torch.where(blocked(z, nxt).unsqueeze(-1), z, nxt)
            out.append(z)
        return torch.stack(out, 1)

    waypoints = torch.tensor([[0.0, 0.5], [1.5, 0.5], [1.5, -0.5], [0.0, -0.5]])
    detour = torch.cat([torch.lerp(a, b, torch.linspace(0, 1, 6)[:-1, None]) for a, b in zip(waypoints, waypoints[1:])])
    detour = torch.cat([detour, waypoints[-1:]])
    goal = torch.tensor([0.0, -0.5])

    def run(graph: LatentGraph | None) -> float:
        mpc = MPC(CEM([-1.0, -1.0], [1.0, 1.0], samples=64, elites=8, iterations=4, metric="l1", reduce="sum"), 3)
        if graph is not None:
            graph.set_goal(goal)
        z = torch.tensor([0.0, 0.5])
        for _ in range(30):
            target = None if graph is None else graph.subgoal(z)
            action = mpc.act(rollout_fn, z, goal if target is None else target)
            z = rollout_fn(z[None], action[None, None])[0, 0]
        return float((z - goal).norm())

    assert run(None) > 0.45  # pressed against the wall, which is 0.5 from the goal
    assert run(LatentGraph([detour], link=0.25, lookahead=1.0)) < 0.1


def test_a_goal_equal_to_a_recorded_latent_is_reached_through_it():
    corridor = _u_corridor()
    graph = LatentGraph([corridor], link=0.0, lookahead=1.0)
    graph.set_goal(corridor[5].clone())  # joins at node 5 by an edge of cost 0
    assert graph.cost_to_go[0] == pytest.approx(5.0)
