"""Datasets and the step-indexed training loader."""

from jepa.data.audio import AudioClipDataset, SyntheticSounds, fbank_stats
from jepa.data.demonstrations import DemonstrationChunks
from jepa.data.generate.moving_shapes import make_moving_shapes_videos
from jepa.data.generate.shapes import make_shapes_dataset
from jepa.data.generate.sounds import make_synthetic_sounds
from jepa.data.images import DigitsDataset, ImageFolderDataset, ShapesDataset, build_image_dataset
from jepa.data.loader import build_train_loader
from jepa.data.trajectories import TrajectoryDataset, TrajectoryFrames
from jepa.data.video import ClipSampler, MovingShapesVideos, VideoClipDataset

__all__ = [
    "AudioClipDataset",
    "ClipSampler",
    "DemonstrationChunks",
    "DigitsDataset",
    "ImageFolderDataset",
    "MovingShapesVideos",
    "ShapesDataset",
    "SyntheticSounds",
    "TrajectoryDataset",
    "TrajectoryFrames",
    "VideoClipDataset",
    "build_image_dataset",
    "build_train_loader",
    "fbank_stats",
    "make_moving_shapes_videos",
    "make_shapes_dataset",
    "make_synthetic_sounds",
]
