"""One file as an encoder's input, the way a run's evaluation reads it: what an exported encoder keeps so that
``encoder.embed("clip.mp4")`` sees the file as the run saw its held-out data.

An image is resized (shorter side) and centre-cropped to the run's size and normalised as every image dataset is;
a video gives the run's clip (its frames per clip and frame step, the window centred in the video, the largest
centred square); a sound gives the run's clip length of log-mel features, centred, standardised with the
statistics of the run's training split.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from jepa.common.errors import DataError

MODALITIES = ("image", "video", "audio")


@dataclass(frozen=True)
class Preprocessing:
    """How a run turned one file into its encoder's input. Item shapes: image (3, S, S); video (3, T, S, S);
    audio (1, frames, mel bins)."""

    modality: str  # image | video | audio
    image_size: int = 64  # image, video: the side of the square input
    frames_per_clip: int = 16  # video
    frame_step: int | None = None  # video: frames between a clip's frames (None: every frame)
    video_backend: str = "decord"  # video: decord | torchcodec
    clip_frames: int = 0  # audio: filterbank frames per clip
    fbank_mean: float = 0.0  # audio: the training split's feature mean and std
    fbank_std: float = 1.0

    def __post_init__(self):
        if self.modality not in MODALITIES:
            raise ValueError(f"modality {self.modality!r}: choose from {MODALITIES}")

    @property
    def suffixes(self) -> set[str]:
        """The file names a folder of this modality's inputs is read for."""
        if self.modality == "image":
            from jepa.data.images import IMAGE_SUFFIXES

            return IMAGE_SUFFIXES
        if self.modality == "video":
            from jepa.data.video import VIDEO_SUFFIXES

            return VIDEO_SUFFIXES
        from jepa.data.audio import AUDIO_SUFFIXES

        return AUDIO_SUFFIXES

    def files(self, inputs: str | Path | list[str | Path]) -> list[Path]:
        """The files ``inputs`` names: a file, a folder (its files of this modality, recursively, sorted) or a
        list of either."""
        items = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        found: list[Path] = []
        for item in map(Path, items):
            if item.is_dir():
                found += sorted(p for p in item.rglob("*") if p.suffix.lower() in self.suffixes)
            elif item.is_file():
                found.append(item)
            else:
                raise DataError(f"no such file or folder: {item}")
        if not found:
            raise DataError(f"no {self.modality} file in {', '.join(map(str, items))}")
        return found

    def load(self, path: str | Path) -> torch.Tensor:
        """The encoder's input for one file; a file that cannot be read or decoded raises a DataError naming it."""
        path = Path(path)
        try:
            return self._read(path)
        except (OSError, RuntimeError, ValueError) as err:  # PIL, the video decoders and the audio reader
            raise DataError(f"cannot read {path} as {self.modality}: {err}") from err

    def _read(self, path: Path) -> torch.Tensor:
        if self.modality == "image":
            from jepa.data.images import to_tensor

            with Image.open(path) as image:
                return to_tensor(image, self.image_size)
        labels = {"class": np.zeros(1, dtype=np.int64)}
        if self.modality == "video":
            from jepa.data.video import ClipSampler, VideoFiles

            sampler = ClipSampler(frames_per_clip=self.frames_per_clip, frame_step=self.frame_step)
            clips = VideoFiles(
                [path], labels, 1, image_size=self.image_size, sampler=sampler, backend=self.video_backend
            )
            return clips[0][0]
        from jepa.data.audio import AudioFiles, clip_seconds

        stats = (self.fbank_mean, self.fbank_std)
        return AudioFiles([path], labels, 1, duration=clip_seconds(self.clip_frames), stats=stats)[0][0]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Preprocessing:
        return cls(**json.loads(text))
