"""Typed configuration. Every key is declared here, so a misspelt override fails before any work."""

from __future__ import annotations

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

from jepa.common.errors import ConfigError


@dataclass
class ModelConfig:
    name: str = "vit_tiny"  # a preset of jepa.models.MODEL_SIZES
    patch_size: int = 8
    tubelet_size: int = 2  # video: frames per token (the tubelet is tubelet_size x patch_size x patch_size)
    in_chans: int = 3
    embed_dim: int | None = None  # None = the preset's
    depth: int | None = None
    num_heads: int | None = None
    predictor_dim: int = 96
    predictor_depth: int = 6
    predictor_heads: int = 3
    attn_backend: str = "sdpa"  # sdpa | xformers
    patch_embed: str = "linear"  # linear (one strided conv, as ViT) | conv (3x3 convolutional stem, 2D only)


@dataclass
class MaskConfig:
    kind: str = "multiblock"  # multiblock (2D, I-JEPA) | multiblock3d (video, V-JEPA) | time_frequency (audio, A-JEPA)
    num_targets: int = 4  # multiblock
    target_scale: list[float] = field(default_factory=lambda: [0.15, 0.2])  # multiblock
    target_aspect: list[float] = field(default_factory=lambda: [0.75, 1.5])  # both: block aspect h/w
    context_scale: list[float] = field(default_factory=lambda: [0.85, 1.0])  # multiblock
    min_keep: int = 4  # both: context tokens every sample keeps
    allow_overlap: bool = False  # multiblock
    # multiblock3d: one entry per mask generator (default: V-JEPA's short-range and long-range)
    num_blocks: list[int] = field(default_factory=lambda: [8, 2])
    spatial_scale: list[float] = field(default_factory=lambda: [0.15, 0.7])  # share of H' x W' per block
    temporal_scale: list[float] = field(default_factory=lambda: [1.0, 1.0])  # share of T' per block
    # time_frequency: with a probability rising with the step, stripes (time spans across all mel bands, or mel
    # bands across all time) as targets; otherwise the multiblock targets above
    stripe_targets: int = 3
    stripe_scale: list[float] = field(default_factory=lambda: [0.05, 0.075])  # share of the grid per stripe
    curriculum_start: float = 0.01  # probability of stripes at step 0 (c0); rises as a root to 1 at train.steps


@dataclass
class DataConfig:
    # images: shapes | folder | digits | trajectories; video: moving_shapes | video_folder;
    # audio: sounds | spoken_digits (needs espeak-ng) | audio_folder
    name: str = "shapes"
    # where generated data is written, or the user's image/video/audio folder or index, or a `jepa collect` directory
    root: str = "~/.cache/jepa/data"
    image_size: int = 64  # side of the square images, or of the video frames
    num_train: int = 4000  # shapes, moving_shapes, sounds, spoken_digits: samples generated; trajectories: frames drawn
    num_val: int = 1000
    val_shards: int = 1  # trajectories: the last val_shards shards (whole episodes) are the val split
    frames_per_clip: int = 8  # video: frames per clip (the encoder's number of frames)
    frame_step: int = 1  # video: take every frame_step-th frame
    video_frames: int = 16  # moving_shapes: length of each generated video
    video_backend: str = "decord"  # video: decord | torchcodec
    clip_frames: int = 128  # audio: log-mel frames per clip, one per 10 ms (128 = 1.3 s); a multiple of patch_size
    random_crop: bool = False  # audio: train on clips cut at random places (replayed on resume); probes take the centre
    seed: int = 0  # generation seed of the synthetic data (independent of train.seed)
    batch_size: int = 64  # global batch, split over ranks
    num_workers: int = 1


@dataclass
class OptimConfig:
    lr: float = 1e-3
    start_lr: float = 2e-4
    final_lr: float = 1e-6
    warmup_steps: int = 100
    weight_decay: float = 0.04
    final_weight_decay: float = 0.4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    ema_momentum: list[float] = field(default_factory=lambda: [0.996, 1.0])
    clip_grad: float | None = 10.0  # max global grad norm; None disables
    loss: str = "smooth_l1"  # smooth_l1 | l1 | l2


@dataclass
class RegularizerConfig:
    """Anti-collapse term added to the prediction loss, on the context encoder's outputs."""

    name: str = "none"  # none | vcr | sigreg
    var_weight: float = 1.0  # vcr: weight of the variance hinge
    cov_weight: float = 0.04  # vcr: weight of the covariance penalty (VICReg's 25:1 ratio)
    sigreg_weight: float = 0.05  # sigreg: lambda (LeJEPA: 0.02-0.1)
    sigreg_slices: int = 256  # sigreg: random 1-D projections per step
    online_target: bool = False  # LeJEPA mode: no EMA target and no stop-gradient (needs a regularizer)
    # deliberate ablation: accept online_target with name=none, a run meant to collapse (a control, not a method)
    allow_collapse: bool = False


