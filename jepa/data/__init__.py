"""Datasets and the step-indexed training loader."""

from jepa.data.images import DigitsDataset, ImageFolderDataset, ShapesDataset, build_image_dataset
from jepa.data.loader import build_train_loader
from jepa.data.synthetic import make_shapes_dataset

__all__ = [
    "DigitsDataset",
    "ImageFolderDataset",
    "ShapesDataset",
    "build_image_dataset",
    "build_train_loader",
    "make_shapes_dataset",
]
