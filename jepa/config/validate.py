"""Value checks the type system cannot express, per command (each method's own come with its recipe); each error
names its key.

They run right after composition, before any data is read or written, so a bad config costs nothing.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable, Iterator
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from jepa.common.errors import ConfigError
from jepa.config.checks import check_choice, check_installed, check_pairs, check_positive, check_threads
from jepa.config.methods import METHODS, check_reads


def validate_train(cfg: DictConfig) -> None:
    """The sections every method shares, no value in a section the method does not read, then the method's own
    checks."""
    check_choice("method", cfg.method.name, METHODS)
    check_reads(cfg)
    check_choice("train.precision", cfg.train.precision, {"auto", "fp32", "bf16"})
    check_positive(cfg, "train.steps", "data.batch_size", "train.log_every", "train.checkpoint_every")
    check_positive(cfg, "train.monitor_every", "train.keep_checkpoints", "bench.clips", "bench.rounds")
    check_positive(cfg, "data.num_train", "data.num_val", "data.val_shards", "eval.seeds")
    check_pairs(cfg, "optim.betas", "optim.ema_momentum")
    check_choice("optim.ema_schedule", cfg.optim.ema_schedule, ("linear", "cosine"))
    check_threads("train.threads", cfg.train.threads)
    resume = cfg.train.resume
    if resume not in ("auto", "never", "force") and not Path(resume).expanduser().exists():
        raise ConfigError(
            f"train.resume={resume!r}: choose auto, never or force, or give an existing checkpoint, checkpoints "
            "directory or run directory"
        )
    if cfg.bench.reference_masks and not cfg.bench.reference:
        raise ConfigError("bench.reference_masks=true needs bench.reference=<a checkout of facebookresearch/ijepa>")
    METHODS[cfg.method.name].check(cfg)


# ---- the other commands ---------------------------------------------------------------------------------------
def _check_trained_run(key: str, run: str) -> None:
    if not (Path(run).expanduser() / "checkpoints" / "latest").exists():
        raise ConfigError(f"{key}={run} has no checkpoint: not a jepa train run directory, or not trained yet")


def validate_eval(cfg: DictConfig) -> None:
    check_positive(cfg, "eval.batch_size", "eval.seeds")
    check_threads("threads", cfg.threads)
    _check_trained_run("run", cfg.run)


def _check_env(key: str, env_id: str) -> None:
    import gymnasium as gym

    import envs

    if env_id not in gym.registry:
        raise ConfigError(
            f"{key}={env_id!r} is not a registered environment; ours: {list(envs.ENV_IDS + envs.OPTIONAL_ENV_IDS)}"
        )


def validate_collect(cfg: DictConfig) -> None:
    check_installed("gymnasium", "control", "jepa collect")
    from envs.minari_export import minari_available
    from envs.policies import POLICIES

    check_positive(cfg, "episodes", "num_envs", "episodes_per_shard", "steps")
    check_choice("policy", cfg.policy, POLICIES)
    if not cfg.env.id:
        raise ConfigError("env is not set: pick one with env=two_rooms (or env.id=<a registered Gymnasium id>)")
    _check_env("env.id", cfg.env.id)
    if cfg.minari and not minari_available():
        raise ConfigError("minari export needs the 'minari' extra: pip install 'jepa[minari]'")
    if cfg.policy == "waypoint" and cfg.env.id != "jepa/TwoRooms-v0":
        raise ConfigError(f"policy=waypoint drives Two-Rooms only, not env.id={cfg.env.id}")
    if cfg.policy == "expert":
        from envs.experts import EXPERTS

        check_choice("env.id (policy=expert)", cfg.env.id, EXPERTS)
    if cfg.action_noise < 0:
        raise ConfigError(f"action_noise={cfg.action_noise} must be >= 0")
    out = Path(cfg.out).expanduser()
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"out={cfg.out} is not empty; collect into a new directory")


def validate_rollout(cfg: DictConfig) -> None:
    check_installed("gymnasium", "control", "jepa rollout")
    from jepa.planning import METRICS, PLANNERS, REDUCTIONS

    p = cfg.planner
    check_choice("agent", cfg.agent.name, ("mpc", "policy", "expert", "random"))
    check_positive(cfg, "episodes", "max_steps", "planner.horizon", "planner.samples", "planner.elites")
    check_positive(cfg, "agent.execute")
    check_positive(cfg, "planner.iterations", "planner.temperature", "planner.lookahead")
    if p.link < 0:
        raise ConfigError(f"planner.link={p.link} must be >= 0 (0: no links between recorded episodes)")
    check_choice("planner", p.name, PLANNERS)
    check_choice("planner.metric", p.metric, METRICS)
    check_choice("planner.reduce", p.reduce, REDUCTIONS)
    check_threads("threads", cfg.threads)
    if p.elites > p.samples:
        raise ConfigError(f"planner.elites={p.elites} must not exceed planner.samples={p.samples}")
    if not 1 <= p.execute <= p.horizon:
        raise ConfigError(f"planner.execute={p.execute} must lie in [1, planner.horizon = {p.horizon}]")
    if p.settle < 0:
        raise ConfigError(f"planner.settle={p.settle} must be >= 0")
    if cfg.gifs < 0:
        raise ConfigError(f"gifs={cfg.gifs} must be >= 0")
    if cfg.agent.name in ("mpc", "policy"):
        if not cfg.run:
            what = "plans with a trained world model" if cfg.agent.name == "mpc" else "acts with a trained policy"
            raise ConfigError(f"agent={cfg.agent.name} {what}: set run=<its jepa train run directory>")
        _check_trained_run("run", cfg.run)
    elif not cfg.env.id:
        raise ConfigError(f"agent={cfg.agent.name} needs an environment: set env=two_rooms (or env.id=...)")
    if cfg.env.id:
        _check_env("env.id", cfg.env.id)
    if cfg.agent.name == "expert":
        from envs.experts import EXPERTS

        check_choice("env.id (agent=expert)", cfg.env.id, EXPERTS)
    if cfg.agent.name == "random":
        import gymnasium as gym

        env = gym.make(cfg.env.id)
        box = isinstance(env.action_space, gym.spaces.Box)
        env.close()
        if not box:
            raise ConfigError(f"agent=random samples continuous actions; env.id={cfg.env.id} has other actions")


def validate_compare(cfg: DictConfig) -> None:
    if not cfg.runs:
        raise ConfigError("runs=[] names no run; give runs=[runs/a,runs/b]")


def validate_export(cfg: DictConfig) -> None:
    _check_trained_run("run", cfg.run)
    if not cfg.out.endswith(".safetensors"):
        raise ConfigError(f"out={cfg.out}: an exported encoder is a .safetensors file")


def _keys(cfg: DictConfig, prefix: str = "") -> Iterator[tuple[str, bool]]:
    """(dotted key, declared) for every key below the typed sections of ``cfg``: declared when the section's
    schema has the field. Hydra's ``+key=value`` adds keys to a typed section without asking its schema."""
    fields = {f.name for f in dataclasses.fields(OmegaConf.get_type(cfg))}
    for key in cfg.keys():
        node, path, declared = cfg._get_node(key), f"{prefix}{key}", key in fields
        if not declared:
            while isinstance(node, DictConfig) and len(node):  # what was added: name its first leaf, trian.steps
                key = next(iter(node.keys()))
                node, path = node._get_node(key), f"{path}.{key}"
        yield path, declared
        if isinstance(node, DictConfig) and dataclasses.is_dataclass(OmegaConf.get_type(node)):
            yield from _keys(node, f"{path}.")


