"""Push-T as a goal-image task: goals made by scripted pushes, hidden goal zone, success by coverage, planning."""

import json

import gymnasium as gym
import numpy as np
import pytest
from world_model_runs import TINY_PLAN, run_episode, unwrap_to

import envs
from envs.experts import RandomAgent, make_expert
from envs.push_t import PushTGoal

pytest.importorskip("gym_pusht", reason="Push-T needs the 'pusht' extra")


@pytest.fixture
def env():
    env = gym.make("jepa/PixelPushT-v0")
    yield env
    env.close()


def _task(env: gym.Env) -> PushTGoal:
    return unwrap_to(env, PushTGoal)


class _StandStill:
    def reset(self, seed: int) -> None:
        """Nothing to forget."""

    def act(self, observation: np.ndarray, info: dict) -> np.ndarray:
        return np.zeros(2, np.float32)


def test_the_goal_image_is_the_goal_state_and_looking_at_it_changes_nothing(env):
    start, info = env.reset(seed=3)
    assert info["distance"] > 0.2, "a goal the block nearly covers at the start is redrawn"
    goal_frame = envs.goal_observer(env)()
    assert not np.array_equal(goal_frame, start)
    expert = make_expert(env)
    looked = []
    for look in (True, False):  # the runner draws the goal image at every step
        obs, info = env.reset(seed=3)
        expert.reset(3)
        for _ in range(12):
            obs, _, _, _, info = env.step(expert.act(obs, info))
            if look:
                envs.goal_observer(env)()
        looked.append(info["state"])
    assert np.array_equal(*looked), "drawing the goal image must not disturb the simulation"
    end = run_episode(env, expert, seed=3)
    assert end["success"]
    at_goal = np.abs(_task(env).frame().astype(float) - goal_frame).mean()
    assert at_goal < 0.2 * np.abs(start.astype(float) - goal_frame).mean(), "the goal image shows the state reached"


def test_frames_show_neither_the_goal_zone_nor_the_last_action(env):
    obs, _ = env.reset(seed=1)
    task = _task(env)
    task.sim.goal_pose = np.array([256.0, 256.0, 0.5])
    task.sim._last_action = np.array([100.0, 100.0])
    assert np.array_equal(task.frame(), obs)


def test_the_same_seed_draws_the_same_start_and_goal_and_actions_are_moves_relative_to_the_agent(env):
    _, first = env.reset(seed=5)
    _, again = env.reset(seed=5)
    assert np.array_equal(first["goal"], again["goal"]) and np.array_equal(first["state"], again["state"])
    _, _, _, _, moved = env.step(np.array([1.0, 0.0], dtype=np.float32))
    step = moved["state"][:2] - first["state"][:2]
    assert step[0] > 10 and abs(step[1]) < 1, "action (1, 0) moves the agent along +x, from where it is"
    np.testing.assert_allclose(moved["state"][2:], np.asarray(_task(env).sim.agent.velocity), rtol=1e-6)


@pytest.mark.parametrize("env_id", ["jepa/PixelPushT-v0", "jepa/PixelPushTCoverage-v0"])
def test_the_expert_reaches_every_goal_where_random_moves_and_standing_still_do_not(env_id):
    env = gym.make(env_id)
    expert, random_agent = make_expert(env), RandomAgent(env.action_space, seed=0)
    expert_ends = [run_episode(env, expert, seed) for seed in range(4)]
    random_ends = [run_episode(env, random_agent, seed) for seed in range(4)]
    still_ends = [run_episode(env, _StandStill(), seed) for seed in range(4)]
    assert all(end["success"] and end["steps"] <= 25 for end in expert_ends), "the goal is 25 pushing steps away"
    assert not any(end["success"] for end in random_ends + still_ends)
    assert all(end["distance"] > 0.05 for end in still_ends)
    if env_id.endswith("Coverage-v0"):
        assert all(end["coverage"] >= 0.95 for end in expert_ends)
    else:  # DINO-WM's rule: agent and block within 20 px together, the angle within 20°
        end, goal_agent = expert_ends[-1], _task(env).goal_agent  # seed 3's goal, the last episode's too
        here = np.concatenate([end["pos_agent"], end["block_pose"][:2]])
        turn = abs(np.angle(np.exp(1j * (end["block_pose"][2] - end["goal"][2]))))
        assert np.linalg.norm(here - np.concatenate([goal_agent, end["goal"][:2]])) < 20 and turn < np.pi / 9


@pytest.mark.slow
def test_collect_train_and_plan_towards_push_t_goals(tmp_path, train_world_model):
    from jepa.cli import main

    data = tmp_path / "data"
    collect = ["collect", "env=push_t", "policy=expert", "action_noise=0.5", "steps=30", "episodes=4"]
    assert main([*collect, "episodes_per_shard=2", f"out={data}", "progress=false"]) == 0
    assert json.loads((data / "meta.json").read_text())["state_shape"] == [4]
    run = train_world_model(data, tmp_path / "run", "experiment=wm_push_t", "method.frameskip=2")
    out = tmp_path / "rollout"
    assert main(["rollout", f"run={run}", *TINY_PLAN, "max_steps=6", f"out={out}", "progress=false"]) == 0
    summary = json.loads((out / "rollout.json").read_text())["summary"]
    assert summary["episodes"] == 1 and 0.0 <= summary["success_rate"] <= 1.0 and summary["plan_seconds"] > 0
