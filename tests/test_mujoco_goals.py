"""The goal-image MuJoCo tasks (PointMaze, Reacher): goals as images, hidden markers, experts, and planning."""

import json

import gymnasium as gym
import numpy as np
import pytest
from world_model_runs import TINY_PLAN, run_episode, unwrap_to

import envs
from envs.experts import RandomAgent, make_expert
from envs.mujoco_goals import GoalImage

pytest.importorskip("gymnasium_robotics", reason="the MuJoCo tasks need the 'mujoco' extra")
MUJOCO_TASKS = ("jepa/PixelPointMaze-v0", "jepa/PixelReacher-v0")


@pytest.fixture(params=MUJOCO_TASKS)
def env(request, monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "egl")
    env = gym.make(request.param)
    try:
        env.reset(seed=0)
    except Exception as err:  # no OpenGL context on this machine (EGL or OSMesa): a system limit, not ours
        pytest.skip(f"MuJoCo cannot render here: {err}")
    yield env
    env.close()


def _task(env: gym.Env) -> GoalImage:
    return unwrap_to(env, GoalImage)


def test_the_goal_image_shows_the_agent_at_the_goal_and_leaves_the_simulation_as_it_was(env):
    obs, info = env.reset(seed=3)
    task = _task(env)
    data = task.sim.data
    qpos, qvel = data.qpos.copy(), data.qvel.copy()
    goal_frame = envs.goal_observer(env)()
    assert np.array_equal(data.qpos, qpos) and np.array_equal(data.qvel, qvel)
    assert np.array_equal(task.frame(), obs), "rendering the goal must not change what the agent sees next"
    assert not np.array_equal(goal_frame, obs)
    task._place(info["goal"], np.zeros(2))
    assert np.array_equal(task.frame(), goal_frame)
    assert task.frame().shape == (64, 64, 3)


def test_the_base_envs_goal_marker_is_hidden(env):
    obs, _ = env.reset(seed=1)
    task = _task(env)
    model = task.sim.model
    if "target" in [model.site(i).name for i in range(model.nsite)]:
        model.site_pos[model.site("target").id, :2] += 1.0
    else:  # Reacher's target is a body moved by two slide joints
        task.sim.data.qpos[2:4] = [0.1, -0.1]
    task._place(task.sim.data.qpos[:2].copy(), task.sim.data.qvel[:2].copy())
    assert np.array_equal(task.frame(), obs), "frames must show the agent alone: the goal is the goal image"


def test_the_true_state_is_the_agents_own_positions_and_velocities_not_the_goal(env):
    env.reset(seed=2)
    _, _, _, _, info = env.step(env.action_space.high)
    data = _task(env).sim.data
    q, dq = data.qpos[:2], data.qvel[:2]
    own = np.concatenate([q, dq]) if len(info["state"]) == 4 else np.concatenate([np.cos(q), np.sin(q), dq])
    np.testing.assert_allclose(info["state"], own, rtol=1e-6)


def test_the_expert_succeeds_where_random_torques_rarely_do(env):
    expert, random_agent = make_expert(env), RandomAgent(env.action_space, seed=0)
    expert_ends = [run_episode(env, expert, seed) for seed in range(5)]
    random_ends = [run_episode(env, random_agent, seed) for seed in range(5)]
    assert all(end["success"] for end in expert_ends)
    assert sum(end["success"] for end in random_ends) <= 2


def test_reacher_judges_success_on_the_last_step_and_point_maze_ends_on_it(env):
    end = run_episode(env, make_expert(env), seed=0)
    ends_on_success = env.get_wrapper_attr("ends_on_success")
    assert end["success"] and (end["steps"] < env.spec.max_episode_steps) == ends_on_success


@pytest.mark.slow
@pytest.mark.parametrize("name, env_id", [("point_maze", MUJOCO_TASKS[0]), ("reacher", MUJOCO_TASKS[1])])
def test_collect_train_and_plan_towards_goal_images(name, env_id, tmp_path, train_world_model, monkeypatch):
    from jepa.cli import main

    monkeypatch.setenv("MUJOCO_GL", "egl")
    data = tmp_path / "data"
    collect = ["collect", f"env={name}", "policy=expert", "action_noise=0.5", "steps=30"]
    collect += ["episodes=4", "episodes_per_shard=2"]
    assert main([*collect, f"out={data}", "progress=false"]) == 0
    assert json.loads((data / "meta.json").read_text())["env"] == env_id
    run = train_world_model(data, tmp_path / "run", f"experiment=wm_{name}", "method.frameskip=2")
    out = tmp_path / "rollout"
    assert main(["rollout", f"run={run}", *TINY_PLAN, "max_steps=6", f"out={out}", "progress=false"]) == 0
    summary = json.loads((out / "rollout.json").read_text())["summary"]
    assert summary["episodes"] == 1 and 0.0 <= summary["success_rate"] <= 1.0 and summary["plan_seconds"] > 0
