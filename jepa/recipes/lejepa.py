"""The view-based LeJEPA recipe: the encoder and projector, augmented global and local views of each image, video
clip or spectrogram, and the probes every pretraining recipe shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from jepa.common.errors import ConfigError
from jepa.config.checks import check_choice, check_positive
from jepa.data.audio import AUDIO_DATASETS
from jepa.data.images import IMAGE_DATASETS, pixel_normalisation
from jepa.data.video import VIDEO_DATASETS
from jepa.data.views import MultiViewCollator, ViewMaker, ViewSpec
from jepa.losses import SIGReg
from jepa.methods.lejepa import LeJEPA, projector
from jepa.recipes.checks import check_audio, check_encoder, check_objective, check_video, check_views
from jepa.recipes.parts import build_dataset, build_encoder, clip_frames, input_size, view_strengths
from jepa.recipes.probing import evaluate_encoder
from jepa.recipes.registry import Recipe, register
from jepa.train.engine import TrainingSetup


@dataclass
class LeJEPAConfig:
    """View-based LeJEPA: ``global_views`` crops at the data's size and ``local_views`` smaller crops of each
    input, augmented as ``views``; each view's projector embedding is pulled to the mean of the global views', and
    SIGReg (``regularizer.sigreg_weight`` as lambda, ``regularizer.sigreg_slices``) keeps them Gaussian. On
    spectrograms the crops are spans of time across every mel bin (scales are shares of the time axis), resampled
    to ``data.clip_frames`` (global) or ``local_size`` frames (local)."""

    name: str = "lejepa"
    global_views: int = 2
    local_views: int = 4
    local_size: int = 32  # side of the local crops (spectrograms: their frames), a multiple of model.patch_size
    local_frames: int = 0  # video: consecutive frames of each local view, a multiple of model.tubelet_size; 0 = all
    global_scale: list[float] = field(default_factory=lambda: [0.3, 1.0])  # crop's share of the image area
    local_scale: list[float] = field(default_factory=lambda: [0.05, 0.3])
    projector_hidden: int = 512
    projector_dim: int = 64


def check(cfg: DictConfig) -> None:
    """The encoder, the data, the views that tile into patches, and SIGReg as the regularizer LeJEPA is."""
    m = cfg.method
    check_objective(cfg)
    check_encoder(cfg)
    check_choice("data.name", cfg.data.name, IMAGE_DATASETS + AUDIO_DATASETS + VIDEO_DATASETS)
    if cfg.data.name in AUDIO_DATASETS:
        check_audio(cfg)
    if cfg.data.name in VIDEO_DATASETS:
        check_video(cfg)
        frames, tubelet = m.local_frames, cfg.model.tubelet_size
        if frames < 0 or frames % tubelet or frames > cfg.data.frames_per_clip:
            raise ConfigError(
                f"method.local_frames={frames} must be 0 (all) or a multiple of model.tubelet_size={tubelet} up to "
                f"data.frames_per_clip={cfg.data.frames_per_clip}"
            )
    check_positive(cfg, "method.global_views", "method.local_size", "method.projector_hidden", "method.projector_dim")
    if m.local_views < 0:
        raise ConfigError(f"method.local_views={m.local_views} must be >= 0")
    # spectrograms are data.clip_frames x mel bins, checked above
    sizes = ("method.local_size",) if cfg.data.name in AUDIO_DATASETS else ("data.image_size", "method.local_size")
    for key in sizes:
        if OmegaConf.select(cfg, key) % cfg.model.patch_size:
            raise ConfigError(f"{key}={OmegaConf.select(cfg, key)} is not divisible by model.patch_size")
    check_views(cfg, "method.global_scale", "method.local_scale")
    if cfg.regularizer.name != "sigreg":
        raise ConfigError(
            f"regularizer.name={cfg.regularizer.name}: LeJEPA is defined with SIGReg; use regularizer=sigreg"
        )
    if not 0 <= cfg.regularizer.sigreg_weight <= 1:
        raise ConfigError(f"regularizer.sigreg_weight={cfg.regularizer.sigreg_weight} is LeJEPA's lambda, in [0, 1]")


def view_groups(cfg: DictConfig) -> list[tuple[ViewSpec, int]]:
    """(spec, count) of the global views (the data's size) and, if any, of the local views. Spectrogram views are
    time crops across every mel bin; video views crop every frame of a clip alike, and local ones keep
    ``method.local_frames`` consecutive frames."""
    m, strengths = cfg.method, view_strengths(cfg)
    height, width = input_size(cfg.data)
    local_shape = (m.local_size, width) if strengths["full_width"] else (m.local_size, m.local_size)
    groups = [(ViewSpec((height, width), scale=tuple(m.global_scale), **strengths), m.global_views)]
    if m.local_views:
        # the same blur in pixels of the input; on video, local_frames consecutive frames of the clip
        local_sigma = tuple(s * m.local_size / height for s in strengths["blur_sigma"])
        local = strengths | {"blur_sigma": local_sigma, "frames": m.local_frames or None}
        groups.append((ViewSpec(local_shape, scale=tuple(m.local_scale), **local), m.local_views))
    return groups


def build_method(cfg: DictConfig, facts: dict | None = None) -> LeJEPA:
    encoder = build_encoder(cfg.model, input_size(cfg.data), clip_frames(cfg.data))
    head = projector(encoder.embed_dim, cfg.method.projector_hidden, cfg.method.projector_dim)
    sigreg = SIGReg(num_slices=cfg.regularizer.sigreg_slices)
    return LeJEPA(encoder, head, sigreg, sigreg_weight=cfg.regularizer.sigreg_weight)


def build(cfg: DictConfig, run_dir: Path) -> TrainingSetup:
    """The method, the training split and a collate function that makes the views of each batch."""
    method = build_method(cfg)  # first: its initial weights are the first draws after the engine's seed
    train_set = build_dataset(cfg.data, "train", run_dir)
    audio = cfg.data.name in AUDIO_DATASETS  # zero-mean log-mel features: no colour to undo
    maker = ViewMaker() if audio else ViewMaker(*pixel_normalisation(cfg.data.name))
    return TrainingSetup(method, train_set, MultiViewCollator(view_groups(cfg), maker))


register(Recipe(LeJEPAConfig, ("model", "regularizer", "views"), check, build, build_method, evaluate_encoder))
