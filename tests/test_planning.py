import pytest
import torch

from jepa.planning import CEM, MPC, MPPI, goal_energy

LOW, HIGH = -torch.ones(2), torch.ones(2)


def integrator(z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Toy dynamics z' = z + a: z0 (S, 2), actions (S, H, 2) -> (S, H, 2)."""
    return z0[:, None] + actions.cumsum(1)


@pytest.mark.parametrize("planner_cls", [CEM, MPPI])
def test_planners_reach_a_reachable_goal_of_toy_dynamics(planner_cls):
    planner = planner_cls(LOW, HIGH, samples=200, elites=20, iterations=15, seed=0)
    z0, goal = torch.zeros(2), torch.tensor([1.5, -0.8])
    actions = planner.plan(integrator, z0, goal, horizon=3)
    assert actions.shape == (3, 2)
    final = integrator(z0[None], actions[None])[0, -1]
    assert torch.allclose(final, goal, atol=0.05), final


@pytest.mark.parametrize("planner_cls", [CEM, MPPI])
def test_planners_respect_action_bounds_when_the_goal_is_out_of_reach(planner_cls):
    low, high = torch.tensor([-0.5, -1.0]), torch.tensor([0.5, 0.25])
    planner = planner_cls(low, high, samples=100, elites=10, iterations=10, seed=1)
    actions = planner.plan(integrator, torch.zeros(2), torch.tensor([10.0, 10.0]), horizon=4)
    assert (actions >= low).all() and (actions <= high).all()
    assert torch.allclose(actions, high.expand(4, 2), atol=0.05)  # pushing as far as allowed


def test_summed_energy_prefers_getting_there_early_and_final_energy_does_not():
    goal = torch.zeros(2)
    early = torch.tensor([[[0.0, 0.0], [0.0, 0.0]]])
    late = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    pred = torch.cat([early, late])
    assert goal_energy(pred, goal, "l2", "final").tolist() == [0.0, 0.0]
    sums = goal_energy(pred, goal, "l1", "sum")
    assert sums[0] < sums[1]


def test_the_settle_term_prefers_a_plan_that_ends_at_rest_on_the_goal():
    goal = torch.zeros(2)
    passing = torch.tensor([[[0.3, 0.0], [0.1, 0.0], [-0.1, 0.0]]])  # through the goal, still moving
    resting = torch.tensor([[[0.3, 0.0], [0.15, 0.0], [0.15, 0.0]]])  # a little short of it, at rest
    pred = torch.cat([passing, resting])
    assert goal_energy(pred, goal, "l1", "final").argmin() == 0  # nearer at the last step: 0.05 against 0.075
    assert goal_energy(pred, goal, "l1", "sum").argmin() == 0
    assert goal_energy(pred, goal, "l1", "sum", settle=1.0).argmin() == 1
    assert torch.equal(goal_energy(pred[:, :1], goal, "l1", "sum", settle=1.0), goal_energy(pred[:, :1], goal, "l1"))


def test_planning_is_deterministic_under_a_seed():
    plans = [
        CEM(LOW, HIGH, samples=50, elites=5, iterations=3, seed=7).plan(integrator, torch.zeros(2), torch.ones(2), 2)
        for _ in range(2)
    ]
    assert torch.equal(*plans)


def test_mpc_replans_every_execute_steps_and_closes_the_loop():
    planner = CEM(LOW, HIGH, samples=100, elites=10, iterations=8, reduce="sum", seed=0)  # get there, stay there
    mpc = MPC(planner, horizon=3, execute=2)
    z, goal = torch.zeros(2), torch.tensor([2.0, 1.0])
    for _ in range(4):
        z = z + mpc.act(integrator, z, goal)
    assert len(mpc.plan_seconds) == 2
    assert torch.allclose(z, goal, atol=0.1), z
    mpc.reset()
    assert mpc.plan_seconds == [] and mpc.warm is None


def test_planner_arguments_are_checked():
    with pytest.raises(ValueError, match="elites"):
        CEM(LOW, HIGH, samples=10, elites=20)
    with pytest.raises(ValueError, match="vectors"):
        CEM(torch.tensor(1.0), torch.tensor(-1.0))
    with pytest.raises(ValueError, match="settle"):
        CEM(LOW, HIGH, settle=-1.0)
    with pytest.raises(ValueError, match="temperature"):
        MPPI(LOW, HIGH, temperature=0.0)
