"""Typed configuration of the commands besides ``jepa train``: eval, collect, rollout, export and compare."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from jepa.config.schema import EvalConfig


@dataclass
class EvalRunConfig:
    """``jepa eval run=DIR``: probe a finished run again, with its own saved config."""

    run: str = MISSING  # a `jepa train` run directory
    data_root: str = ""  # read the run's data from here instead of its saved data.root (data that moved)
    eval: EvalConfig = field(default_factory=EvalConfig)
    device: str = "auto"
    threads: int | None = None


@dataclass
class EnvConfig:
    """A registered Gymnasium environment id; ``env=<option>`` picks one of ours, ``env.id=...`` any other."""

    id: str = ""


@dataclass
class CollectConfig:
    """``jepa collect``: record episodes of an environment as trajectory shards."""

    env: EnvConfig = field(default_factory=EnvConfig)
    episodes: int = 100
    steps: int | None = None  # maximum steps per episode; None = the env's registered limit
    out: str = "data/trajectories"  # a new or empty directory
    seed: int = 0
    policy: str = "random"  # random | waypoint (Two-Rooms only) | expert (envs with a scripted expert)
    action_noise: float = 0.0  # Gaussian noise on every action, in half-ranges of the action space
    num_envs: int = 4
    episodes_per_shard: int = 50
    minari: str = ""  # also export as this Minari dataset id (needs the 'minari' extra)
    progress: bool = True


@dataclass
class AgentConfig:
    """Who acts: ``mpc`` plans in the latent space of the world model of ``run``; ``policy`` is the policy of ``run``
    (ACT-JEPA, ACT or BC); ``expert`` is the env's scripted expert; ``random`` samples the action space."""

    name: str = "mpc"
    execute: int | None = None  # policy: actions of each predicted chunk executed open-loop; None = the run's


@dataclass
class PlannerConfig:
    """The MPC agent's planner: CEM or MPPI over ``horizon`` model steps of ``frameskip`` env steps each."""

    name: str = "cem"  # cem | mppi
    horizon: int = 10  # model steps (each frameskip env steps): 50 env steps reach around the wall
    samples: int = 150  # half of DINO-WM's 300: replanning stays under 1 s on 2 CPU threads
    elites: int = 15
    iterations: int = 10
    temperature: float = 0.5  # mppi only
    metric: str = "l1"  # l1 | l2 distance to the goal latent (l2 squares it: a detour round the wall costs more)
    reduce: str = "sum"  # sum over the horizon (rewards getting there early) | final
    settle: float = 0.0  # weight of the last predicted step's latent change in the cost: plans that end at rest win
    hold: bool = True  # plan one action per model step, held for its frameskip env steps (else plan each one)
    execute: int = 1  # model steps executed before replanning
    subgoals: bool = True  # aim at subgoals along shortest paths through the run's recorded latents
    lookahead: float = 1.0  # subgoals: model steps along the path; nearer goals are aimed at directly
    link: float = 0.5  # subgoals: join recorded latents closer than this fraction of the median recorded step


@dataclass
class RolloutConfig:
    """``jepa rollout``: seeded episodes of an agent in an environment; success or return with 95 % intervals."""

    run: str = ""  # the `jepa train` run of a world model (agent=mpc) or a policy (agent=policy)
    env: EnvConfig = field(default_factory=EnvConfig)  # unset: the env the run's trajectories were collected in
    agent: AgentConfig = field(default_factory=AgentConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    episodes: int = 20
    seed: int = 0  # episode i resets the env with seed + i
    max_steps: int | None = None  # env steps per episode; None = the env's registered limit
    gifs: int = 3  # episodes saved as GIFs
    out: str = ""  # default: <run>/rollout_<planner>, or runs/rollout_<env>_<agent> without a run
    threads: int | None = None
    progress: bool = True


def rollout_out(cfg) -> str:
    """Where ``jepa rollout`` writes: ``out``, by default ``<run>/rollout_<planner>`` for a world model's MPC,
    ``<run>/rollout`` for a policy and ``runs/rollout_<env>_<agent>`` otherwise."""
    if cfg.out:
        return cfg.out
    if cfg.agent.name == "mpc":
        return f"{cfg.run}/rollout_{cfg.planner.name}"
    if cfg.agent.name == "policy":
        return f"{cfg.run}/rollout"
    return f"runs/rollout_{cfg.env.id.split('/')[-1]}_{cfg.agent.name}"


@dataclass
class ExportConfig:
    """``jepa export run=DIR out=FILE``: a run's encoder alone, in one safetensors file with its architecture."""

    run: str = MISSING
    out: str = "encoder.safetensors"


@dataclass
class EmbedConfig:
    """``jepa embed file=FILE inputs=...``: features of images, video files or sound files, one row per file."""

    inputs: Any = MISSING  # a file, a folder (its files of the encoder's modality, sorted) or a list [a.png,b.png]
    file: str = ""  # a `jepa export` file
    run: str = ""  # or a `jepa train` run directory, whose encoder is read as `jepa export` would write it
    out: str = "features.npy"  # (N, D) float32; beside it <out>.files.txt names the file of each row
    batch_size: int = 32
    device: str = "auto"


@dataclass
class CompareConfig:
    """``jepa compare runs=[a,b]``: overlay the training curves of several runs; for trainings of one recipe with
    different seeds, also their probe figures over the trainings with 95 % intervals (printed, and written beside
    ``out`` as JSON)."""

    runs: list[str] = MISSING
    out: str = "compare.png"