@dataclass
class TrainConfig:
    steps: int = 1000
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:1 | mps
    precision: str = "auto"  # auto | fp32 | bf16
    compile: bool = False  # torch.compile every transformer block (dynamic shapes)
    threads: int | None = None  # torch intra-op threads; None = torch's default
    log_every: int = 10
    monitor_every: int = 50  # RankMe / feature-std collapse monitors
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    resume: str = "auto"  # auto | never | <path to a checkpoint directory>
    progress: bool = True


@dataclass
class EvalConfig:
    enabled: bool = True  # probe after training
    baselines: bool = True  # also probe a random-init encoder and raw inputs
    batch_size: int = 256


@dataclass
class BenchConfig:
    steps: int = 10
    warmup: int = 3
    repeats: int = 3  # timings per precision (bench-video: also per loader setting); the median is reported
    rounds: int = 1  # bench: run every precision's (and the reference's) process this many times in turn
    precisions: list[str] = field(default_factory=lambda: ["fp32", "bf16"])
    clips: int = 320  # bench-video: clips per timing of the loader (bench.repeats timings per backend and workers)
    video_backends: list[str] = field(default_factory=lambda: ["decord", "torchcodec"])  # bench-video
    reference: str | None = None  # a checkout of facebookresearch/ijepa: also time its training step, in fp32
    reference_masks: bool = False  # time jepa on the official mask sampler too, so both do the same work


