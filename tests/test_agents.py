import json
import math

import numpy as np
import pytest
import torch

gym = pytest.importorskip("gymnasium", reason="agent tests need the 'control' extra (gymnasium)")

import envs  # noqa: E402, F401
from envs.experts import EXPERTS, RandomAgent, TwoRoomsExpert, make_expert  # noqa: E402
from jepa.agents import MPCAgent, mean_interval, run_episodes, wilson_interval  # noqa: E402
from jepa.methods import WorldModel  # noqa: E402
from jepa.models import ActionConditionedPredictor, ConvEncoder  # noqa: E402
from jepa.planning import CEM  # noqa: E402

COUNTER_ID = "test/ChunkCounter-v0"


@pytest.fixture(autouse=True)
def _headless(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")


class ChunkCounterEnv(gym.Env):
    """Observes how many steps it has taken and keeps every action it was given; the time limit ends it."""

    metadata = {"render_modes": ["rgb_array"]}
    action_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
    observation_space = gym.spaces.Box(0, 100, shape=(1,), dtype=np.float32)

    last: "ChunkCounterEnv | None" = None  # the instance the runner made, to read back what it executed

    def __init__(self, render_mode: str | None = None):
        self.render_mode, self.executed = render_mode, []
        ChunkCounterEnv.last = self

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.executed = []
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action):
        self.executed.append(float(action[0]))
        return np.array([len(self.executed)], dtype=np.float32), 1.0, False, False, {}


class ChunkAgent:
    """Returns chunks of three distinct actions: 0.0, 0.1, 0.2, then 0.3, 0.4, 0.5, ..."""

    def __init__(self):
        self.calls = 0

    def reset(self, seed: int) -> None:
        self.calls = 0

    def act(self, observation, info):
        chunk = np.arange(3 * self.calls, 3 * self.calls + 3, dtype=np.float32)[:, None] / 10
        self.calls += 1
        return chunk


@pytest.fixture
def counter_env():
    gym.register(COUNTER_ID, entry_point=ChunkCounterEnv, max_episode_steps=5)
    yield COUNTER_ID
    del gym.registry[COUNTER_ID]


def _mpc_agent(hold: bool, frameskip: int = 2, execute: int = 1, proprio: bool = True) -> MPCAgent:
    torch.manual_seed(0)
    encoder = ConvEncoder(input_size=64, channels=(4, 8), latent_dim=8, hidden_dim=16)
    predictor = ActionConditionedPredictor(8, 2 * frameskip, proprio_dim=2 if proprio else 0, predictor_dim=16, depth=1)
    model = WorldModel(encoder, predictor).eval()
    low, high = (np.tile(bound, 1 if hold else frameskip) for bound in ([-1.0, -1.0], [1.0, 1.0]))
    planner = CEM(low, high, samples=8, elites=2, iterations=2)
    return MPCAgent(
        model, planner, horizon=3, execute=execute, frameskip=frameskip, hold=hold, proprio=proprio, metric="l2"
    )


def test_two_rooms_expert_reaches_a_goal_across_the_wall_in_nine_of_ten_episodes(tmp_path):
    env = gym.make("jepa/TwoRooms-v0")  # start and goal are always drawn in different rooms
    result = run_episodes("jepa/TwoRooms-v0", make_expert(env), episodes=10, gifs=0, out=tmp_path, progress=False)
    assert result["summary"]["success_rate"] >= 0.9  # success ends the episode before the 100-step time limit


def test_pendulum_expert_earns_a_clearly_higher_return_than_random_actions(tmp_path):
    env = gym.make("jepa/PixelPendulum-v0")
    common = {"episodes": 3, "max_steps": 100, "gifs": 0, "progress": False}
    expert = run_episodes("jepa/PixelPendulum-v0", make_expert(env), out=tmp_path / "expert", **common)
    random = run_episodes("jepa/PixelPendulum-v0", RandomAgent(env.action_space, 0), out=tmp_path / "random", **common)
    assert expert["summary"]["return"] > random["summary"]["return"] + 200
    assert (tmp_path / "expert" / "rollout.png").stat().st_size > 0  # the return plot: pendulum has no distance


