"""ACT-JEPA, ACT and behaviour cloning: demonstration chunks, the policy's losses, the future-state probe, and tiny
runs trained through the engine, loaded back and rolled out."""

import json

import numpy as np
import pytest
import torch
from tiny_runs import TINY_ENGINE

pytest.importorskip("gymnasium", reason="control tests need the 'control' extra (gymnasium)")

from jepa.cli import main  # noqa: E402
from jepa.common.errors import ConfigError  # noqa: E402
from jepa.config import load_config  # noqa: E402
from jepa.data import DemonstrationChunks  # noqa: E402
from jepa.data.trajectories import read_collection  # noqa: E402
from jepa.methods import ChunkPolicy  # noqa: E402
from jepa.methods.policy import masked_l1  # noqa: E402
from jepa.models import ContextEncoder, QueryDecoder  # noqa: E402

CHUNK = 4
TINY_POLICY = [
    *TINY_ENGINE,
    "method.embed_dim=16",
    "method.num_heads=2",
    "method.depth=1",
    "method.decoder_depth=1",
    "method.probe_horizon=3",
    "method.probe_samples=40",
    "method.probe_epochs=1",
    "method.rollouts=2",
    "eval.seeds=2",
]


@pytest.fixture(autouse=True)
def _headless(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    """Noisy expert demonstrations of Two-Rooms: 6 episodes in 3 shards, goal images included."""
    from jepa.commands.collect import collect

    out = tmp_path_factory.mktemp("demos") / "two_rooms"
    args = ["env=two_rooms", "policy=expert", "action_noise=0.5", "episodes=6", "steps=30", "num_envs=2"]
    return collect(load_config([*args, "episodes_per_shard=2", f"out={out}", "progress=false"], command="collect"))


def test_a_chunk_holds_the_next_actions_and_states_and_marks_the_padding_past_the_episode(demos):
    chunks = DemonstrationChunks(demos, CHUNK, "train", val_shards=1)
    _, shards, _ = read_collection(demos)
    first = shards[0]
    length = int(first["episode_lengths"][0])
    assert len(chunks) == sum(int(s["episode_lengths"].sum()) for s in shards[:2])
    for t in (0, length - 2, length - 1):  # a full chunk, then the last two steps of the first episode
        item = chunks[t]
        left = min(CHUNK, length - t)
        np.testing.assert_array_equal(item["valid"].numpy(), np.arange(CHUNK) < left)
        np.testing.assert_array_equal(item["actions"][:left].numpy(), first["actions"][t : t + left])
        np.testing.assert_array_equal(item["future_states"][:left].numpy(), first["state"][t + 1 : t + 1 + left])
        np.testing.assert_array_equal(item["proprio"].numpy(), first["state"][t])
        # padding repeats the last real step
        assert (item["actions"][left:] == item["actions"][left - 1]).all()
    assert chunks[length]["proprio"].tolist() == first["state"][length + 1].tolist()  # the second episode's start
    goal = chunks[0]["goal"]
    assert goal.shape == chunks[0]["obs"].shape and not torch.equal(goal, chunks[length]["goal"])


def _policy(latent: bool, proprio_dim: int = 2, action_dim: int = 2, goal: bool = True, **kwargs) -> ChunkPolicy:
    torch.manual_seed(0)
    encoder = ContextEncoder(16, 8, proprio_dim, embed_dim=16, depth=1, num_heads=2)
    decoder = QueryDecoder(CHUNK, 16, 16, action_dim, depth=1, num_heads=2)
    predictor = QueryDecoder(CHUNK, 8, 16, 16, depth=1, num_heads=2) if latent else None
    return ChunkPolicy(
        encoder,
        decoder,
        predictor,
        action_low=-2 * torch.ones(action_dim),
        action_high=2 * torch.ones(action_dim),
        proprio_mean=torch.zeros(proprio_dim),
        proprio_std=torch.ones(proprio_dim),
        goal_conditioned=goal,
        **kwargs,
    )


def _batch(batch_size: int = 3, goal: bool = True) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    batch = {
        "obs": torch.randn(batch_size, 3, 16, 16, generator=g),
        "proprio": torch.randn(batch_size, 2, generator=g),
        "actions": torch.rand(batch_size, CHUNK, 2, generator=g) * 4 - 2,
        "future_states": torch.randn(batch_size, CHUNK, 2, generator=g),
        "valid": torch.tensor([[True] * CHUNK, [True, True, False, False], [True, False, False, False]]),
    }
    return batch | ({"goal": torch.randn(batch_size, 3, 16, 16, generator=g)} if goal else {})


def test_the_masked_l1_ignores_padded_steps_and_weighs_every_sample_alike():
    pred, target = torch.zeros(2, 3, 2), torch.ones(2, 3, 2)
    target[0, 2] = 100.0  # padding: must not count
    target[1, 0] = 4.0
    valid = torch.tensor([[True, True, False], [True, False, False]])
    assert masked_l1(pred, target, valid).item() == pytest.approx((1.0 + 4.0) / 2)


def test_act_has_no_latent_term_and_act_jepa_adds_one_whose_target_gets_no_gradient():
    act, act_jepa = _policy(latent=False), _policy(latent=True)
    assert act.target is None and "latents" not in act(_batch())
    out = act_jepa(_batch())
    assert out["loss"].item() == pytest.approx(out["actions"].item() + out["latents"].item(), rel=1e-6)
    out["loss"].backward()
    assert all(p.grad is None for p in act_jepa.target.parameters())
    assert act_jepa.latent_predictor.queries.grad is not None and act_jepa.encoder.proprio.weight.grad is not None


def test_act_jepa_can_predict_the_embeddings_of_future_frames_instead_of_states():
    policy, batch = _policy(latent=True, latent_target="frames"), _batch()
    future_obs = torch.randn(3, CHUNK, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    out = policy(batch | {"future_obs": future_obs})
    changed = policy(batch | {"future_obs": future_obs + 1.0})
    assert out["latents"].item() != pytest.approx(changed["latents"].item())
    assert policy(batch | {"future_obs": future_obs, "future_states": batch["future_states"] + 1})[
        "latents"
    ].item() == pytest.approx(out["latents"].item())


def test_padded_actions_do_not_change_the_loss():
    policy, batch = _policy(latent=True), _batch()
    changed = batch | {"actions": batch["actions"].clone(), "future_states": batch["future_states"].clone()}
    changed["actions"][2, 1:] = 7.0
    changed["future_states"][1, 2:] = -9.0
    assert policy(batch)["loss"].item() == pytest.approx(policy(changed)["loss"].item(), rel=1e-6)


def test_update_target_moves_only_the_target_towards_the_encoder():
    policy = _policy(latent=True)
    with torch.no_grad():
        policy.encoder.proprio.weight.add_(1.0)
    before = policy.target.proprio.weight.clone()
    online = policy.encoder.proprio.weight.clone()
    policy.update_target(0.9)
    torch.testing.assert_close(policy.target.proprio.weight, 0.9 * before + 0.1 * online)
    torch.testing.assert_close(policy.encoder.proprio.weight, online)


def test_act_returns_a_chunk_in_the_action_spaces_units_and_bounds():
    policy, batch = _policy(latent=False), _batch()
    with torch.no_grad():
        policy.action_decoder.head.bias.fill_(5.0)  # far outside [-1, 1]: clamped to the bounds
    actions = policy.act(batch["obs"], batch["proprio"], batch["goal"])
    assert actions.shape == (3, CHUNK, 2) and torch.allclose(actions, torch.full_like(actions, 2.0))


def test_the_future_state_errors_are_in_state_units():
    from evals import future_state_errors

    target = torch.zeros(2, 2, 2)
    pred = torch.tensor([[[3.0, 4.0], [0.0, 0.0]], [[0.0, 0.0], [6.0, 8.0]]])
    errors = future_state_errors(pred, target)
    assert errors["step_l2"] == pytest.approx((5 + 0 + 0 + 10) / 4)
    assert errors["last_l2"] == pytest.approx((0 + 10) / 2)
    assert errors["rmse"] == pytest.approx(np.sqrt((9 + 16 + 36 + 64) / 8))


def test_the_future_state_probe_reads_dynamics_that_the_tokens_hold():
    from evals import future_state_probe

    g = torch.Generator().manual_seed(0)
    velocity = torch.randn(400, 2, generator=g)
    change = velocity[:, None] * torch.arange(1, 4).view(1, 3, 1)  # (N, K=3, S=2): constant-velocity motion
    informative = torch.cat([velocity, torch.randn(400, 6, generator=g)], 1).view(400, 1, 8).repeat(1, 2, 1)
    noise = torch.randn(400, 2, 8, generator=g)
    errors = {
        name: future_state_probe(x[:300], change[:300], x[300:], change[300:], epochs=20)["rmse"]
        for name, x in (("informative", informative), ("noise", noise))
    }
    assert errors["informative"] < 0.5 * errors["noise"]


@pytest.mark.parametrize(
    "overrides, key",
    [
        (["experiment=bc_two_rooms", "method.chunk=4"], "method.chunk"),
        (["experiment=act_two_rooms", "data.name=shapes"], "data.name"),
        (["experiment=act_two_rooms", "method.execute=9"], "method.execute"),
        (["experiment=act_jepa_two_rooms", "method.latent_target=pixels"], "method.latent_target"),
        (["experiment=act_two_rooms", "method.patch_size=12"], "method.patch_size"),
    ],
)
def test_a_bad_policy_config_is_refused_naming_the_key(overrides, key):
    with pytest.raises(ConfigError, match=key):
        load_config(overrides)


def test_act_has_no_latent_keys():
    with pytest.raises(Exception, match="latent_weight"):
        load_config(["experiment=act_two_rooms", "method.latent_weight=1"])


@pytest.fixture(scope="module")
def trained(demos, tmp_path_factory):
    """A tiny run of each method, evaluated (probe and 2 episodes)."""
    runs = {}
    for method in ("act_jepa", "act", "bc"):
        run = tmp_path_factory.mktemp(method) / "run"
        args = [f"experiment={method}_two_rooms", *TINY_POLICY, f"data.root={demos}", f"run_dir={run}"]
        assert main(["train", *args, *([] if method == "bc" else [f"method.chunk={CHUNK}"])]) == 0
        runs[method] = run
    return runs


@pytest.mark.parametrize("method", ["act_jepa", "act", "bc"])
def test_each_policy_trains_through_the_engine_and_reports_its_probe_and_rollouts(trained, method):
    results = json.loads((trained[method] / "eval.json").read_text())
    assert [row["encoder"] for row in results["rows"]] == [method, "random_init"]
    assert all(row["rmse"] > 0 and row["rmse_ci"] is not None for row in results["rows"])
    for row in results["rows"]:  # the shortcut checks, for the trained policy and the random-init one
        assert row["goal_r2"] <= 1 and row["goal_r2_ci"] is not None
        assert min(row["action_l1"], row["shuffled_frames_l1"], row["shuffled_goal_l1"]) > 0
    assert results["val_action_l1"] == results["rows"][0]["action_l1"]
    assert results["rollout"]["episodes"] == 2 and 0 <= results["rollout"]["success_rate"] <= 1
    assert (trained[method] / "rollout" / "episode_00.gif").stat().st_size > 0
    losses = [json.loads(line) for line in (trained[method] / "metrics.jsonl").read_text().splitlines()]
    assert ("latents" in losses[-1]) == (method == "act_jepa")


def test_a_trained_policy_loads_in_one_call_and_acts_in_its_env(trained, demos, tmp_path):
    from jepa.agents import run_episodes
    from jepa.recipes.policy import load_policy

    agent = load_policy(trained["act_jepa"])
    assert agent.execute == CHUNK and agent.policy.goal_conditioned
    mean, std = DemonstrationChunks(demos, CHUNK, "train", val_shards=1).frame_statistics()  # saved with the weights
    torch.testing.assert_close(agent.policy.frame_mean, mean)
    torch.testing.assert_close(agent.policy.frame_std, std)
    results = run_episodes("jepa/TwoRooms-v0", agent, episodes=1, gifs=0, out=tmp_path, progress=False)
    assert results["episodes"][0]["steps"] > 0


def test_jepa_rollout_acts_with_a_trained_policy(trained, tmp_path):
    out = tmp_path / "rollout"
    args = ["rollout", "agent=policy", f"run={trained['bc']}", "episodes=1", "gifs=0", "progress=false", f"out={out}"]
    assert main(args) == 0
    assert json.loads((out / "rollout.json").read_text())["env_id"] == "jepa/TwoRooms-v0"


def test_a_world_model_run_is_not_a_policy():
    from jepa.recipes.policy import policy_agent

    cfg = load_config(["experiment=wm_two_rooms"])
    with pytest.raises(ValueError, match="not a policy"):
        policy_agent(cfg, torch.nn.Linear(1, 1))


@pytest.mark.slow
def test_a_killed_act_jepa_run_resumes_with_the_same_losses(demos, killed_and_resumed_losses):
    args = ["experiment=act_jepa_two_rooms", *TINY_POLICY, f"data.root={demos}", "train.steps=6", "method.rollouts=0"]
    args += ["eval.enabled=false", f"method.chunk={CHUNK}"]
    resumed_from, resumed, reference = killed_and_resumed_losses(args, steps=6, kill_after=2)
    assert resumed_from >= 2
    for step, loss in reference.items():
        assert resumed[step] == pytest.approx(loss, abs=1e-6)


@pytest.mark.parametrize("proprio_input", [True, False])
def test_a_policy_from_pixels_alone_ignores_the_true_state(proprio_input):
    policy, batch = _policy(latent=True, proprio_input=proprio_input), _batch()
    moved = policy.act(batch["obs"], batch["proprio"] + 3.0, batch["goal"])
    assert torch.equal(policy.act(batch["obs"], batch["proprio"], batch["goal"]), moved) != proprio_input
    policy(batch)["loss"].backward()  # the future states still make ACT-JEPA's targets
    assert (policy.encoder.proprio.weight.grad is not None) == proprio_input


def test_the_collection_records_each_episodes_goal_state_and_the_chunks_carry_it(demos):
    _, shards, _ = read_collection(demos)
    first = shards[0]
    assert first["goal_state"].shape == (len(first["episode_lengths"]), 2)
    ends = np.cumsum(first["episode_lengths"] + 1) - 1  # each episode's last observation
    for end, goal, terminated in zip(
        ends, first["goal_state"], first["terminated"][np.cumsum(first["episode_lengths"]) - 1]
    ):
        if terminated:  # reached: the agent stands within the goal radius of the recorded goal
            assert np.linalg.norm(first["state"][end] - goal) <= 0.05 + 1e-6
    chunks = DemonstrationChunks(demos, CHUNK, "train", val_shards=1)
    np.testing.assert_array_equal(chunks[0]["goal_state"].numpy(), first["goal_state"][0])


def test_the_frame_statistics_are_the_mean_frame_and_the_spread_around_it(demos):
    from jepa.data.trajectories import obs_to_tensor

    chunks = DemonstrationChunks(demos, CHUNK, "train", val_shards=1)
    frames = torch.cat([obs_to_tensor(shard["obs"]) for shard in chunks.shards])
    mean, std = chunks.frame_statistics(limit=len(frames) + 10)
    torch.testing.assert_close(mean, frames.mean(0))
    torch.testing.assert_close(std, (frames - frames.mean(0)).std())
    # a fixed camera: most pixels never change, so the spread around the mean frame is far below the frames' own
    assert std < 0.5 * frames.std()


def test_without_the_proprio_token_kept_the_context_does_not_depend_on_the_state():
    policy, batch = _policy(latent=False), _batch()
    encoder, drop = policy.encoder, torch.tensor([0.0, 1.0, 0.0])
    base = encoder(batch["obs"], batch["proprio"], batch["goal"], proprio_keep=drop)
    moved = encoder(batch["obs"], batch["proprio"] + 3.0, batch["goal"], proprio_keep=drop)
    assert torch.equal(base[[0, 2]], moved[[0, 2]]) and not torch.allclose(base[1], moved[1])


def test_proprio_dropout_acts_in_training_only():
    policy, batch = _policy(latent=False, proprio_dropout=0.5), _batch(batch_size=3)
    policy.eval()
    assert torch.equal(policy.act(batch["obs"], batch["proprio"], batch["goal"]), policy.act(**_inputs(batch)))
    policy.train()
    torch.manual_seed(0)
    losses = {round(policy(batch)["loss"].item(), 6) for _ in range(8)}
    assert len(losses) > 1  # a new draw of dropped states each step


def _inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {"obs": batch["obs"], "proprio": batch["proprio"], "goal": batch["goal"]}


def test_the_cvae_adds_a_kl_term_infers_its_latent_from_the_valid_actions_and_acts_with_the_prior_mean():
    from jepa.models.style_encoder import StyleEncoder, gaussian_kl

    torch.manual_seed(0)
    style = StyleEncoder(2, 2, dim=16, depth=1, num_heads=2, latent_dim=4, context_dim=16)
    policy, batch = _policy(latent=False, style_encoder=style, kl_weight=10.0), _batch()
    out = policy(batch)
    assert out["loss"].item() == pytest.approx(out["actions"].item() + 10.0 * out["kl"].item(), rel=1e-5)
    out["loss"].backward()
    assert style.action.weight.grad is not None and style.to_token.weight.grad is not None
    padded = batch["actions"].clone()
    padded[2, 1:] = 7.0  # padding past the episode's end: not part of the chunk the latent describes
    mu, logvar = style(batch["actions"], batch["valid"], batch["proprio"])
    torch.testing.assert_close(style(padded, batch["valid"], batch["proprio"]), (mu, logvar))
    assert gaussian_kl(torch.zeros(2, 4), torch.zeros(2, 4)).item() == 0.0
    policy.eval()  # inference: z = 0, so acting is deterministic and ignores the demonstrated actions
    zero = style.token(torch.zeros(3, 4))
    expected = policy.action_decoder(
        policy.encoder(policy._frames(batch["obs"]), batch["proprio"], batch["goal"], style=zero)
    )
    torch.testing.assert_close(policy.act(**_inputs(batch)), (2 * expected).clamp(-2, 2))


class _ToyPolicy(torch.nn.Module):
    """Acts from the proprio state, plus (``reads``) how far the frame or the goal image lies from the batch's mean
    image: a known answer."""

    goal_conditioned = True

    def __init__(self, reads: str | None):
        super().__init__()
        self.reads = reads

    def act(self, obs: torch.Tensor, proprio: torch.Tensor, goal: torch.Tensor) -> torch.Tensor:
        images = {"obs": obs, "goal": goal}.get(self.reads, torch.zeros_like(obs))
        seen = (images - images.mean(0)).abs().sum((1, 2, 3))
        seen = seen / seen.max().clamp(min=1e-6)  # in [0, 1], the actions' scale: an L1 sees a permutation of it
        return (proprio.sum(-1) - 1 + seen)[:, None, None].expand(-1, CHUNK, 2)


@pytest.mark.parametrize("reads", [None, "obs", "goal"])
def test_the_shuffled_input_checks_read_zero_for_what_a_policy_ignores(demos, reads):
    from jepa.recipes.policy import action_errors

    chunks = DemonstrationChunks(demos, CHUNK, "val", val_shards=1)
    errors = action_errors(_ToyPolicy(reads), chunks, torch.device("cpu"), batch_size=16)
    moved = {
        name: abs(errors[name] - errors["action_l1"]) > 1e-5 for name in ("shuffled_frames_l1", "shuffled_goal_l1")
    }
    assert moved == {"shuffled_frames_l1": reads is not None, "shuffled_goal_l1": reads == "goal"}
    assert all(errors[name] == errors["action_l1"] for name, changed in moved.items() if not changed)  # exactly


@pytest.mark.slow
def test_torchrun_two_processes_train_act_jepa_as_one_process(demos, tmp_path):
    import subprocess
    import sys

    common = ["train", "experiment=act_jepa_two_rooms", *TINY_POLICY, f"data.root={demos}", f"method.chunk={CHUNK}"]
    common += ["train.steps=4", "eval.enabled=false", "data.num_workers=0"]
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    cli = [sys.executable, "-m", "jepa.cli"]
    subprocess.run([*cli, *common, f"run_dir={single}"], check=True, timeout=300, capture_output=True)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "jepa.cli"]
    result = subprocess.run([*torchrun, *common, f"run_dir={ddp}"], timeout=300, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]

    def losses(run_dir):
        return [json.loads(line)["loss"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]

    assert len(losses(ddp)) == 4 and losses(ddp) == pytest.approx(losses(single), rel=1e-4)
