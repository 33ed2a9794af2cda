"""The sequences seq-JEPA trains and is probed on: views of one image with the changes of their parameters as the
actions, or windows of a ``jepa collect`` episode with the agent's actions between them."""

from __future__ import annotations

import math

import torch
from omegaconf import DictConfig
from torch.utils.data import default_collate

from jepa.common.errors import DataError
from jepa.data.images import pixel_normalisation
from jepa.data.loader import BatchContext
from jepa.data.trajectories import TrajectoryDataset
from jepa.data.views import VIEW_PARAMS, MultiViewCollator, ViewMaker, ViewSpec, relative_actions, varying_params
from jepa.recipes.parts import input_size, view_strengths
from jepa.recipes.world_model.data import data_dims, to_model_steps, window_dataset

ROTATION = VIEW_PARAMS.index("rotation")
CROP = tuple(VIEW_PARAMS.index(name) for name in ("centre_y", "centre_x", "height", "width"))


def view_spec(cfg: DictConfig) -> ViewSpec:
    """Every view of an image: a crop of ``method.crop_scale`` of its area at the data's size, augmented as
    ``views``."""
    return ViewSpec(input_size(cfg.data), scale=tuple(cfg.method.crop_scale), **view_strengths(cfg))


def action_params(spec: ViewSpec) -> list[int]:
    """The columns of :data:`VIEW_PARAMS` whose changes are the actions: those the spec varies, less the crop's
    when every view is the whole image (area and aspect 1). A column that never changes adds nothing to an
    action, and as a probe's target a ridge fits it exactly (R² 1), which would inflate the mean R²."""
    whole_image = spec.scale == (1.0, 1.0) and spec.ratio == (1.0, 1.0)
    return [i for i in varying_params(spec) if not (whole_image and i in CROP)]


def rotation_as_cos_sin(actions: torch.Tensor, column: int) -> torch.Tensor:
    """(..., A) -> (..., A + 1): the change of rotation in ``column`` (half-turns) replaced, at its position, by
    the cosine and sine of that angle. With rotations of up to 180 degrees the difference of two angles wraps:
    +340 and -20 degrees are one visible change, which the difference puts far apart (a regression from the views
    cannot tell which it was); the cosine and sine are the same for both and vary smoothly with the angle."""
    angle = actions[..., column] * math.pi
    return torch.cat(
        [actions[..., :column], angle.cos()[..., None], angle.sin()[..., None], actions[..., column + 1 :]], -1
    )


class ViewSequences:
    """Collate: ``length`` views of each image, ``views`` (B, length, C, H, W), with ``actions`` (B, length - 1, A)
    the differences of consecutive views' parameters in the columns of :func:`action_params` (with
    ``relative_rotation="cos_sin"`` the change of rotation as its cosine and sine), and the class ``y``.
    ``names``: the view parameter behind each action column (``rotation`` twice for its cosine and sine)."""

    def __init__(self, spec: ViewSpec, length: int, maker: ViewMaker, relative_rotation: str = "difference"):
        self.views = MultiViewCollator([(spec, length)], maker)
        self.columns = action_params(spec)
        self.cos_sin = relative_rotation == "cos_sin"
        self.names = [VIEW_PARAMS[i] for i in self.columns]
        if self.cos_sin:
            self.names.insert(self.columns.index(ROTATION), "rotation")

    def __call__(self, samples: list, context: BatchContext) -> dict[str, torch.Tensor]:
        made = self.views(samples, context)
        actions = relative_actions(made["params"][0][..., self.columns])
        if self.cos_sin:
            actions = rotation_as_cos_sin(actions, self.columns.index(ROTATION))
        return {"views": made["views"][0], "actions": actions, "y": made["y"]}


def view_sequences(cfg: DictConfig) -> ViewSequences:
    """The run's view sequences: M + 1 views of each image, drawn as :func:`view_spec` says."""
    maker = ViewMaker(*pixel_normalisation(cfg.data.name))
    return ViewSequences(view_spec(cfg), cfg.method.views_per_sequence + 1, maker, cfg.method.relative_rotation)


class WindowSequences:
    """Collate: a window's observations as ``views`` (B, T, C, H, W), the ``frameskip`` env actions between
    consecutive ones concatenated as ``actions`` (B, T - 1, frameskip * A), and the true ``states`` (B, T, S)."""

    def __init__(self, frameskip: int):
        self.frameskip = frameskip

    def __call__(self, samples: list[dict], context: BatchContext | None = None) -> dict[str, torch.Tensor]:
        batch = to_model_steps(default_collate(samples), self.frameskip)
        return {"views": batch["obs"], "actions": batch["actions"], "states": batch["states"]}


def sequence_windows(cfg: DictConfig) -> TrajectoryDataset:
    """Windows of M + 1 observations, ``method.frameskip`` env steps apart, whose frames are the data's size."""
    windows = window_dataset(cfg.data.root, cfg.method.views_per_sequence + 1, cfg.method.frameskip)
    size = data_dims(windows)["image_size"]
    if size != cfg.data.image_size:
        raise DataError(f"data.image_size={cfg.data.image_size}, but {cfg.data.root} holds {size} px frames")
    return windows
