import importlib
import math
import warnings

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium", reason="control tests need the 'control' extra (gymnasium)")

from gymnasium.utils.env_checker import check_env  # noqa: E402

import envs  # noqa: E402
from envs.two_rooms import TwoRoomsEnv  # noqa: E402
from envs.wrappers import ActionRepeat, PixelObservation  # noqa: E402

# Layers gymnasium.make adds around every env; the checker wants what is beneath them.
MAKE_LAYERS = (gym.wrappers.TimeLimit, gym.wrappers.OrderEnforcing, gym.wrappers.PassiveEnvChecker)


@pytest.fixture(autouse=True)
def _headless(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")


def _beneath_make(env: gym.Env) -> gym.Env:
    while isinstance(env, MAKE_LAYERS):
        env = env.env
    return env


@pytest.mark.parametrize("env_id", envs.ENV_IDS)
def test_every_registered_env_passes_the_gymnasium_env_checker(env_id):
    env = _beneath_make(gym.make(env_id))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    if env is env.unwrapped:  # our own Env classes should not even draw a warning
        assert not caught, [str(w.message) for w in caught]


@pytest.mark.parametrize("env_id", envs.OPTIONAL_ENV_IDS)
def test_optional_pixel_envs_pass_the_checker_and_observe_frames_with_their_state(env_id, monkeypatch):
    monkeypatch.setenv("MUJOCO_GL", "egl")
    pytest.importorskip(gym.spec(env_id).kwargs["requires"], reason=f"{env_id} needs an optional extra")
    check_env(_beneath_make(gym.make(env_id)))  # the checker closes the env (and a MuJoCo renderer) it checked
    env = gym.make(env_id)
    obs, info = env.reset(seed=0)
    first = obs.copy()
    for _ in range(20):
        obs, _, _, _, info = env.step(env.action_space.high)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert info["state"].dtype == np.float32 and info["state"].ndim == 1
    assert not np.array_equal(first, obs), "20 steps of the largest action should change the picture"


def test_an_optional_env_without_its_package_names_the_extra_to_install():
    from envs.wrappers import _import_provider

    with pytest.raises(ImportError, match=r"'pusht' extra: pip install 'jepa\[pusht\]'"):
        _import_provider("jepa_no_such_provider", "pusht")


def test_registration_is_idempotent_on_reimport():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # gymnasium warns when an id is registered twice
        importlib.reload(envs)
    assert all(env_id in gym.registry for env_id in envs.ENV_IDS + envs.OPTIONAL_ENV_IDS)
    assert gym.spec("jepa/TwoRooms-v0").max_episode_steps == 100


def _rollout(env: gym.Env, seed: int, steps: int):
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(0)
    frames, positions, rewards = [obs], [info["pos"]], []
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, size=2).astype(np.float32))
        frames.append(obs)
        positions.append(info["pos"])
        rewards.append(reward)
        if terminated or truncated:
            break
    return np.stack(frames), np.stack(positions), np.array(rewards)


def test_two_rooms_is_deterministic_under_a_seed():
    a = _rollout(gym.make("jepa/TwoRooms-v0"), seed=7, steps=60)
    b = _rollout(gym.make("jepa/TwoRooms-v0"), seed=7, steps=60)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    c = _rollout(gym.make("jepa/TwoRooms-v0"), seed=8, steps=60)
    assert not np.array_equal(a[1][0], c[1][0])


def test_start_and_goal_are_drawn_in_different_rooms_unless_asked():
    env = TwoRoomsEnv()
    rooms = set()
    for seed in range(200):
        _, info = env.reset(seed=seed)
        assert env.room(info["pos"]) != env.room(info["goal"])
        assert env.is_free(tuple(info["pos"])) and env.is_free(tuple(info["goal"]))
        assert not info["success"] and info["distance"] == pytest.approx(np.linalg.norm(info["pos"] - info["goal"]))
        rooms.add(env.room(info["pos"]))
    assert rooms == {0, 1}
    env = TwoRoomsEnv(same_room=True)
    same = 0
    for seed in range(200):
        _, info = env.reset(seed=seed)
        same += env.room(info["pos"]) == env.room(info["goal"])
        assert info["distance"] >= 2 * env.goal_radius
    assert 50 < same < 150


