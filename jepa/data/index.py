"""Where a dataset's files are listed: an index file (one labelled media file per line, as in V-JEPA's CSV lists)
or a folder of class folders, and the splits every dataset has."""

from __future__ import annotations

from pathlib import Path

from jepa.common.errors import DataError


def read_index(path: Path) -> tuple[list[Path], list[int]]:
    """``<file path> <integer label>`` per line, space separated (the label is the last field, so paths may
    contain spaces); relative paths are relative to the index file."""
    files, ids = [], []
    with open(path) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            name, _, label = line.strip().rpartition(" ")
            if not name or not label.lstrip("-").isdigit():
                raise DataError(f"{path}:{number}: expected '<file path> <integer label>', got {line.strip()!r}")
            files.append(path.parent / name.strip())
            ids.append(int(label))
    if not files:
        raise DataError(f"index {path} lists no files")
    return files, ids


def find_class_files(root: Path, suffixes: set[str]) -> tuple[list[Path], list[int], list[str]]:
    """Files with one of ``suffixes`` under ``root/<class name>/`` (class ids in sorted name order), or under
    ``root`` with label 0 when it has no subfolders: (files, class ids, class names)."""
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    files, ids = [], []
    for class_id, directory in enumerate([root / c for c in classes] or [root]):
        found = sorted(p for p in directory.rglob("*") if p.suffix.lower() in suffixes)
        files += found
        ids += [class_id] * len(found)
    return files, ids, classes


def labelled_files(source: Path, suffixes: set[str], kind: str, plural: str) -> tuple[list[Path], list[int], list[str]]:
    """A user's labelled media: an index file (see :func:`read_index`) or a folder (see :func:`find_class_files`)
    -> (files, class ids, class names; empty for an index). ``kind`` and ``plural`` name the media in errors
    ("video", "videos")."""
    if source.is_file():
        return (*read_index(source), [])
    if not source.is_dir():
        raise DataError(f"{kind} index or folder {source} does not exist")
    files, ids, classes = find_class_files(source, suffixes)
    if not files:
        raise DataError(f"no {plural} ({', '.join(sorted(suffixes))}) found under {source}")
    return files, ids, classes


SPLITS: tuple[str, ...] = ("train", "val")


def check_split(split: str) -> None:
    """Every dataset has a training and a held-out split; anything else is a caller's mistake."""
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")


def split_source(root: Path, split: str) -> Path:
    """A user's media for ``split``: ``root/<split>/`` or ``root/<split>.csv`` when present, else (train only)
    ``root`` itself, a folder or a CSV index."""
    for candidate in (root / split, root / f"{split}.csv"):
        if candidate.exists():
            return candidate
    if split == "train":
        return root
    raise DataError(f"{root} has no {split}/ folder or {split}.csv index to evaluate on")
