import csv

import numpy as np
import pytest
import torch
from PIL import Image

from jepa.common.errors import DataError
from jepa.data import DigitsDataset, ImageFolderDataset, ShapesDataset, build_image_dataset, make_shapes_dataset
from jepa.data.generate.shapes import CSV_COLUMNS, SHAPES


def test_shapes_generation_is_deterministic_and_idempotent(tmp_path):
    a = make_shapes_dataset(tmp_path / "a", num_train=12, num_val=4, image_size=32, progress=False)
    b = make_shapes_dataset(tmp_path / "b", num_train=12, num_val=4, image_size=32, progress=False)
    assert (a / "train/000007.png").read_bytes() == (b / "train/000007.png").read_bytes()
    mtime = (a / "labels.csv").stat().st_mtime_ns
    assert make_shapes_dataset(tmp_path / "a", num_train=12, num_val=4, image_size=32, progress=False) == a
    assert (a / "labels.csv").stat().st_mtime_ns == mtime
    assert not list((tmp_path / "a").glob(".*tmp*"))


def test_shapes_labels_csv_and_items(tmp_path):
    train = ShapesDataset(tmp_path, "train", image_size=32, num_train=24, num_val=8)
    val = ShapesDataset(tmp_path, "val", image_size=32, num_train=24, num_val=8)
    with open(next(tmp_path.glob("shapes-*")) / "labels.csv") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 32
    assert len(train) == 24 and len(val) == 8 and train.num_classes == len(SHAPES)
    x, y = train[3]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and isinstance(y, int)
    assert y == train.labels["shape"][3]
    assert set(train.labels) == {"shape", "colour", "x", "y", "size"}
    assert 0 <= train.labels["x"].min() and train.labels["x"].max() <= 1


def _write_images(folder, n, size=20):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (size, size + 4, 3), dtype=np.uint8)).save(
            folder / f"{i}.png"
        )


def test_image_folder_classes_and_corrupt_files_are_skipped_and_counted(tmp_path):
    _write_images(tmp_path / "cats", 3)
    _write_images(tmp_path / "dogs", 2)
    (tmp_path / "dogs" / "broken.png").write_bytes(b"\x89PNG not really")
    ds = ImageFolderDataset(tmp_path, image_size=16)
    assert ds.classes == ["cats", "dogs"] and len(ds) == 6 and ds.num_classes == 2
    items = [ds[i] for i in range(len(ds))]
    assert all(x.shape == (3, 16, 16) for x, _ in items)
    assert ds.num_skipped == 1


def test_all_corrupt_or_empty_folders_fail_clearly(tmp_path):
    (tmp_path / "bad").mkdir()
    for i in range(3):
        (tmp_path / "bad" / f"{i}.jpg").write_bytes(b"garbage")
    with pytest.raises(RuntimeError, match="no readable image"):
        ImageFolderDataset(tmp_path / "bad", image_size=16)[0]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        ImageFolderDataset(tmp_path / "empty")


def test_digits_split_and_labels():
    train, val = DigitsDataset("train", image_size=16), DigitsDataset("val", image_size=16)
    assert len(train) + len(val) == 1797 and len(val) == 360
    x, y = val[0]
    assert x.shape == (3, 16, 16) and 0 <= y <= 9


def test_build_image_dataset_rejects_unknown_names(tmp_path):
    with pytest.raises(ValueError, match="unknown image dataset 'imagenet'"):
        build_image_dataset("imagenet", "train", tmp_path, 32)


def test_corrupt_images_are_counted_across_loader_workers_and_iteration_ends(tmp_path):
    _write_images(tmp_path / "ok", 6)
    (tmp_path / "ok" / "z_broken.png").write_bytes(b"not an image")
    ds = ImageFolderDataset(tmp_path, image_size=16)
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=2)
    assert sum(len(y) for _, y in loader) == len(ds)
    assert ds.num_skipped == 1  # found by a worker process, visible here
    assert len(list(iter(ds))) == len(ds)  # the sequence protocol stops at IndexError
