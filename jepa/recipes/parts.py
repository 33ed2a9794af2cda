"""Config sections into the parts methods share: encoders, mask generators, anti-collapse terms, datasets."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.utils.data import Dataset

from jepa.common.errors import ConfigError
from jepa.data.audio import AUDIO_DATASETS, GENERATED_AUDIO, NUM_MEL_BINS, build_audio_dataset
from jepa.data.images import build_image_dataset
from jepa.data.inputs import Preprocessing
from jepa.data.video import VIDEO_DATASETS, ClipSampler, build_video_dataset
from jepa.losses import VCR, SIGReg
from jepa.masks import BlockSpec, MultiBlock3DMasks, MultiBlockMasks, TimeFrequencyBlocks, TimeFrequencyMasks
from jepa.models import MaskedPredictor, VisionTransformer, create_model, load_pretrained

FBANK_STATS = "fbank_stats.json"  # in the run directory: the training split's normalisation of audio features


def clip_frames(cfg: DictConfig) -> int | None:
    """Frames per clip for video datasets (the encoder then tokenizes tubelets); None for images."""
    return cfg.frames_per_clip if cfg.name in VIDEO_DATASETS else None


def input_size(cfg: DictConfig) -> tuple[int, int]:
    """The encoder's 2D input: (H, W) of images and video frames, (time frames, mel bins) of spectrograms."""
    if cfg.name in AUDIO_DATASETS:
        return cfg.clip_frames, NUM_MEL_BINS
    return cfg.image_size, cfg.image_size


def input_shape(cfg: DictConfig) -> tuple[int, ...]:
    """Shape of one sample: (C, H, W) for images and spectrograms, (C, T, H, W) for video clips."""
    frames = clip_frames(cfg.data)
    return (cfg.model.in_chans, *([frames] if frames else []), *input_size(cfg.data))


def view_strengths(cfg: DictConfig) -> dict:
    """The ``views`` section as :class:`jepa.data.views.ViewSpec` keyword arguments (it holds ViewSpec's
    augmentation strengths under the same names); spectrogram views span every mel bin (``full_width``)."""
    views = OmegaConf.to_container(cfg.views)
    strengths = {key: tuple(value) if isinstance(value, list) else value for key, value in views.items()}
    return strengths | {"full_width": cfg.data.name in AUDIO_DATASETS}


def build_encoder(
    cfg: DictConfig, image_size: int | tuple[int, int], num_frames: int | None = None
) -> VisionTransformer:
    overrides = {k: getattr(cfg, k) for k in ("embed_dim", "depth", "num_heads") if getattr(cfg, k) is not None}
    return create_model(
        cfg.name,
        input_size=image_size,
        patch_size=cfg.patch_size,
        in_chans=cfg.in_chans,
        num_frames=num_frames,
        tubelet_size=cfg.tubelet_size,
        attn_backend=cfg.attn_backend,
        patch_embed=cfg.patch_embed,
        pos_embed=cfg.pos_embed,
        **overrides,
    )


def initialise_from(method: nn.Module, path: str) -> list[str]:
    """``model.init_from``: the method's ViT encoder, its EMA target and its masked predictor (those the file has)
    start from an official checkpoint or a `jepa export` file; -> what went where."""
    encoder, predictor = getattr(method, "encoder", None), getattr(method, "predictor", None)
    if not isinstance(encoder, VisionTransformer):
        raise ConfigError(f"model.init_from loads ViT encoders; the encoder of {type(method).__name__} is not one")
    predictor = predictor if isinstance(predictor, MaskedPredictor) else None
    return load_pretrained(path, encoder, predictor, getattr(method, "target_encoder", None))


def build_regularizer(cfg: DictConfig) -> nn.Module | None:
    if cfg.name == "vcr":
        return VCR(var_weight=cfg.var_weight, cov_weight=cfg.cov_weight)
    if cfg.name == "sigreg":
        return _Weighted(SIGReg(num_slices=cfg.sigreg_slices), cfg.sigreg_weight)
    return None


class _Weighted(nn.Module):
    """``weight * term(z, step)``."""

    def __init__(self, term: nn.Module, weight: float):
        super().__init__()
        self.term, self.weight = term, weight

    def forward(self, z: torch.Tensor, step: int) -> torch.Tensor:
        return self.weight * self.term(z, step=step)


