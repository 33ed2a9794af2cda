"""A dataset index file: one labelled media file per line, as in V-JEPA's CSV lists."""

from __future__ import annotations

from pathlib import Path


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
                raise ValueError(f"{path}:{number}: expected '<file path> <integer label>', got {line.strip()!r}")
            files.append(path.parent / name.strip())
            ids.append(int(label))
    if not files:
        raise ValueError(f"index {path} lists no files")
    return files, ids


def split_source(root: Path, split: str) -> Path:
    """A user's media for ``split``: ``root/<split>/`` or ``root/<split>.csv`` when present, else (train only)
    ``root`` itself, a folder or a CSV index."""
    for candidate in (root / split, root / f"{split}.csv"):
        if candidate.exists():
            return candidate
    if split == "train":
        return root
    raise FileNotFoundError(f"{root} has no {split}/ folder or {split}.csv index to evaluate on")
