"""Checks that several methods share: the ViT encoder of ``model``, video and audio inputs, the masks and the
augmented views; each method's own checks call those it needs. Each error names its key."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from jepa.common.errors import ConfigError
from jepa.config.checks import check_choice, check_pairs, check_positive
from jepa.data.audio import NUM_MEL_BINS
from jepa.data.video import VIDEO_BACKENDS
from jepa.losses import PREDICTION_LOSSES, REGULARIZERS
from jepa.masks import MASK_KINDS
from jepa.models import MODEL_SIZES
from jepa.models.attention import ATTENTION_BACKENDS
from jepa.models.patch_embed import PATCH_EMBEDS
from jepa.models.vit import POSITION_EMBEDDINGS


def check_objective(cfg: DictConfig) -> None:
    """The prediction loss and the anti-collapse term, for the methods that read them."""
    check_choice("optim.loss", cfg.optim.loss, PREDICTION_LOSSES)
    check_choice("regularizer.name", cfg.regularizer.name, REGULARIZERS)


def check_encoder(cfg: DictConfig) -> None:
    """The ViT of ``model``: a known size, attention, patch and position embedding, and widths they can split."""
    check_choice("model.name", cfg.model.name, MODEL_SIZES)
    check_choice("model.attn_backend", cfg.model.attn_backend, ATTENTION_BACKENDS)
    check_choice("model.patch_embed", cfg.model.patch_embed, PATCH_EMBEDS)
    check_choice("model.pos_embed", cfg.model.pos_embed, POSITION_EMBEDDINGS)
    if cfg.model.init_from and not Path(cfg.model.init_from).expanduser().is_file():
        raise ConfigError(f"model.init_from={cfg.model.init_from} is not a file")
    width = cfg.model.embed_dim or MODEL_SIZES[cfg.model.name].embed_dim
    for key, value in (("model.embed_dim", width), ("model.predictor_dim", cfg.model.predictor_dim)):
        if value % 4 and cfg.model.pos_embed == "sincos":  # half the dims per image axis, each half sines and cosines
            raise ConfigError(f"{key}={value} must be a multiple of 4 (its sincos position embedding)")


def check_patches_tile_images(cfg: DictConfig) -> None:
    """Images cut into whole patches."""
    if cfg.data.image_size % cfg.model.patch_size:
        raise ConfigError(
            f"data.image_size={cfg.data.image_size} is not divisible by model.patch_size={cfg.model.patch_size}"
        )


def check_video(cfg: DictConfig) -> None:
    """Clips of whole tubelets, a decoder that exists, and generated videos long enough for a clip."""
    data = cfg.data
    check_choice("data.video_backend", data.video_backend, VIDEO_BACKENDS)
    check_positive(cfg, "data.frames_per_clip", "data.frame_step", "data.video_frames", "model.tubelet_size")
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


def check_audio(cfg: DictConfig) -> None:
    """One-channel spectrograms of whole patches."""
    check_positive(cfg, "data.clip_frames")
    if cfg.model.in_chans != 1:
        raise ConfigError(f"model.in_chans={cfg.model.in_chans}: spectrograms have 1 channel, set model.in_chans=1")
    patch = cfg.model.patch_size
    if cfg.data.clip_frames % patch or NUM_MEL_BINS % patch:
        raise ConfigError(
            f"data.clip_frames={cfg.data.clip_frames} x {NUM_MEL_BINS} mel bins is not divisible into "
            f"model.patch_size={patch} patches"
        )


MASKS_PER_MODALITY = {"images": ("multiblock",), "video": ("multiblock3d",), "audio": ("time_frequency", "multiblock")}


def check_masks(cfg: DictConfig, modality: str) -> None:
    """A mask kind that fits the ``modality`` (images, video or audio), with consistent generator settings."""
    mask = cfg.mask
    check_choice("mask.kind", mask.kind, MASK_KINDS)
    fitting = MASKS_PER_MODALITY[modality]
    if mask.kind not in fitting:
        raise ConfigError(
            f"mask.kind={mask.kind} does not fit data.name={cfg.data.name} ({modality}); use mask.kind={fitting[0]}"
        )
    if mask.kind == "time_frequency":
        check_positive(cfg, "mask.stripe_targets")
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
        if not all(0 < v <= 1 for v in OmegaConf.select(cfg, key)):
            raise ConfigError(f"{key}={list(OmegaConf.select(cfg, key))} must all lie in (0, 1]")


def check_views(cfg: DictConfig, *crop_scales: str) -> None:
    """The ``views`` section's strengths and the method's crop scales (its keys ``crop_scales``)."""
    views = cfg.views
    check_pairs(cfg, *crop_scales, "views.ratio", "views.blur_sigma", "views.mask_width")
    for key in crop_scales:
        low, high = OmegaConf.select(cfg, key)
        if not 0 < low <= high <= 1:
            raise ConfigError(f"{key}=[{low}, {high}] must satisfy 0 < low <= high <= 1 (shares of the image area)")
    for key in ("flip_p", "jitter_p", "grayscale_p", "blur_p", "mask_p"):
        if not 0 <= views[key] <= 1:
            raise ConfigError(f"views.{key}={views[key]} is a probability; it must lie in [0, 1]")
