"""Image datasets: the embedded procedural shapes, a user's image folder, scikit-learn's digits, and the frames
of a ``jepa collect`` directory (:class:`jepa.data.trajectories.TrajectoryFrames`).

Every dataset yields ``(image (3, H, W) float32 normalised, int label)`` and carries ``labels``
(name -> per-sample array, for probes of more than the main label), ``main_label`` (None when the
images have no class) and ``num_classes``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from jepa.common.errors import DataError
from jepa.data.generate.shapes import SHAPES, make_shapes_dataset
from jepa.data.index import check_split, find_class_files
from jepa.data.trajectories import TrajectoryFrames
from jepa.data.transforms import IMAGENET_MEAN, IMAGENET_STD, normalise
from jepa.data.unreadable import MediaFiles

IMAGE_DATASETS = ("digits", "folder", "shapes", "trajectories")
# datasets whose images are normalised by `normalise`, as trajectory frames are (digits are scaled to [-1, 1])
IMAGENET_NORMALISED = ("folder", "shapes", "trajectories")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def pixel_normalisation(name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per channel that image or video dataset ``name`` was normalised with, to undo it (colour
    jitter): every image and video dataset uses :func:`jepa.data.transforms.normalise` but the digits."""
    if name == "digits":
        return (0.5,) * 3, (0.5,) * 3
    return IMAGENET_MEAN, IMAGENET_STD


def to_tensor(image: Image.Image, image_size: int) -> torch.Tensor:
    """RGB, shorter side resized to ``image_size``, centre crop, ImageNet normalisation -> (3, S, S)."""
    image = image.convert("RGB")
    if image.size != (image_size, image_size):
        scale = image_size / min(image.size)
        w, h = max(image_size, round(image.size[0] * scale)), max(image_size, round(image.size[1] * scale))
        image = image.resize((w, h), Image.Resampling.BICUBIC)
        left, top = (w - image_size) // 2, (h - image_size) // 2
        image = image.crop((left, top, left + image_size, top + image_size))
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return normalise(x).contiguous()


class ImageFiles(MediaFiles):
    """Images read from disk on access. A file that cannot be decoded is skipped (warned about once,
    counted in ``num_skipped`` across loader workers) and the next readable one is returned instead,
    so one bad file never kills a run; a long run of unreadable files raises, naming examples."""

    main_label = "class"

    def __init__(self, files: list[Path], labels: dict[str, np.ndarray], image_size: int, num_classes: int):
        super().__init__(files, "image")
        self.labels, self.image_size, self.num_classes = labels, image_size, num_classes

    def _read(self, i: int) -> torch.Tensor:
        try:
            with Image.open(self.files[i]) as image:
                return to_tensor(image, self.image_size)
        except (ValueError, Image.DecompressionBombError) as err:  # PIL's other decode failures
            raise OSError(str(err)) from err

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        i, x = self.unreadable.first_readable(index, self._read)
        return x, int(self.labels[self.main_label][i])


class ShapesDataset(ImageFiles):
    """The embedded procedural shapes (generated under ``root`` on first use); main label: shape class.
    Extra labels: colour (class), x, y, size (floats in [0, 1])."""

    main_label = "shape"

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        image_size: int = 64,
        num_train: int = 4000,
        num_val: int = 1000,
        seed: int = 0,
    ):
        check_split(split)
        directory = make_shapes_dataset(root, num_train, num_val, image_size, seed)
        with open(directory / "labels.csv", newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["split"] == split]
        labels = {
            "shape": np.array([int(r["shape"]) for r in rows]),
            "colour": np.array([int(r["colour"]) for r in rows]),
        }
        labels |= {k: np.array([float(r[k]) for r in rows]) for k in ("x", "y", "size")}
        super().__init__([directory / r["file"] for r in rows], labels, image_size, len(SHAPES))


class ImageFolderDataset(ImageFiles):
    """A user's images: ``root/<class name>/*`` (class ids in sorted name order) or a flat folder (label 0)."""

    def __init__(self, root: str | Path, image_size: int = 64):
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"image folder {root} does not exist")
        files, ids, classes = find_class_files(root, IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found under {root}")
        super().__init__(files, {"class": np.array(ids)}, image_size, max(len(classes), 1))
        self.classes = classes


class DigitsDataset(Dataset):
    """scikit-learn's 1797 real 8x8 handwritten digits, upsampled to ``image_size``; a seeded 80/20 split."""

    main_label = "digit"
    num_classes = 10

    def __init__(self, split: str = "train", image_size: int = 64, seed: int = 0):
        from sklearn.datasets import load_digits

        digits = load_digits()
        order = np.random.default_rng(seed).permutation(len(digits.target))
        cut = int(0.8 * len(order))
        chosen = order[:cut] if split == "train" else order[cut:]
        images = torch.from_numpy(digits.images[chosen] / 16.0).float().unsqueeze(1)
        images = torch.nn.functional.interpolate(images, size=(image_size, image_size), mode="bilinear")
        self.images = ((images - 0.5) / 0.5).expand(-1, 3, -1, -1).contiguous()
        self.labels = {"digit": digits.target[chosen]}

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels["digit"][index])


def build_image_dataset(name: str, split: str, root: str | Path, image_size: int, **kwargs) -> Dataset:
    """'shapes' (generated under root), 'folder' (root/train and root/val, or root whole for train), 'digits',
    'trajectories' (root: a ``jepa collect`` directory)."""
    if name == "shapes":
        return ShapesDataset(root, split, image_size, **kwargs)
    if name == "digits":
        return DigitsDataset(split, image_size, **kwargs)
    if name == "folder":
        root = Path(root)
        split_dir = root / split
        if split_dir.is_dir():
            return ImageFolderDataset(split_dir, image_size)
        if split == "train":
            return ImageFolderDataset(root, image_size)
        raise DataError(f"image folder {root} has no {split}/ subfolder to evaluate on")
    if name == "trajectories":
        return TrajectoryFrames(root, split, image_size, **kwargs)
    raise ValueError(f"unknown image dataset {name!r}; choose from {list(IMAGE_DATASETS)}")