def _allowed(env: TwoRoomsEnv, p: np.ndarray) -> bool:
    """Where the agent's centre may be, written out independently of the env's collision code."""
    r, (lo, hi) = env.agent_radius, env.door
    inside = r - 1e-12 <= p[0] <= 1 - r + 1e-12 and r - 1e-12 <= p[1] <= 1 - r + 1e-12
    beside_wall = abs(p[0] - env.WALL_X) < env.WALL_HALF_WIDTH + r - 1e-12
    return inside and (not beside_wall or lo + r - 1e-12 <= p[1] <= hi - r + 1e-12)


def test_agent_crosses_the_wall_only_through_the_door():
    env = TwoRoomsEnv()
    rng = np.random.default_rng(0)
    crossings = 0
    for episode in range(40):
        _, info = env.reset(seed=episode)
        pos = info["pos"]
        for _ in range(250):
            # Half uniform actions, half pushes at the wall, so the wall and the door edges are hit often.
            towards_wall = np.array([np.sign(env.WALL_X - pos[0]), rng.normal(0, 0.5)])
            action = rng.uniform(-1.5, 1.5, size=2) if rng.random() < 0.5 else towards_wall
            _, _, _, _, info = env.step(action.astype(np.float32))
            new = info["pos"]
            assert _allowed(env, new), new
            assert np.linalg.norm(new - pos) <= env.max_step + 1e-12
            if env.room(new) != env.room(pos):
                # The straight line between the two positions meets the wall's centre line inside the door.
                t = (env.WALL_X - pos[0]) / (new[0] - pos[0])
                assert env.door[0] <= pos[1] + t * (new[1] - pos[1]) <= env.door[1]
                crossings += 1
            pos = new
    assert crossings > 10  # the door was found, so the property was exercised


def test_pushing_into_the_wall_stops_at_it_and_the_door_lets_the_agent_through():
    env = TwoRoomsEnv()
    wall_face = env.WALL_X - env.WALL_HALF_WIDTH - env.agent_radius
    env.reset(seed=0, options={"start": (0.3, 0.2), "goal": (0.9, 0.9)})
    for _ in range(20):
        _, _, _, _, info = env.step(np.array([1.0, 0.0], dtype=np.float32))
    np.testing.assert_allclose(info["pos"], [wall_face, 0.2])
    for _ in range(20):  # pushing diagonally slides along the wall, then through the door
        _, _, _, _, info = env.step(np.array([1.0, 1.0], dtype=np.float32))
    assert env.room(info["pos"]) == 1
    env.reset(seed=0, options={"start": (0.3, 0.5), "goal": (0.9, 0.9)})
    for _ in range(10):
        _, _, _, _, info = env.step(np.array([1.0, 0.0], dtype=np.float32))
    np.testing.assert_allclose(info["pos"], [0.3 + 10 * env.max_step, 0.5])


def test_actions_are_clipped_to_the_maximum_norm():
    env = TwoRoomsEnv()
    env.reset(seed=0, options={"start": (0.2, 0.5)})
    _, _, _, _, info = env.step(np.array([1.0, 1.0], dtype=np.float32))
    step = info["pos"] - np.array([0.2, 0.5])
    np.testing.assert_allclose(step, [env.max_step / math.sqrt(2)] * 2)
    _, _, _, _, info2 = env.step(np.array([0.5, 0.0], dtype=np.float32))
    np.testing.assert_allclose(info2["pos"] - info["pos"], [env.max_step / 2, 0.0])


