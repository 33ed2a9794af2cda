"""Typed ``key=value`` settings of ``jepa wm-train`` and ``jepa plan``; each check names its key."""

from __future__ import annotations

from dataclasses import dataclass

from jepa.common.errors import ConfigError
from jepa.losses import PREDICTION_LOSSES
from jepa.planning import METRICS, PLANNERS, REDUCTIONS


def _positive(cfg: object, *keys: str) -> None:
    for key in keys:
        if getattr(cfg, key) <= 0:
            raise ConfigError(f"{key} must be positive, got {getattr(cfg, key)}")


def _choice(key: str, value: str, choices) -> None:
    if value not in choices:
        raise ConfigError(f"{key} must be one of {tuple(choices)}, got {value!r}")


@dataclass(frozen=True)
class WorldModelTrainConfig:
    data: str = "data/two_rooms"  # a `jepa collect` directory
    out: str = "runs/world_model"
    steps: int = 2400  # ~17 min on 2 CPU threads for Two-Rooms
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: int = 100
    clip_grad: float = 1.0
    seed: int = 0
    frameskip: int = 5  # env steps per model step
    window: int = 9  # model steps per training window (observations)
    rollout_steps: int = 8  # autoregressive steps in the rollout loss, <= window - 1: as far as plans look
    loss: str = "l1"  # l1 | l2 | smooth_l1
    encoder: str = ""  # a `jepa train` run directory: its frozen encoder; empty = a ConvEncoder trained jointly
    encoder_pool: int = 2  # frozen encoder: patch tokens average-pooled to an encoder_pool x encoder_pool grid
    latent_dim: int = 2  # ConvEncoder: the position; VCR needs 4 (with 2 a "which room" bit meets its hinge)
    encoder_hidden: int = 128  # ConvEncoder: MLP width from its keypoints to the latent; 0 = an affine map
    predictor_dim: int = 128
    predictor_depth: int = 3
    predictor_heads: int = 4
    regularizer: str = "sigreg"  # sigreg | vcr: keeps the jointly trained encoder from collapsing
    var_weight: float = 10.0  # VCR on the jointly trained encoder; at 1 the prediction losses won and collapsed it
    cov_weight: float = 0.4
    sigreg_weight: float = 0.02  # lambda of SIGReg (LeJEPA: 0.02-0.1); 0.1 closed the wall's gap in the latent
    proprio: bool = False  # give the predictor the true state as a proprio token
    val_shards: int = 1  # held-out shards (whole episodes) for validation losses and the position probe
    probe_frames: int = 4000  # frames per split for the position probe
    precision: str = "fp32"  # fp32 | bf16 | auto
    threads: int | None = None  # torch intra-op threads; None = torch's default
    log_every: int = 50
    progress: bool = True

    def __post_init__(self):
        _positive(self, "steps", "batch_size", "lr", "clip_grad", "frameskip", "latent_dim", "log_every")
        _positive(self, "predictor_dim", "predictor_depth", "predictor_heads", "val_shards", "probe_frames")
        _positive(self, "encoder_pool")
        if self.encoder_hidden < 0:
            raise ConfigError(f"encoder_hidden must be >= 0 (0 = affine), got {self.encoder_hidden}")
        if self.window < 2:
            raise ConfigError(f"window must be >= 2 (one step to predict), got {self.window}")
        if not 0 <= self.rollout_steps < self.window:
            raise ConfigError(f"rollout_steps must be in [0, window - 1 = {self.window - 1}], got {self.rollout_steps}")
        if self.predictor_dim % (2 * self.predictor_heads):
            raise ConfigError(f"predictor_dim must be a multiple of 2 * predictor_heads, got {self.predictor_dim}")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"threads must be >= 1 or none, got {self.threads}")
        _choice("loss", self.loss, PREDICTION_LOSSES)
        _choice("regularizer", self.regularizer, ("vcr", "sigreg"))
        _choice("precision", self.precision, ("fp32", "bf16", "auto"))


@dataclass(frozen=True)
class PlanConfig:
    run: str = "runs/world_model"  # a `jepa wm-train` run directory
    out: str = ""  # default: <run>/plan_<planner>
    episodes: int = 20
    seed: int = 0  # episode i resets Two-Rooms with seed + i (start and goal in different rooms)
    planner: str = "cem"  # cem | mppi
    horizon: int = 8  # model steps (each frameskip env steps): 40 env steps reach around the wall
    samples: int = 150  # half of DINO-WM's 300: replanning stays under 1 s on 2 CPU threads
    elites: int = 15
    iterations: int = 10
    temperature: float = 0.5  # mppi only
    metric: str = "l1"  # l1 | l2 distance to the goal latent (l2 squares it: a detour round the wall costs more)
    reduce: str = "sum"  # sum over the horizon (rewards getting there early) | final
    hold: bool = True  # plan one action per model step, held for its frameskip env steps (else plan each one)
    execute: int = 1  # model steps executed before replanning
    max_steps: int = 100  # env steps per episode
    gifs: int = 3  # episodes saved as GIFs
    threads: int | None = None

    def __post_init__(self):
        _positive(self, "episodes", "horizon", "samples", "elites", "iterations", "temperature", "max_steps")
        _choice("planner", self.planner, PLANNERS)
        _choice("metric", self.metric, METRICS)
        _choice("reduce", self.reduce, REDUCTIONS)
        if self.elites > self.samples:
            raise ConfigError(f"elites ({self.elites}) must not exceed samples ({self.samples})")
        if not 1 <= self.execute <= self.horizon:
            raise ConfigError(f"execute must be in [1, horizon = {self.horizon}], got {self.execute}")
        if self.gifs < 0 or (self.threads is not None and self.threads < 1):
            raise ConfigError("gifs must be >= 0 and threads >= 1 or none")
