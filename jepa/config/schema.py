"""Typed configuration of ``jepa train`` (also ``jepa bench``): its sections and each method's own section. Every key
is declared, here or in :mod:`jepa.config.command_schema` for the other commands, so a misspelt override, in a
command line or in a user's own YAML file, stops the command naming the key before any work."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING


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
    pos_embed: str = "sincos"  # sincos (added to the tokens: I-JEPA, V-JEPA) | rope (rotary attention: V-JEPA 2)
    # start from these weights: an official I-JEPA / V-JEPA / V-JEPA 2 checkpoint (.pth, .pth.tar), a `jepa export`
    # file or a run's checkpoints/step_*/model.safetensors; the architecture keys above must match it
    init_from: str | None = None


@dataclass
class MaskConfig:
    """What every mask generator reads; each ``mask=<kind>`` option adds its own keys."""

    kind: str = "multiblock"  # multiblock (2D, I-JEPA) | multiblock3d (video, V-JEPA) | time_frequency (audio, A-JEPA)
    target_aspect: list[float] = field(default_factory=lambda: [0.75, 1.5])  # block aspect h/w
    min_keep: int = 4  # context tokens every sample keeps


@dataclass
class MultiBlockMaskConfig(MaskConfig):
    num_targets: int = 4
    target_scale: list[float] = field(default_factory=lambda: [0.15, 0.2])
    context_scale: list[float] = field(default_factory=lambda: [0.85, 1.0])
    allow_overlap: bool = False


@dataclass
class MultiBlock3DMaskConfig(MaskConfig):
    """One entry per mask generator (default: V-JEPA's short-range and long-range)."""

    kind: str = "multiblock3d"
    num_blocks: list[int] = field(default_factory=lambda: [8, 2])
    spatial_scale: list[float] = field(default_factory=lambda: [0.15, 0.7])  # share of H' x W' per block
    temporal_scale: list[float] = field(default_factory=lambda: [1.0, 1.0])  # share of T' per block


@dataclass
class TimeFrequencyMaskConfig(MultiBlockMaskConfig):
    """With a probability rising with the step, stripes (time spans across all mel bands, or mel bands across all
    time) as targets; otherwise the multiblock targets."""

    kind: str = "time_frequency"
    stripe_targets: int = 3
    stripe_scale: list[float] = field(default_factory=lambda: [0.05, 0.075])  # share of the grid per stripe
    curriculum_start: float = 0.01  # probability of stripes at step 0 (c0); rises as a root to 1 at train.steps


@dataclass
class DataConfig:
    """What every dataset reads; each ``data=<name>`` option adds its modality's keys."""

    # images: shapes | folder | digits | trajectories; video: moving_shapes | video_folder;
    # audio: sounds | spoken_digits (needs espeak-ng) | audio_folder
    name: str = "shapes"
    # where generated data is written, or the user's image/video/audio folder or index, or a `jepa collect` directory
    root: str = "~/.cache/jepa/data"
    num_train: int = 4000  # shapes, moving_shapes, sounds, spoken_digits: samples generated; trajectories: frames drawn
    num_val: int = 1000
    seed: int = 0  # generation seed of the synthetic data (independent of train.seed)
    batch_size: int = 64  # global batch, split over ranks
    num_workers: int = 1


@dataclass
class ImageDataConfig(DataConfig):
    image_size: int = 64  # side of the square images, or of the video frames


@dataclass
class TrajectoryDataConfig(ImageDataConfig):
    name: str = "trajectories"
    val_shards: int = 1  # the last val_shards shards (whole episodes) are the val split


@dataclass
class VideoDataConfig(ImageDataConfig):
    name: str = "moving_shapes"
    frames_per_clip: int = 8  # frames per clip (the encoder's number of frames)
    frame_step: int = 1  # take every frame_step-th frame
    video_frames: int = 16  # moving_shapes: length of each generated video
    video_backend: str = "decord"  # decord | torchcodec


@dataclass
class AudioDataConfig(DataConfig):
    name: str = "sounds"
    clip_frames: int = 128  # log-mel frames per clip, one per 10 ms (128 = 1.3 s); a multiple of patch_size
    random_crop: bool = False  # train on clips cut at random places (replayed on resume); probes take the centre


# each option of a group -> its schema: data=<name> and mask=<kind> pick one, and data.name or mask.kind must agree
DATA_OPTIONS = {name: ImageDataConfig for name in ("shapes", "folder", "digits")}
DATA_OPTIONS |= {
    "trajectories": TrajectoryDataConfig,
    "moving_shapes": VideoDataConfig,
    "video_folder": VideoDataConfig,
}
DATA_OPTIONS |= {name: AudioDataConfig for name in ("sounds", "spoken_digits", "audio_folder")}
MASK_OPTIONS = {
    "multiblock": MultiBlockMaskConfig,
    "multiblock3d": MultiBlock3DMaskConfig,
    "time_frequency": TimeFrequencyMaskConfig,
}


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
    ema_schedule: str = "linear"  # linear (I-JEPA) | cosine (BYOL, seq-JEPA): the momentum's ramp over train.steps
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
    online_target: bool = False  # masked_jepa: no EMA target and no stop-gradient (needs a regularizer)
    # deliberate ablation: accept online_target with name=none, a run meant to collapse (a control, not a method)
    allow_collapse: bool = False


@dataclass
class TrainConfig:
    steps: int = 1000
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:1 | mps
    precision: str = "auto"  # auto | fp32 | bf16
    compile: bool = False  # torch.compile every transformer block (dynamic shapes)
    strategy: str = "ddp"  # ddp | fsdp (under torchrun: FSDP2 shards parameters, gradients, optimizer state)
    activation_checkpointing: bool = False  # recompute each transformer block's activations in backward: less memory
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
    # probe seeds: each retrains the probes and draws a new random-init encoder; > 1 adds 95 % intervals
    seeds: int = 1
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
class ViewsConfig:
    """The augmentations of multi-view methods (the strengths of every view; counts, sizes and crop scales are the
    method's). Defaults follow DINO and LeJEPA, with the blur scaled to small images."""

    ratio: list[float] = field(default_factory=lambda: [0.75, 1.3333])  # crop aspect w/h range (log-uniform)
    flip_p: float = 0.5
    rotation: float = 0.0  # largest rotation, degrees
    jitter_p: float = 0.8  # colour jitter probability
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.2
    hue: float = 0.1
    grayscale_p: float = 0.2
    blur_p: float = 0.5
    blur_sigma: list[float] = field(default_factory=lambda: [0.1, 1.0])  # pixels of the view
    solarize_p: float = 0.0  # probability of inverting the pixels above half intensity (BYOL, DINO: 0.2 on one view)
    mask_p: float = 0.0  # probability of zeroing a band of columns (spectrograms: SpecAugment's frequency mask)
    mask_width: list[float] = field(default_factory=lambda: [0.05, 0.2])  # the band's share of the view's width


@dataclass
class Config:
    """``jepa train``, ``jepa bench`` and ``jepa bench-video``: one run of one method."""

    name: str = "default"
    run_dir: str = "runs/${name}"
    method: Any = MISSING  # a registered method's section (jepa.config.methods), chosen with method=<name>
    model: ModelConfig = field(default_factory=ModelConfig)
    mask: MaskConfig = field(default_factory=MaskConfig)  # mask=<kind>: one of MASK_OPTIONS
    data: DataConfig = field(default_factory=DataConfig)  # data=<name>: one of DATA_OPTIONS
    optim: OptimConfig = field(default_factory=OptimConfig)
    regularizer: RegularizerConfig = field(default_factory=RegularizerConfig)
    views: ViewsConfig = field(default_factory=ViewsConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    bench: BenchConfig = field(default_factory=BenchConfig)