def test_wilson_interval_matches_the_hand_computed_45_of_50():
    low, high = wilson_interval(45, 50)
    # z = 1.959964: centre (0.9 + z²/100) / (1 + z²/50) = 0.871461, half-width z/(1 + z²/50) √(0.0018 + z²/1e4)
    # = 0.085063
    assert low == pytest.approx(0.786398, abs=1e-5) and high == pytest.approx(0.956524, abs=1e-5)
    assert low < 45 / 50 < high
    none_low, none_high = wilson_interval(0, 10)
    assert none_low == pytest.approx(0.0, abs=1e-12) and 0.2 < none_high < 0.35  # not collapsed to a point


def test_mean_interval_uses_the_student_t_quantile():
    mean, (low, high) = mean_interval([1.0, 2.0, 3.0, 4.0])
    half = 3.182446 * math.sqrt(5 / 3) / 2  # t(0.975, 3 dof) · s / √n
    assert mean == 2.5 and low == pytest.approx(2.5 - half, abs=1e-5) and high == pytest.approx(2.5 + half, abs=1e-5)
    assert mean_interval([7.0]) == (7.0, None)


def test_action_chunks_run_in_order_and_stop_when_the_episode_ends(counter_env, tmp_path):
    agent = ChunkAgent()
    result = run_episodes(counter_env, agent, episodes=1, gifs=0, out=tmp_path, progress=False)
    episode = result["episodes"][0]
    assert episode["steps"] == 5 and episode["return"] == 5.0
    assert episode["env_steps"] == [0, 3] and agent.calls == 2  # the second chunk is cut after two of three
    assert ChunkCounterEnv.last.executed == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])
    assert "success" not in episode and "success_rate" not in result["summary"]


def test_runner_writes_json_gifs_and_plot_and_merges_the_agents_record(tmp_path):
    agent = _mpc_agent(hold=True)
    result = run_episodes("jepa/TwoRooms-v0", agent, episodes=2, max_steps=6, gifs=1, out=tmp_path, progress=False)
    saved = json.loads((tmp_path / "rollout.json").read_text())
    assert saved["env_id"] == "jepa/TwoRooms-v0" and saved["arguments"]["max_steps"] == 6
    assert saved["summary"] == pytest.approx(result["summary"]) and len(saved["episodes"]) == 2
    episode = saved["episodes"][0]
    assert episode["env_steps"] == [0, 2, 4] and len(episode["latent_distance"]) == 3  # a chunk is 2 · 1 steps
    assert len(episode["true_distance"]) == episode["steps"] + 1 == 7
    assert saved["summary"]["plan_seconds"] > 0 and 0 <= saved["summary"]["success_ci_low"]
    assert (tmp_path / "episode_00.gif").stat().st_size > 0 and not (tmp_path / "episode_01.gif").exists()
    assert (tmp_path / "rollout.png").stat().st_size > 0


@pytest.mark.parametrize(("hold", "proprio"), [(True, True), (False, False)])
def test_mpc_agent_returns_a_chunk_of_env_actions_within_bounds(hold, proprio):
    env = gym.make("jepa/TwoRooms-v0")
    obs, info = env.reset(seed=0)
    info["goal_observation"] = env.unwrapped.goal_observation()
    agent = _mpc_agent(hold, frameskip=3, execute=2, proprio=proprio)
    agent.reset(0)
    chunk = agent.act(obs, info)
    assert chunk.shape == (2 * 3, 2) and chunk.dtype == np.float32
    assert (chunk >= -1).all() and (chunk <= 1).all()
    if hold:  # one held action per model step
        assert (chunk[:3] == chunk[0]).all() and (chunk[3:] == chunk[3]).all()
    record = agent.episode_record()
    assert len(record["latent_distance"]) == 1 and record["plan_seconds"] > 0


def test_mpc_agent_without_a_goal_image_says_where_it_comes_from():
    env = gym.make("jepa/TwoRooms-v0")
    obs, info = env.reset(seed=0)
    with pytest.raises(KeyError, match="goal_observation"):
        _mpc_agent(hold=True).act(obs, info)


def test_make_expert_on_an_env_without_one_names_the_envs_that_have_experts():
    with pytest.raises(ValueError, match="CartPole-v1") as error:
        make_expert(gym.make("CartPole-v1"))
    assert all(env_id in str(error.value) for env_id in EXPERTS)


def test_two_rooms_expert_refuses_another_env():
    with pytest.raises(ValueError, match="Two-Rooms only"):
        TwoRoomsExpert(gym.make("CartPole-v1"))
