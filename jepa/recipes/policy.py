"""The policy recipes: ACT-JEPA, ACT and behaviour cloning cloned from the demonstrations of a ``jepa collect``
directory, then checked on held-out episodes and in the env the demonstrations came from (seeded rollouts with
95 % intervals, GIFs).

The held-out checks say what a policy reads, for the trained policy and a random-init one of the same
architecture: the action error with the inputs intact, with the frames (observation and goal image together)
shuffled across samples and with the goal images alone shuffled (a policy that ignores them scores the same); a
probe of the goal (R² of its state) and the future-state probe, both from the frozen context tokens."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from evals import attentive_regression, format_table, future_state_probe, summarise_seeds, write_eval
from evals.probes import r2_score
from evals.shortcuts import shuffle_across_samples
from jepa.common.errors import ConfigError
from jepa.common.runtime import select_device
from jepa.config.checks import check_choice, check_installed, check_positive
from jepa.data import DemonstrationChunks
from jepa.methods import ChunkPolicy
from jepa.methods.policy import LATENT_TARGETS, masked_l1
from jepa.models import ContextEncoder, QueryDecoder
from jepa.models.style_encoder import StyleEncoder
from jepa.recipes.registry import Recipe, load_run, register
from jepa.train.engine import TrainingSetup, to_device


@dataclass
class PolicyConfig:
    """A chunked policy cloned from the demonstrations of a ``jepa collect`` directory (``data.root``): ACT (method=act)
    and single-step behaviour cloning (method=bc, ``chunk`` 1). The context encoder reads [proprio state, frame
    patches, goal-image patches]; ``chunk`` learned queries decode the next actions."""

    name: str = "act"
    chunk: int = 8  # actions predicted per step, executed open-loop
    proprio_input: bool = True  # the true state as an input token; false: act from the frame (and goal image) alone
    # share of training samples whose proprio token carries no state, so the frames must be read to act
    proprio_dropout: float = 0.0
    # frames minus the training frames' mean frame, over their std, as the proprio state is standardised
    standardise_frames: bool = True
    cvae: bool = False  # ACT's CVAE: a style latent inferred from the demonstrated chunk, zero at inference
    latent_dim: int = 32  # cvae: the style latent's size (ACT's)
    kl_weight: float = 10.0  # cvae: the KL term's weight beside the action L1 (ACT's)
    patch_size: int = 16  # the frame's patches (conv stem): 64 px -> 16 tokens
    embed_dim: int = 128
    depth: int = 3  # context-encoder blocks
    num_heads: int = 4
    decoder_depth: int = 2  # action-decoder blocks
    execute: int = 0  # actions of each chunk executed before the next observation; 0 = the whole chunk
    probe_horizon: int = 8  # future-state probe: steps ahead whose states are regressed (the same for every method)
    probe_samples: int = 4000  # future-state probe: steps drawn per split (train episodes to fit, held-out to score)
    probe_epochs: int = 4
    rollouts: int = 50  # seeded episodes in the env after training (success or return with 95 % intervals); 0 = none


@dataclass
class BCConfig(PolicyConfig):
    """Single-step behaviour cloning: the same policy, one action per observation."""

    name: str = "bc"
    chunk: int = 1


@dataclass
class ACTJEPAConfig(PolicyConfig):
    """ACT-JEPA: ACT plus a narrow predictor of the EMA encoder's embeddings of the chunk's future states."""

    name: str = "act_jepa"
    predictor_dim: int = 64
    predictor_depth: int = 2
    predictor_heads: int = 4
    latent_target: str = "states"  # states (the authors' code) | frames (the future observations)
    latent_weight: float = 1.0  # the latent L1's weight beside the action L1 (1:1 in the paper)


def check(cfg: DictConfig) -> None:
    """ACT-JEPA, ACT and behaviour cloning: a chunked policy on the demonstrations of a `jepa collect` directory."""
    m = cfg.method
    check_installed("gymnasium", "control", f"method={m.name} (its action space and rollouts)")
    if cfg.data.name != "trajectories":
        raise ConfigError(
            f"data.name={cfg.data.name}: method={m.name} learns from demonstrations; set data=trajectories "
            "data.root=<a `jepa collect ... policy=expert` directory>"
        )
    check_positive(cfg, "method.chunk", "method.embed_dim", "method.depth", "method.num_heads")
    check_positive(cfg, "method.decoder_depth", "method.probe_horizon", "method.probe_epochs", "method.probe_samples")
    if m.rollouts < 0:
        raise ConfigError(f"method.rollouts={m.rollouts} must be >= 0 (0 = no rollouts after training)")
    if not 0 <= m.proprio_dropout < 1:
        raise ConfigError(f"method.proprio_dropout={m.proprio_dropout} must lie in [0, 1)")
    if m.cvae:
        check_positive(cfg, "method.latent_dim")
        if m.kl_weight < 0:
            raise ConfigError(f"method.kl_weight={m.kl_weight} must be >= 0")
    if m.name == "bc" and m.chunk != 1:
        raise ConfigError(f"method.chunk={m.chunk}: behaviour cloning predicts one action; use method=act for chunks")
    if not 0 <= m.execute <= m.chunk:
        raise ConfigError(f"method.execute={m.execute} must lie in [0 (the whole chunk), method.chunk = {m.chunk}]")
    if m.embed_dim % (4 * m.num_heads):
        raise ConfigError(f"method.embed_dim={m.embed_dim} must be a multiple of 4 * method.num_heads")
    if m.patch_size < 2 or m.patch_size & (m.patch_size - 1) or cfg.data.image_size % m.patch_size:
        raise ConfigError(f"method.patch_size={m.patch_size} must be a power of two >= 2 dividing data.image_size")
    if m.name == "act_jepa":
        check_choice("method.latent_target", m.latent_target, LATENT_TARGETS)
        check_positive(cfg, "method.predictor_dim", "method.predictor_depth", "method.predictor_heads")
        if m.predictor_dim % m.predictor_heads:
            raise ConfigError(f"method.predictor_dim={m.predictor_dim} must be a multiple of method.predictor_heads")
        if m.latent_weight < 0:
            raise ConfigError(f"method.latent_weight={m.latent_weight} must be >= 0")


if TYPE_CHECKING:
    from jepa.agents import PolicyAgent

log = logging.getLogger(__name__)
CHECK_COLUMNS = ["encoder", "action_l1", "shuffled_frames_l1", "shuffled_goal_l1", "goal_r2"]
PROBE_COLUMNS = ["encoder", "rmse", "step_l2", "last_l2"]
FRAMES, GOAL = ("obs", "goal"), ("goal",)  # what the shuffled checks permute across samples
ROLLOUT_SEED = 1000  # episode seeds from 1000 + train.seed on: apart from the seeds collection reset its envs with


def build_policy(cfg: DictConfig, facts: dict) -> ChunkPolicy:
    """The policy of ``method`` for the data ``facts`` describe: ``dims`` (image_size, action_dim, proprio_dim,
    goal) and ``normalisation`` (the action space's bounds, the training states' mean and std). Its frame
    statistics start at mean 0 and std 1: :func:`build` measures them, a checkpoint restores them."""
    m, dims = cfg.method, facts["dims"]
    encoder = ContextEncoder(dims["image_size"], m.patch_size, dims["proprio_dim"], m.embed_dim, m.depth, m.num_heads)
    decoder = QueryDecoder(m.chunk, m.embed_dim, m.embed_dim, dims["action_dim"], m.decoder_depth, m.num_heads)
    predictor, style, latent = None, None, {}
    if m.name == "act_jepa":
        predictor = QueryDecoder(
            m.chunk, m.predictor_dim, m.embed_dim, m.embed_dim, m.predictor_depth, m.predictor_heads
        )
        latent = {"latent_target": m.latent_target, "latent_weight": m.latent_weight}
    if m.cvae:
        style = StyleEncoder(
            dims["action_dim"], dims["proprio_dim"], m.embed_dim, m.depth, m.num_heads, m.latent_dim, m.embed_dim
        )
    normalisation = {key: torch.tensor(value) for key, value in facts["normalisation"].items()}
    frames = {"frame_mean": torch.zeros(3, dims["image_size"], dims["image_size"]), "frame_std": torch.ones(())}
    inputs = {"goal_conditioned": dims["goal"], "proprio_input": m.proprio_input, "proprio_dropout": m.proprio_dropout}
    return ChunkPolicy(
        encoder, decoder, predictor, style, **inputs, **normalisation, **frames, **latent, kl_weight=m.kl_weight
    )


def random_init_like(cfg: DictConfig, policy: ChunkPolicy, facts: dict) -> ChunkPolicy:
    """A random-init policy of ``policy``'s architecture that reads its inputs as ``policy`` does (the same
    normalisation buffers), in eval mode on the same device."""
    fresh = build_policy(cfg, facts)
    fresh.load_state_dict(dict(policy.named_buffers()), strict=False)
    return fresh.eval().to(policy.frame_mean.device)


def _demonstrations(cfg: DictConfig, split: str, chunk: int, frames: bool = False) -> DemonstrationChunks:
    return DemonstrationChunks(cfg.data.root, chunk, split, cfg.data.val_shards, frames=frames)


def _facts(demos: DemonstrationChunks) -> dict:
    # Gymnasium (the 'control' extra, checked with the config) only where a policy meets its env
    import gymnasium as gym

    import envs  # noqa: F401  (registers the environments the demonstrations came from)

    env = gym.make(demos.meta["env"])
    space = env.action_space
    env.close()
    sample, states = demos[0], demos.states
    return {
        "env": demos.meta["env"],
        "dims": {
            "image_size": sample["obs"].shape[-1],
            "action_dim": sample["actions"].shape[-1],
            "proprio_dim": sample["proprio"].shape[-1],
            "goal": demos.has_goal,
        },
        "normalisation": {
            "action_low": space.low.tolist(),
            "action_high": space.high.tolist(),
            "proprio_mean": states.mean(0).tolist(),
            "proprio_std": states.std(0).tolist(),
        },
    }


def build(cfg: DictConfig, run_dir: Path) -> TrainingSetup:
    m = cfg.method
    demos = _demonstrations(cfg, "train", m.chunk, frames=m.name == "act_jepa" and m.latent_target == "frames")
    facts = _facts(demos)
    episodes = sum(len(shard["episode_lengths"]) for shard in demos.shards)
    log.info("cloning %d steps of %d episodes of %s", len(demos), episodes, facts["env"])
    policy = build_policy(cfg, facts)
    if m.standardise_frames:
        mean, std = demos.frame_statistics(seed=cfg.train.seed)
        policy.frame_mean.copy_(mean), policy.frame_std.copy_(std)
    return TrainingSetup(policy, demos, facts=facts)


def _probe_set(cfg: DictConfig, split: str) -> Subset:
    """Up to ``method.probe_samples`` steps of ``split`` with ``probe_horizon`` real steps ahead (seeded)."""
    demos = _demonstrations(cfg, split, cfg.method.probe_horizon)
    full = np.flatnonzero(demos.index[:, 4] >= cfg.method.probe_horizon)
    keep = np.random.default_rng(cfg.train.seed).permutation(full)[: cfg.method.probe_samples]
    return Subset(demos, np.sort(keep).tolist())


@torch.no_grad()
def _tokens_and_targets(
    policy: ChunkPolicy, steps: Subset, device: torch.device, batch_size: int
) -> dict[str, torch.Tensor]:
    """The frozen encoder's context tokens (N, T, D), the true state changes ahead (N, K, S) and, when the
    collection records them, the goal states (N, G)."""
    out: dict[str, list] = {"tokens": [], "changes": [], "goals": []}
    for batch in DataLoader(steps, batch_size=batch_size):
        out["tokens"].append(policy.context(to_device(batch, device)).cpu())
        out["changes"].append(batch["future_states"] - batch["proprio"][:, None])
        if "goal_state" in batch:
            out["goals"].append(batch["goal_state"])
    return {key: torch.cat(values) for key, values in out.items() if values}


@torch.no_grad()
def action_errors(
    policy: ChunkPolicy, steps: Dataset, device: torch.device, batch_size: int, seed: int = 0
) -> dict[str, float]:
    """Mean |predicted - demonstrated| action component over the held-out steps' chunks (each step's valid actions
    averaged first), in env units: ``action_l1`` with the inputs intact, ``shuffled_frames_l1`` with the
    observations and goal images permuted across the samples of each batch (together), ``shuffled_goal_l1`` (goal-
    conditioned policies) with the goal images alone permuted. A policy that does not read an input scores the same
    with it shuffled."""
    checks = {"action_l1": (), "shuffled_frames_l1": FRAMES}
    if policy.goal_conditioned:
        checks["shuffled_goal_l1"] = GOAL
    totals, generator = dict.fromkeys(checks, 0.0), torch.Generator().manual_seed(seed)
    for batch in DataLoader(steps, batch_size=batch_size):
        batch = to_device(batch, device)
        for name, keys in checks.items():
            inputs = shuffle_across_samples(batch, keys, generator)
            predicted = policy.act(inputs["obs"], inputs["proprio"], inputs.get("goal"))
            totals[name] += masked_l1(predicted, batch["actions"], batch["valid"]).item() * len(predicted)
    return {name: total / len(steps) for name, total in totals.items()}


def probe_rows(cfg: DictConfig, policy: ChunkPolicy, facts: dict, device: torch.device) -> list[list[dict]]:
    """Per probe seed, one row for the trained policy and one for a random-init policy of the same architecture:
    the held-out action errors (:func:`action_errors`), the goal probe's R² (when the collection records the goal
    states) and the future-state probe's errors, all from the frozen context tokens."""
    train_steps, val_steps = _probe_set(cfg, "train"), _probe_set(cfg, "val")
    val_chunks = _demonstrations(cfg, "val", cfg.method.chunk)
    batch_size, epochs = cfg.eval.batch_size, cfg.method.probe_epochs

    def tokens(model: ChunkPolicy) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        return tuple(_tokens_and_targets(model, steps, device, batch_size) for steps in (train_steps, val_steps))

    def row(model: ChunkPolicy, data: tuple[dict[str, torch.Tensor], ...], seed: int) -> dict:
        train, val = data
        figures = action_errors(model, val_chunks, device, batch_size, seed)
        if "goals" in train:
            predicted = attentive_regression(
                train["tokens"], train["goals"], val["tokens"], epochs=epochs, seed=seed, device=device
            )
            figures["goal_r2"] = r2_score(predicted.double(), val["goals"].double())
        changes = (train["tokens"], train["changes"], val["tokens"], val["changes"])
        return figures | future_state_probe(*changes, epochs=epochs, seed=seed, device=device)

    trained, rows_per_seed = tokens(policy), []
    for seed in range(cfg.eval.seeds):
        torch.manual_seed(cfg.train.seed + 1000 + seed)
        random_init = random_init_like(cfg, policy, facts)
        rows = {cfg.method.name: row(policy, trained, seed), "random_init": row(random_init, tokens(random_init), seed)}
        rows_per_seed.append([{"encoder": name, **figures} for name, figures in rows.items()])
    return rows_per_seed