def test_reaching_the_goal_terminates_with_success():
    env = gym.make("jepa/TwoRooms-v0")
    _, info = env.reset(seed=0, options={"start": (0.2, 0.5), "goal": (0.32, 0.5)})
    rewards = []
    for _ in range(3):
        _, reward, terminated, truncated, info = env.step(np.array([1.0, 0.0], dtype=np.float32))
        rewards.append(reward)
        if terminated:
            break
    assert terminated and not truncated and info["success"] and len(rewards) == 2
    assert info["distance"] <= env.unwrapped.goal_radius and rewards[-1] == -info["distance"]


def test_episodes_are_truncated_at_the_time_limit():
    env = gym.make("jepa/TwoRooms-v0", max_episode_steps=5)
    env.reset(seed=0)
    ends = [env.step(np.zeros(2, dtype=np.float32))[2:4] for _ in range(5)]
    assert ends == [(False, False)] * 4 + [(False, True)]


def test_observation_shows_the_agent_and_the_goal_observation_puts_it_at_the_goal():
    env = gym.make("jepa/TwoRooms-v0", render_mode="rgb_array")
    obs, info = env.reset(seed=3)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    goal_obs = env.unwrapped.goal_observation()
    at_goal, _ = env.reset(seed=3, options={"start": info["goal"], "goal": info["goal"]})
    np.testing.assert_array_equal(goal_obs, at_goal)
    obs, _ = env.reset(seed=3)
    assert not np.array_equal(obs, goal_obs)
    assert not np.array_equal(env.render(), obs)  # the goal ring is for people only
    # The agent disc is where the state says (image rows run down, y up).
    bright = np.argwhere(obs[..., 0].astype(int) - obs[..., 2] > 100)
    centre = bright.mean(axis=0)
    np.testing.assert_allclose([centre[1] / 64, 1 - centre[0] / 64], info["pos"], atol=1.5 / 64)
    # Sub-pixel moves change the picture, so positions are recoverable from pixels.
    moved, *_ = env.step(np.array([0.02, 0.0], dtype=np.float32))  # 0.001 = 0.064 px
    assert not np.array_equal(moved, obs)


def test_pixel_pendulum_observes_resized_frames_and_keeps_the_state_in_info():
    env = gym.make("jepa/PixelPendulum-v0")
    obs, info = env.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8 and obs.std() > 10
    theta, theta_dot = env.unwrapped.state
    np.testing.assert_allclose(info["state"], [np.cos(theta), np.sin(theta), theta_dot], rtol=1e-6)
    frames = [obs]
    for _ in range(5):
        obs, _, _, _, info = env.step(np.array([2.0], dtype=np.float32))
        frames.append(obs)
    assert info["state"].shape == (3,) and len({f.tobytes() for f in frames}) > 1
    with pytest.raises(ValueError, match="rgb_array"):
        PixelObservation(gym.make("Pendulum-v1"))


def test_action_repeat_sums_rewards_and_stops_when_the_episode_ends():
    options = {"start": (0.2, 0.5), "goal": (0.4, 0.9)}
    single, repeated = gym.make("jepa/TwoRooms-v0"), ActionRepeat(gym.make("jepa/TwoRooms-v0"), 3)
    single.reset(seed=0, options=options)
    repeated.reset(seed=0, options=options)
    action = np.array([0.0, 1.0], dtype=np.float32)
    total = sum(single.step(action)[1] for _ in range(3))
    _, reward, *_ = repeated.step(action)
    assert reward == pytest.approx(total)
    # The goal is reached on the first of the three repeats: no step is taken after it.
    options = {"start": (0.2, 0.5), "goal": (0.24, 0.5)}
    repeated.reset(seed=0, options=options)
    _, reward, terminated, _, info = repeated.step(np.array([1.0, 0.0], dtype=np.float32))
    assert terminated and info["pos"][0] == pytest.approx(0.25) and reward == pytest.approx(-0.01)
    with pytest.raises(ValueError):
        ActionRepeat(single, 0)
