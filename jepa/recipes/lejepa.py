"""The view-based LeJEPA recipe: the encoder and projector, augmented global and local views of each image, video
clip or spectrogram, and the probes every pretraining recipe shares."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from jepa.data.audio import AUDIO_DATASETS
from jepa.data.images import pixel_normalisation
from jepa.data.views import MultiViewCollator, ViewMaker, ViewSpec
from jepa.losses import SIGReg
from jepa.methods.lejepa import LeJEPA, projector
from jepa.recipes.parts import build_dataset, build_encoder, clip_frames, input_size, view_strengths
from jepa.recipes.probing import evaluate_encoder
from jepa.recipes.registry import Recipe, register
from jepa.train.engine import TrainingSetup


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


register("lejepa", Recipe(build=build, rebuild=build_method, evaluate=evaluate_encoder))