def evaluate(cfg: DictConfig, policy: ChunkPolicy, facts: dict) -> dict:
    """The held-out checks of :func:`probe_rows` over ``eval.seeds`` seeds and ``method.rollouts`` seeded episodes;
    writes ``eval.json`` (and the rollout's files under ``rollout/``) and prints them."""
    device = select_device(cfg.train.device)
    policy.eval().to(device)
    run_dir = Path(cfg.run_dir)
    rows_per_seed = probe_rows(cfg, policy, facts, device)
    results: dict = {"rows": summarise_seeds(rows_per_seed), "rows_per_seed": rows_per_seed}
    results["val_action_l1"] = results["rows"][0]["action_l1"]
    if "goal_r2" not in results["rows"][0]:
        log.info("%s records no goal states (collected before they were): no goal probe", cfg.data.root)
    print("\nheld-out action error (mean |a - a_demo| per component), intact and with inputs shuffled across samples;")
    print("goal probe (R² of the goal state from the frozen context tokens):")
    print(format_table(results["rows"], [c for c in CHECK_COLUMNS if c in results["rows"][0]]))
    print(f"future-state probe ({cfg.method.probe_horizon} steps ahead, state units, held-out episodes):")
    print(format_table(results["rows"], PROBE_COLUMNS))
    if cfg.method.rollouts:
        from jepa.agents import PolicyAgent, run_episodes

        agent = PolicyAgent(policy, cfg.method.execute)
        seed, out = ROLLOUT_SEED + cfg.train.seed, run_dir / "rollout"
        rollout = run_episodes(
            facts["env"], agent, episodes=cfg.method.rollouts, seed=seed, out=out, progress=cfg.train.progress
        )
        results["rollout"] = rollout["summary"]
    write_eval(results, run_dir / "eval.json")
    print(f"wrote {run_dir / 'eval.json'}")
    return results


def policy_agent(cfg: DictConfig, method: nn.Module, execute: int | None = None) -> PolicyAgent:
    """The trained method of a run (``cfg`` its saved config) as an agent; refuses methods that are not policies."""
    if not isinstance(method, ChunkPolicy):
        raise ConfigError(
            f"run={cfg.run_dir} trained method={cfg.method.name}, not a policy: agent=policy needs an act_jepa, act "
            "or bc run"
        )
    from jepa.agents import PolicyAgent

    return PolicyAgent(method, cfg.method.execute if execute is None else execute)


def load_policy(run_dir: str | Path, execute: int | None = None) -> PolicyAgent:
    """The trained policy of a ``jepa train`` run (ACT-JEPA, ACT or BC) as an agent, ready for
    :func:`jepa.agents.run_episodes` or a loop of your own; ``execute`` overrides the run's ``method.execute``."""
    cfg, method, _ = load_run(run_dir)
    return policy_agent(cfg, method, execute)


for _config in (ACTJEPAConfig, PolicyConfig, BCConfig):  # the policy reads no model, mask, regularizer or views
    register(Recipe(_config, (), check, build, build_policy, evaluate))