@dataclass
class Config:
    name: str = "default"
    run_dir: str = "runs/${name}"
    model: ModelConfig = field(default_factory=ModelConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    regularizer: RegularizerConfig = field(default_factory=RegularizerConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    bench: BenchConfig = field(default_factory=BenchConfig)


def register_configs() -> None:
    """Register the schema with Hydra (called by the CLI, not at import)."""
    ConfigStore.instance().store(name="jepa_schema", node=Config)


def _check_choice(key: str, value: object, choices) -> None:
    if value not in choices:
        raise ConfigError(f"{key}={value!r} is not valid; choose from {sorted(choices)}")


def _value(cfg: Config, key: str):
    section, name = key.split(".")
    return getattr(getattr(cfg, section), name)


def _check_positive(cfg: Config, *keys: str) -> None:
    for key in keys:
        if _value(cfg, key) <= 0:
            raise ConfigError(f"{key} must be positive")


def validate(cfg: Config) -> None:
    """Value checks the type system cannot express, each naming its key."""
    from jepa.data.audio import AUDIO_DATASETS
    from jepa.data.images import IMAGE_DATASETS
    from jepa.data.video import VIDEO_BACKENDS, VIDEO_DATASETS
    from jepa.losses import PREDICTION_LOSSES
    from jepa.models import MODEL_SIZES
    from jepa.models.attention import ATTENTION_BACKENDS
    from jepa.models.patch_embed import PATCH_EMBEDS
    from jepa.train.build import REGULARIZERS

    _check_choice("model.name", cfg.model.name, MODEL_SIZES)
    _check_choice("model.attn_backend", cfg.model.attn_backend, ATTENTION_BACKENDS)
    _check_choice("data.name", cfg.data.name, IMAGE_DATASETS + VIDEO_DATASETS + AUDIO_DATASETS)
    _check_choice("train.precision", cfg.train.precision, {"auto", "fp32", "bf16"})
    _check_choice("optim.loss", cfg.optim.loss, PREDICTION_LOSSES)
    _check_choice("model.patch_embed", cfg.model.patch_embed, PATCH_EMBEDS)
    _check_choice("regularizer.name", cfg.regularizer.name, REGULARIZERS)
    if cfg.regularizer.online_target and cfg.regularizer.name == "none" and not cfg.regularizer.allow_collapse:
        raise ConfigError(
            "regularizer.online_target=true needs regularizer.name=sigreg or vcr (it collapses otherwise); "
            "to run the collapse ablation on purpose, add regularizer.allow_collapse=true"
        )
    audio = cfg.data.name in AUDIO_DATASETS
    if not audio and cfg.data.image_size % cfg.model.patch_size:
        raise ConfigError(
            f"data.image_size={cfg.data.image_size} is not divisible by model.patch_size={cfg.model.patch_size}"
        )
    _check_positive(cfg, "train.steps", "data.batch_size", "train.log_every", "train.checkpoint_every")
    _check_positive(cfg, "train.monitor_every", "bench.clips", "bench.rounds")
    _check_positive(cfg, "data.num_train", "data.num_val", "data.val_shards")
    pairs = ("mask.target_scale", "mask.target_aspect", "mask.context_scale", "mask.stripe_scale", "optim.betas")
    for key in (*pairs, "optim.ema_momentum"):
        if len(_value(cfg, key)) != 2:
            raise ConfigError(f"{key} must be a pair [low, high]")
    for backend in cfg.bench.video_backends:
        _check_choice("bench.video_backends", backend, VIDEO_BACKENDS)
    if cfg.bench.reference_masks and not cfg.bench.reference:
        raise ConfigError("bench.reference_masks=true needs bench.reference=<a checkout of facebookresearch/ijepa>")
    if cfg.bench.reference:
        _validate_reference(cfg)
    video = cfg.data.name in VIDEO_DATASETS
    if video:
        _validate_video(cfg)
    if audio:
        _validate_audio(cfg)
    _validate_masks(cfg, "video" if video else "audio" if audio else "images")


def _validate_reference(cfg: Config) -> None:
    from jepa.bench_reference import check_reference_config, reference_root

    try:
        reference_root(cfg.bench.reference)
        check_reference_config(cfg)
    except (FileNotFoundError, ValueError) as err:
        raise ConfigError(str(err)) from None


def _validate_video(cfg: Config) -> None:
    from jepa.data.video import VIDEO_BACKENDS

    data = cfg.data
    _check_choice("data.video_backend", data.video_backend, VIDEO_BACKENDS)
    _check_positive(cfg, "data.frames_per_clip", "data.frame_step", "data.video_frames", "model.tubelet_size")
    frames, tubelet = data.frames_per_clip, cfg.model.tubelet_size
    if frames % tubelet:
        raise ConfigError(f"data.frames_per_clip={frames} is not divisible by model.tubelet_size={tubelet}")
    if cfg.model.patch_embed != "linear":
        raise ConfigError(f"model.patch_embed={cfg.model.patch_embed} is for images; video needs linear (tubelets)")
    if data.name == "moving_shapes":
        span = (data.frames_per_clip - 1) * data.frame_step + 1
        if span > data.video_frames:
            raise ConfigError(
                f"a clip of data.frames_per_clip={data.frames_per_clip} frames every data.frame_step="
                f"{data.frame_step} spans {span} frames, more than data.video_frames={data.video_frames}"
            )
        if data.image_size < 16 or data.image_size % 2:
            raise ConfigError(f"data.image_size={data.image_size} must be even and >= 16 for moving_shapes (h264)")


def _validate_audio(cfg: Config) -> None:
    from jepa.data.audio import NUM_MEL_BINS

    _check_positive(cfg, "data.clip_frames")
    if cfg.model.in_chans != 1:
        raise ConfigError(f"model.in_chans={cfg.model.in_chans}: spectrograms have 1 channel, set model.in_chans=1")
    patch = cfg.model.patch_size
    if cfg.data.clip_frames % patch or NUM_MEL_BINS % patch:
        raise ConfigError(
            f"data.clip_frames={cfg.data.clip_frames} x {NUM_MEL_BINS} mel bins is not divisible into "
            f"model.patch_size={patch} patches"
        )


MASKS_PER_MODALITY = {"images": ("multiblock",), "video": ("multiblock3d",), "audio": ("time_frequency", "multiblock")}


def _validate_masks(cfg: Config, modality: str) -> None:
    from jepa.train.build import MASK_KINDS

    mask = cfg.mask
    _check_choice("mask.kind", mask.kind, MASK_KINDS)
    fitting = MASKS_PER_MODALITY[modality]
    if mask.kind not in fitting:
        raise ConfigError(
            f"mask.kind={mask.kind} does not fit data.name={cfg.data.name} ({modality}); use mask.kind={fitting[0]}"
        )
    if mask.kind == "time_frequency":
        _check_positive(cfg, "mask.stripe_targets")
        if not 0 < mask.curriculum_start <= 1:
            raise ConfigError(f"mask.curriculum_start={mask.curriculum_start} must lie in (0, 1]")
    if mask.kind != "multiblock3d":
        return
    lengths = {len(mask.num_blocks), len(mask.spatial_scale), len(mask.temporal_scale)}
    if len(lengths) != 1 or 0 in lengths:
        raise ConfigError(
            "mask.num_blocks, mask.spatial_scale and mask.temporal_scale need one entry per mask generator, got "
            f"{list(mask.num_blocks)}, {list(mask.spatial_scale)}, {list(mask.temporal_scale)}"
        )
    if min(mask.num_blocks) < 1:
        raise ConfigError(f"mask.num_blocks={list(mask.num_blocks)} must all be >= 1")
    for key in ("mask.spatial_scale", "mask.temporal_scale"):
        if not all(0 < v <= 1 for v in _value(cfg, key)):
            raise ConfigError(f"{key}={list(_value(cfg, key))} must all lie in (0, 1]")


def load_config(overrides: list[str] | tuple[str, ...] = (), config_name: str = "train"):
    """Compose ``configs/<config_name>.yaml`` with Hydra overrides against the typed schema and validate it.

    Works whether the package is installed editable or from a wheel (configs ship as a package).
    """
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_module(config_module="configs", version_base=None):
        cfg = compose(config_name=config_name, overrides=list(overrides))
    validate(cfg)
    return cfg
