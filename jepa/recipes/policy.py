"""The policy recipes: ACT-JEPA, ACT and behaviour cloning cloned from the demonstrations of a ``jepa collect``
directory, then checked on held-out episodes (action error; the future-state probe of the encoder beside a
random-init one) and in the env the demonstrations came from (seeded rollouts with 95 % intervals, GIFs)."""

from __future__ import annotations

import logging
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from omegaconf import DictConfig
from torch import nn
from torch.utils.data import DataLoader, Subset

import envs  # noqa: F401  (registers the environments the demonstrations came from)
from evals import format_table, future_state_probe, summarise_seeds, write_eval
from jepa.agents import PolicyAgent, run_episodes
from jepa.common.runtime import select_device
from jepa.data import DemonstrationChunks
from jepa.methods import ChunkPolicy
from jepa.methods.policy import masked_l1
from jepa.models import ContextEncoder, QueryDecoder
from jepa.recipes.registry import Recipe, load_run, register
from jepa.train.engine import TrainingSetup, to_device

log = logging.getLogger(__name__)
PROBE_COLUMNS = ["encoder", "rmse", "step_l2", "last_l2"]
ROLLOUT_SEED = 1000  # episode seeds from 1000 + train.seed on: apart from the seeds collection reset its envs with


def build_policy(cfg: DictConfig, facts: dict) -> ChunkPolicy:
    """The policy of ``method`` for the data ``facts`` describe: ``dims`` (image_size, action_dim, proprio_dim,
    goal) and ``normalisation`` (the action space's bounds, the training states' mean and std)."""
    m, dims = cfg.method, facts["dims"]
    encoder = ContextEncoder(dims["image_size"], m.patch_size, dims["proprio_dim"], m.embed_dim, m.depth, m.num_heads)
    decoder = QueryDecoder(m.chunk, m.embed_dim, m.embed_dim, dims["action_dim"], m.decoder_depth, m.num_heads)
    predictor, latent = None, {}
    if m.name == "act_jepa":
        predictor = QueryDecoder(
            m.chunk, m.predictor_dim, m.embed_dim, m.embed_dim, m.predictor_depth, m.predictor_heads
        )
        latent = {"latent_target": m.latent_target, "latent_weight": m.latent_weight}
    normalisation = {key: torch.tensor(value) for key, value in facts["normalisation"].items()}
    inputs = {"goal_conditioned": dims["goal"], "proprio_input": m.proprio_input}
    return ChunkPolicy(encoder, decoder, predictor, **inputs, **normalisation, **latent)


def _demonstrations(cfg: DictConfig, split: str, chunk: int, frames: bool = False) -> DemonstrationChunks:
    return DemonstrationChunks(cfg.data.root, chunk, split, cfg.data.val_shards, frames=frames)


def _facts(demos: DemonstrationChunks) -> dict:
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
    return TrainingSetup(build_policy(cfg, facts), demos, facts=facts)


def _probe_set(cfg: DictConfig, split: str) -> Subset:
    """Up to ``method.probe_samples`` steps of ``split`` with ``probe_horizon`` real steps ahead (seeded)."""
    demos = _demonstrations(cfg, split, cfg.method.probe_horizon)
    full = np.flatnonzero(demos.index[:, 4] >= cfg.method.probe_horizon)
    keep = np.random.default_rng(cfg.train.seed).permutation(full)[: cfg.method.probe_samples]
    return Subset(demos, np.sort(keep).tolist())


@torch.no_grad()
def _tokens_and_changes(
    policy: ChunkPolicy, steps: Subset, device: torch.device, batch_size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The frozen encoder's context tokens (N, T, D) and the true state changes ahead (N, K, S)."""
    tokens, changes = [], []
    for batch in DataLoader(steps, batch_size=batch_size):
        tokens.append(policy.context(to_device(batch, device)).cpu())
        changes.append(batch["future_states"] - batch["proprio"][:, None])
    return torch.cat(tokens), torch.cat(changes)


@torch.no_grad()
def _action_error(policy: ChunkPolicy, steps: Subset, device: torch.device, batch_size: int) -> float:
    """Mean |predicted - demonstrated| action component over the held-out steps' chunks (each step's valid actions
    averaged first), in env units."""
    total = 0.0
    for batch in DataLoader(steps, batch_size=batch_size):
        batch = to_device(batch, device)
        predicted = policy.act(batch["obs"], batch["proprio"], batch.get("goal"))
        total += masked_l1(predicted, batch["actions"], batch["valid"]).item() * len(predicted)
    return total / len(steps)


def future_state_rows(cfg: DictConfig, policy: ChunkPolicy, facts: dict, device: torch.device) -> list[list[dict]]:
    """Per probe seed, the future-state probe of the policy's frozen encoder and of a random-init policy's."""
    train_steps, val_steps = _probe_set(cfg, "train"), _probe_set(cfg, "val")
    batch_size, epochs = cfg.eval.batch_size, cfg.method.probe_epochs

    def features(model: ChunkPolicy) -> tuple[torch.Tensor, ...]:
        return (
            *_tokens_and_changes(model, train_steps, device, batch_size),
            *_tokens_and_changes(model, val_steps, device, batch_size),
        )

    trained = features(policy)
    rows_per_seed = []
    for seed in range(cfg.eval.seeds):
        torch.manual_seed(cfg.train.seed + 1000 + seed)
        encoders = {cfg.method.name: trained, "random_init": features(build_policy(cfg, facts).eval().to(device))}
        rows_per_seed.append(
            [
                {"encoder": name, **future_state_probe(*data, epochs=epochs, seed=seed, device=device)}
                for name, data in encoders.items()
            ]
        )
    return rows_per_seed


def evaluate(cfg: DictConfig, policy: ChunkPolicy, facts: dict) -> dict:
    """Held-out action error, the future-state probe over ``eval.seeds`` seeds and ``method.rollouts`` seeded
    episodes; writes ``eval.json`` (and the rollout's files under ``rollout/``) and prints them."""
    device = select_device(cfg.train.device)
    policy.eval().to(device)
    run_dir = Path(cfg.run_dir)
    val_steps = _demonstrations(cfg, "val", cfg.method.chunk)
    results: dict = {"val_action_l1": _action_error(policy, val_steps, device, cfg.eval.batch_size)}
    rows_per_seed = future_state_rows(cfg, policy, facts, device)
    results |= {"rows": summarise_seeds(rows_per_seed), "rows_per_seed": rows_per_seed}
    print(f"\nheld-out action error (mean |a - a_demo| per component): {results['val_action_l1']:.4f}")
    print(f"future-state probe ({cfg.method.probe_horizon} steps ahead, state units, held-out episodes):")
    print(format_table(results["rows"], PROBE_COLUMNS))
    if cfg.method.rollouts:
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
        raise ValueError(f"{cfg.run_dir} trained method={cfg.method.name}, not a policy (act_jepa, act or bc)")
    return PolicyAgent(method, cfg.method.execute if execute is None else execute)


def load_policy(run_dir: str | Path, execute: int | None = None) -> PolicyAgent:
    """The trained policy of a ``jepa train`` run (ACT-JEPA, ACT or BC) as an agent, ready for
    :func:`jepa.agents.run_episodes` or a loop of your own; ``execute`` overrides the run's ``method.execute``."""
    cfg, method, _ = load_run(run_dir)
    return policy_agent(cfg, method, execute)


for _name in ("act_jepa", "act", "bc"):
    register(_name, Recipe(build=build, rebuild=build_policy, evaluate=evaluate))