def build_masks(
    cfg: DictConfig, grid: tuple[int, ...], total_steps: int
) -> MultiBlockMasks | MultiBlock3DMasks | TimeFrequencyMasks:
    """The configured mask generator; ``total_steps`` paces the time-frequency curriculum."""
    if cfg.kind == "multiblock3d":
        specs = tuple(
            BlockSpec(num_blocks=n, spatial_scale=(s, s), temporal_scale=(t, t), aspect=tuple(cfg.target_aspect))
            for n, s, t in zip(cfg.num_blocks, cfg.spatial_scale, cfg.temporal_scale)
        )
        return MultiBlock3DMasks(grid=tuple(grid), specs=specs, min_keep=cfg.min_keep)
    context = {
        "grid": tuple(grid),
        "context_scale": tuple(cfg.context_scale),
        "min_keep": cfg.min_keep,
        "allow_overlap": cfg.allow_overlap,
    }
    blocks = MultiBlockMasks(
        num_targets=cfg.num_targets,
        target_scale=tuple(cfg.target_scale),
        target_aspect=tuple(cfg.target_aspect),
        **context,
    )
    if cfg.kind == "multiblock":
        return blocks
    stripes = TimeFrequencyBlocks(num_targets=cfg.stripe_targets, target_scale=tuple(cfg.stripe_scale), **context)
    return TimeFrequencyMasks(stripes, blocks, total_steps=total_steps, start_probability=cfg.curriculum_start)


def input_preprocessing(cfg: DictConfig, run_dir: str | Path) -> Preprocessing | None:
    """How :func:`build_dataset` reads one held-out file of the ``data`` section ``cfg``, for an exported encoder
    to read files the same way; audio takes the run's training statistics. None for the digits, arrays scaled
    otherwise than any file."""
    if cfg.name == "digits":
        return None
    if cfg.name in AUDIO_DATASETS:
        stats = json.loads((Path(run_dir) / FBANK_STATS).read_text())
        return Preprocessing("audio", clip_frames=cfg.clip_frames, fbank_mean=stats["mean"], fbank_std=stats["std"])
    if cfg.name in VIDEO_DATASETS:
        return Preprocessing(
            "video",
            image_size=cfg.image_size,
            frames_per_clip=cfg.frames_per_clip,
            frame_step=cfg.frame_step,
            video_backend=cfg.video_backend,
        )
    return Preprocessing("image", image_size=cfg.image_size)


def build_dataset(cfg: DictConfig, split: str, run_dir: str | Path | None = None) -> Dataset:
    """The ``split`` of the configured dataset. Audio needs the ``run_dir``, where the training split's feature
    statistics are computed on first use and kept (:data:`FBANK_STATS`)."""
    root = Path(cfg.root).expanduser()
    if cfg.name in AUDIO_DATASETS:
        if run_dir is None:
            raise ValueError("audio datasets need the run directory, which keeps their normalisation statistics")
        generated = cfg.name in GENERATED_AUDIO
        extra = {"num_train": cfg.num_train, "num_val": cfg.num_val, "seed": cfg.seed} if generated else {}
        return build_audio_dataset(
            cfg.name,
            split,
            root,
            stats_path=Path(run_dir) / FBANK_STATS,
            num_frames=cfg.clip_frames,
            random_crop=cfg.random_crop,
            **extra,
        )
    if cfg.name in VIDEO_DATASETS:
        extra = {}
        if cfg.name == "moving_shapes":
            extra = {"num_train": cfg.num_train, "num_val": cfg.num_val, "seed": cfg.seed}
            extra["num_frames"] = cfg.video_frames
        # clips start at a fixed place in each video: a random start would not be a function of (seed, step),
        # which resumption relies on
        sampler = ClipSampler(frames_per_clip=cfg.frames_per_clip, frame_step=cfg.frame_step)
        return build_video_dataset(
            cfg.name, split, root, image_size=cfg.image_size, sampler=sampler, backend=cfg.video_backend, **extra
        )
    counts = {"num_train": cfg.num_train, "num_val": cfg.num_val, "seed": cfg.seed}
    extra = {"shapes": counts, "digits": {"seed": cfg.seed}}.get(cfg.name, {})
    if cfg.name == "trajectories":
        extra = counts | {"val_shards": cfg.val_shards}
    return build_image_dataset(cfg.name, split, root, cfg.image_size, **extra)