def nearest_key(key: str, command: str) -> str | None:
    """The declared key of ``command``'s config (any method's, for train) nearest to ``key``, or None."""
    from jepa.config.methods import load_methods
    from jepa.config.store import SCHEMAS

    declared = [path for path, _ in _keys(OmegaConf.structured(SCHEMAS[command]))]
    if command == "train":
        declared += [f"method.{f.name}" for m in load_methods().values() for f in dataclasses.fields(m.schema)]
    return _nearest(key, declared)


def _nearest(key: str, declared: list[str]) -> str | None:
    near = difflib.get_close_matches(key, declared, n=1, cutoff=0.75)
    return near[0] if near else None


def check_declared(cfg: DictConfig) -> None:
    """Refuse a key no schema declares (added with ``+key=value``, which Hydra itself suggests for a misspelt key),
    naming it and the nearest declared key."""
    keys = dict(_keys(cfg))
    unknown = [key for key, declared in keys.items() if not declared]
    if unknown:
        near = _nearest(unknown[0], [key for key, declared in keys.items() if declared])
        hint = f"; did you mean {near}?" if near else ""
        raise ConfigError(f"{unknown[0]} is not a key of this command's config (a + cannot add one){hint}")


def validate_embed(cfg: DictConfig) -> None:
    check_positive(cfg, "batch_size")
    if bool(cfg.file) == bool(cfg.run):
        raise ConfigError("give the encoder as file=<a jepa export file> or run=<a run directory>, one of the two")
    if cfg.run:
        _check_trained_run("run", cfg.run)
    elif not Path(cfg.file).expanduser().is_file():
        raise ConfigError(f"file={cfg.file} is not a file")
    if not cfg.out.endswith(".npy"):
        raise ConfigError(f"out={cfg.out}: features are written as a .npy file")


def validate(command: str, cfg: DictConfig) -> None:
    """Every key of ``command``'s config is declared, every key that must be given is set, and every value passes
    its checks."""
    check_declared(cfg)
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"{', '.join(missing)} must be set, e.g. jepa {command} {missing[0]}=...")
    VALIDATORS[command](cfg)


VALIDATORS: dict[str, Callable[[DictConfig], None]] = {
    "train": validate_train,
    "eval": validate_eval,
    "collect": validate_collect,
    "rollout": validate_rollout,
    "compare": validate_compare,
    "export": validate_export,
    "embed": validate_embed,
}
