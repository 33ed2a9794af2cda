"""The checks each command other than ``jepa train`` runs when it starts, before any work: values the types cannot
express, runs that must exist, environments that must be registered. Each error names its key."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from jepa.common.errors import ConfigError
from jepa.config.checks import check_choice, check_positive, check_threads
from jepa.config.store import AGENTS


def check_trained_run(key: str, run: str) -> None:
    if not (Path(run).expanduser() / "checkpoints" / "latest").exists():
        raise ConfigError(f"{key}={run} has no checkpoint: not a jepa train run directory, or not trained yet")


def check_eval(cfg: DictConfig) -> None:
    check_positive(cfg, "eval.batch_size", "eval.seeds")
    check_threads("threads", cfg.threads)
    check_trained_run("run", cfg.run)


def check_env(key: str, env_id: str) -> None:
    import gymnasium as gym

    import envs

    if env_id not in gym.registry:
        raise ConfigError(
            f"{key}={env_id!r} is not a registered environment; ours: {list(envs.ENV_IDS + envs.OPTIONAL_ENV_IDS)}"
        )


def check_collect(cfg: DictConfig) -> None:
    from envs.minari_export import minari_available
    from envs.policies import POLICIES

    check_positive(cfg, "episodes", "num_envs", "episodes_per_shard", "steps")
    check_choice("policy", cfg.policy, POLICIES)
    if not cfg.env.id:
        raise ConfigError("env is not set: pick one with env=two_rooms (or env.id=<a registered Gymnasium id>)")
    check_env("env.id", cfg.env.id)
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


def check_rollout(cfg: DictConfig) -> None:
    from jepa.planning import METRICS, PLANNERS, REDUCTIONS

    p = cfg.planner
    check_choice("agent", cfg.agent.name, AGENTS)
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
        check_trained_run("run", cfg.run)
    elif not cfg.env.id:
        raise ConfigError(f"agent={cfg.agent.name} needs an environment: set env=two_rooms (or env.id=...)")
    if cfg.env.id:
        check_env("env.id", cfg.env.id)
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


def check_compare(cfg: DictConfig) -> None:
    if not cfg.runs:
        raise ConfigError("runs=[] names no run; give runs=[runs/a,runs/b]")
    for run in cfg.runs:
        if not (Path(run) / "metrics.jsonl").is_file():
            raise ConfigError(f"runs: {run} has no metrics.jsonl (not a jepa train run directory)")


def check_export(cfg: DictConfig) -> None:
    check_trained_run("run", cfg.run)
    if not cfg.out.endswith(".safetensors"):
        raise ConfigError(f"out={cfg.out}: an exported encoder is a .safetensors file")


def check_embed(cfg: DictConfig) -> None:
    check_positive(cfg, "batch_size")
    if bool(cfg.file) == bool(cfg.run):
        raise ConfigError("give the encoder as file=<a jepa export file> or run=<a run directory>, one of the two")
    if cfg.run:
        check_trained_run("run", cfg.run)
    elif not Path(cfg.file).expanduser().is_file():
        raise ConfigError(f"file={cfg.file} is not a file")
    if not cfg.out.endswith(".npy"):
        raise ConfigError(f"out={cfg.out}: features are written as a .npy file")
