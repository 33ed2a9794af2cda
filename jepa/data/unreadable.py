"""Skip unreadable media files instead of crashing a run, and count them across loader workers.

Datasets that decode files on access (video, audio) share this: one bad file among thousands should cost a
warning, not a training run. The flags live in shared memory, so DataLoader workers see each other's finds and
the main process sees the total after (or during) an epoch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import torch
from torch.utils.data import Dataset

log = logging.getLogger(__name__)

T = TypeVar("T")

READ_ERRORS = (OSError, RuntimeError)  # what the decoders raise (soundfile's and decord's errors are RuntimeErrors)
MAX_ATTEMPTS = 20  # per item: how many unreadable files to try before giving up


class UnreadableFiles:
    """Which of ``files`` failed to read; ``kind`` ("video", "audio file") names them in messages."""

    def __init__(self, files: Sequence[Path], kind: str):
        self.files, self.kind = files, kind
        self._flags = torch.zeros(len(files), dtype=torch.bool).share_memory_()

    @property
    def count(self) -> int:
        return int(self._flags.sum())

    @property
    def paths(self) -> list[Path]:
        return [self.files[i] for i in self._flags.nonzero().flatten().tolist()]

    def first_readable(self, index: int, read: Callable[[int], T]) -> tuple[int, T]:
        """``(i, read(i))`` for the first file from ``index`` on (wrapping around) that reads without error.

        A file that fails is flagged, warned about and never tried again. Raises RuntimeError, naming
        examples, after ``MAX_ATTEMPTS`` failures for this item or when every file is flagged. An index
        outside the dataset raises IndexError, so plain iteration over a dataset ends.
        """
        if not 0 <= index < len(self.files):
            raise IndexError(f"index {index} is out of range for {len(self.files)} {self.kind} files")
        failures = 0
        for offset in range(len(self.files)):
            i = (index + offset) % len(self.files)
            if self._flags[i]:
                continue
            try:
                return i, read(i)
            except READ_ERRORS as err:
                self._flags[i] = True
                log.warning(
                    "skipping unreadable %s %s (%s); %d skipped so far", self.kind, self.files[i], err, self.count
                )
                failures += 1
                if failures == MAX_ATTEMPTS:
                    break
        raise RuntimeError(
            f"no readable {self.kind} near index {index}; {self.count} of {len(self.files)} files are unreadable, "
            f"e.g. {[str(p) for p in self.paths[:5]]}"
        )


class MediaFiles(Dataset):
    """Base of the datasets that decode one file per item (images, audio, video): ``len``, and the skip
    count and list of unreadable files, which the subclass's ``__getitem__`` fills through
    ``self.unreadable.first_readable``."""

    def __init__(self, files: Sequence[Path], kind: str):
        self.files = files
        self.unreadable = UnreadableFiles(files, kind)

    @property
    def num_skipped(self) -> int:
        return self.unreadable.count

    @property
    def bad_files(self) -> list[Path]:
        return self.unreadable.paths

    def __len__(self) -> int:
        return len(self.files)
