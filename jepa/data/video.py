"""Video clip datasets: a user's videos (V-JEPA's CSV index or a folder) and the generated moving shapes.

Every dataset yields ``(clip, int label)``: ``clip`` is ``(3, T, H, W)`` float32 normalised like the image
datasets, or ``(num_clips, 3, T, H, W)`` when several clips are drawn per video. Like the image datasets
they carry ``labels`` (name -> per-video array), ``main_label`` and ``num_classes``.

Decoding goes through one small reader interface with two backends: decord (default, bundled FFmpeg)
and torchcodec (optional, needs FFmpeg libraries on the system).
"""

from __future__ import annotations

import contextlib
import csv
import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from jepa.data.generate.moving_shapes import DIRECTIONS, STATE_COLUMNS, make_moving_shapes_videos
from jepa.data.index import check_split, labelled_files, split_source
from jepa.data.transforms import normalise
from jepa.data.unreadable import MediaFiles

VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v"}


class VideoDecodeError(RuntimeError):
    """A video file exists but yields no usable frames."""


class VideoReader(Protocol):
    """An open video: its length, its frame rate (0 if unknown) and the frames at given indices."""

    num_frames: int
    fps: float

    def frames(self, indices: Sequence[int]) -> torch.Tensor:
        """uint8 ``(len(indices), H, W, 3)``."""
        ...


class DecordReader:
    """decord (the ``decord2`` package). One decoding thread: parallelism comes from loader workers.

    decord fails ("DECORDArrayCopyFromTo: The size must exactly match") on frames of a few small widths,
    which ones depending on its build (8, 12, 16, 24, 32, 48, 96 and 144 px in decord2 3.4; 8, 12, 16, 24,
    48 and 72 px in decord 0.6); such a video is decoded at 2, 3 or 5 times its size instead, which the clip
    resize undoes. The scale that worked is remembered per frame size (read from the container header), so
    later videos of that size open at it directly rather than failing first: twice the clips/s on the 32 px
    moving shapes.
    """

    _RESCALES = (2, 3, 5)  # for every failing width seen, one of these multiples works
    _scale_for_size: dict[tuple[int, int], int] = {}  # (height, width) -> decoding scale, learned per process

    def __init__(self, path: str):
        import decord

        self._decord, self._path = decord, path
        self._size = _frame_size(path)
        self._scale = self._scale_for_size.get(self._size, 1)
        self._video = self._open(self._scale)
        self.num_frames, self.fps = len(self._video), float(self._video.get_avg_fps())

    def _open(self, scale: int):
        if scale == 1:
            return self._decord.VideoReader(self._path, num_threads=1)
        h, w = self._size
        return self._decord.VideoReader(self._path, num_threads=1, width=scale * w, height=scale * h)

    def _batch(self, video, indices: Sequence[int]) -> torch.Tensor:
        try:
            return torch.from_numpy(video.get_batch(list(indices)).asnumpy())
        except self._decord.DECORDError as err:  # not a RuntimeError, unlike decord's errors on opening
            raise VideoDecodeError(str(err).strip().splitlines()[-1]) from err

    def frames(self, indices: Sequence[int]) -> torch.Tensor:
        try:
            return self._batch(self._video, indices)
        except VideoDecodeError as err:
            if "DECORDArrayCopyFromTo" not in str(err) or self._scale != 1:
                raise
        for scale in self._RESCALES:
            with contextlib.suppress(VideoDecodeError):
                video = self._open(scale)
                clip = self._batch(video, indices)
                self._video, self._scale, self._scale_for_size[self._size] = video, scale, scale
                return clip
        h, w = self._size
        raise VideoDecodeError(f"decord cannot convert frames {w} px wide, even rescaled; try backend='torchcodec'")


def _frame_size(path: str) -> tuple[int, int]:
    """(height, width) of the first video stream, from the container header (PyAV; nothing is decoded)."""
    import av

    try:
        with av.open(path) as container:
            stream = container.streams.video[0]
            return stream.height, stream.width
    except (av.error.FFmpegError, IndexError) as err:
        raise VideoDecodeError(f"no readable video stream: {err}") from err


class TorchCodecReader:
    """torchcodec, exact seeking. One FFmpeg thread: parallelism comes from loader workers."""

    def __init__(self, path: str):
        from torchcodec.decoders import VideoDecoder

        self._video = VideoDecoder(path, dimension_order="NHWC", num_ffmpeg_threads=1)
        self.num_frames = int(self._video.metadata.num_frames or 0)
        self.fps = float(self._video.metadata.average_fps or 0.0)

    def frames(self, indices: Sequence[int]) -> torch.Tensor:
        return self._video.get_frames_at(list(indices)).data


VIDEO_BACKENDS: dict[str, Callable[[str], VideoReader]] = {"decord": DecordReader, "torchcodec": TorchCodecReader}
_BACKEND_MODULES = {"decord": "decord", "torchcodec": "torchcodec.decoders"}
_INSTALL_HINTS = {
    "decord": "pip install 'jepa[video]' (it installs decord2)",
    "torchcodec": "pip install torchcodec==0.13.0 (the last CPU build), with FFmpeg's shared libraries installed "
    "on the system (e.g. apt-get install ffmpeg); or use backend='decord'",
}


def check_backend(backend: str) -> None:
    """Fail early, with the fix, when ``backend`` is unknown or cannot be imported."""
    if backend not in VIDEO_BACKENDS:
        raise ValueError(f"unknown video backend {backend!r}; choose from {list(VIDEO_BACKENDS)}")
    try:
        importlib.import_module(_BACKEND_MODULES[backend])
    except (ImportError, OSError, RuntimeError) as err:  # torchcodec raises RuntimeError without FFmpeg
        raise ImportError(f"video backend {backend!r} is not usable ({err}); {_INSTALL_HINTS[backend]}") from err


@dataclass(frozen=True)
class ClipSampler:
    """Which frames of a video form its clips.

    A clip has ``frames_per_clip`` frames taken every ``frame_step`` frames, or spaced to play back at
    ``fps`` (the step then follows each video's own frame rate); give at most one of the two (default:
    every frame). ``num_clips`` windows share the video evenly: with ``random`` each starts anywhere in its
    share, otherwise in its middle. A video shorter than a window repeats its last frame.
    """

    frames_per_clip: int = 16
    frame_step: int | None = None
    fps: float | None = None
    num_clips: int = 1
    random: bool = False

    def __post_init__(self):
        if self.frame_step is not None and self.fps is not None:
            raise ValueError("give frame_step or fps, not both")
        if self.frames_per_clip < 1 or self.num_clips < 1 or (self.frame_step is not None and self.frame_step < 1):
            raise ValueError(f"frames_per_clip, num_clips and frame_step must be >= 1: {self}")
        if self.fps is not None and not self.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")

    def step(self, video_fps: float) -> int:
        if self.fps is None:
            return self.frame_step or 1
        return max(1, round(video_fps / self.fps)) if video_fps > 0 else 1

    def __call__(self, num_frames: int, video_fps: float, generator: torch.Generator | None = None) -> np.ndarray:
        """Frame indices ``(num_clips, frames_per_clip)`` into a video of ``num_frames`` >= 1 frames."""
        step = self.step(video_fps)
        starts_available = max(num_frames - (self.frames_per_clip - 1) * step, 1)
        shift = torch.rand(self.num_clips, generator=generator) if self.random else torch.full((self.num_clips,), 0.5)
        starts = ((torch.arange(self.num_clips) + shift) * starts_available / self.num_clips).long().numpy()
        indices = starts[:, None] + step * np.arange(self.frames_per_clip)[None, :]
        return np.minimum(indices, num_frames - 1)


def crop_box(
    height: int,
    width: int,
    random: bool,
    scale: tuple[float, float] = (0.3, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> tuple[int, int, int, int]:
    """(top, left, h, w): the largest centred square, or a random box covering a ``scale`` fraction of the
    frame with aspect w/h in ``ratio`` (clamped to the frame)."""
    if not random:
        side = min(height, width)
        return (height - side) // 2, (width - side) // 2, side, side
    u = torch.rand(4, generator=generator).tolist()
    area = height * width * (scale[0] + (scale[1] - scale[0]) * u[0])
    aspect = math.exp(math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * u[1])
    w = min(width, max(1, round(math.sqrt(area * aspect))))
    h = min(height, max(1, round(math.sqrt(area / aspect))))
    return int((height - h + 1) * u[2]), int((width - w + 1) * u[3]), h, w


def clip_tensor(frames: torch.Tensor, box: tuple[int, int, int, int], image_size: int) -> torch.Tensor:
    """uint8 frames ``(T, H, W, 3)`` -> the ``box`` resized to ``image_size`` square, normalised ``(3, T, S, S)``."""
    top, left, h, w = box
    x = frames[:, top : top + h, left : left + w].permute(0, 3, 1, 2).float().div_(255)
    if (h, w) != (image_size, image_size):
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
    return normalise(x.transpose(0, 1)).contiguous()


class VideoFiles(MediaFiles):
    """Clips read from video files on access.

    A file that is missing, empty, truncated or undecodable is skipped (warned about, and counted in
    ``num_skipped`` across loader workers) and the next readable one returned instead, so one bad file never
    kills a run; after 20 failures for one item, or when every file is bad, it raises, naming examples.
    """

    main_label = "class"

    def __init__(
        self,
        files: list[Path],
        labels: dict[str, np.ndarray],
        num_classes: int,
        *,
        image_size: int = 64,
        sampler: ClipSampler | None = None,
        random_crop: bool = False,
        backend: str = "decord",
    ):
        check_backend(backend)
        super().__init__(files, "video")
        self.labels, self.num_classes = labels, num_classes
        self.image_size, self.random_crop, self.backend = image_size, random_crop, backend
        self.sampler = sampler or ClipSampler()

    def read(self, index: int) -> torch.Tensor:
        """The frames the clips of video ``index`` need, uint8 ``(num_clips, T, H, W, 3)``. Raises OSError or
        RuntimeError (what the decoders raise) when the file is unusable."""
        path = self.files[index]
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        video = VIDEO_BACKENDS[self.backend](str(path))
        if video.num_frames < 1:
            raise VideoDecodeError("no frames")
        windows = self.sampler(video.num_frames, video.fps)
        needed, where = np.unique(windows, return_inverse=True)  # overlapping or padded windows decode once
        frames = video.frames(needed.tolist())
        if frames.dim() != 4 or len(frames) != len(needed) or frames.shape[-1] != 3:
            raise VideoDecodeError(f"asked for {len(needed)} RGB frames, got shape {tuple(frames.shape)}")
        return frames[torch.from_numpy(where.reshape(windows.shape))]

    def transform(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``(num_clips, T, H, W, 3)`` -> float ``(num_clips, 3, T, S, S)``, each clip cropped on its own."""
        h, w = frames.shape[2:4]
        return torch.stack([clip_tensor(f, crop_box(h, w, self.random_crop), self.image_size) for f in frames])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        i, frames = self.unreadable.first_readable(index, self.read)
        x = self.transform(frames)
        return (x[0] if len(x) == 1 else x), int(self.labels[self.main_label][i])


class VideoClipDataset(VideoFiles):
    """A user's videos: a CSV index (see ``jepa.data.index.read_index``), or a folder ``root/<class name>/*``
    (class ids in sorted name order) or flat (label 0)."""

    def __init__(
        self,
        source: str | Path,
        *,
        image_size: int = 64,
        sampler: ClipSampler | None = None,
        random_crop: bool = False,
        backend: str = "decord",
    ):
        files, ids, self.classes = labelled_files(Path(source), VIDEO_SUFFIXES, "video", "videos")
        num_classes = max(len(self.classes), max(ids) + 1)
        super().__init__(
            files,
            {"class": np.array(ids)},
            num_classes,
            image_size=image_size,
            sampler=sampler,
            random_crop=random_crop,
            backend=backend,
        )


class MovingShapesVideos(VideoFiles):
    """The generated moving-shapes videos (written under ``root`` on first use); main label: direction of
    motion at the first frame (index into ``DIRECTIONS``). Extra labels: shape, colour (classes), speed
    (sides per frame) and, unless clips start at random, velocity: the mean (vx, vy) over the frames of the
    clip, ``(N, 2)``, the dynamics a probe should recover. ``states[i, t]`` = (x, y, vx, vy) of video i at
    frame t (``STATE_COLUMNS``).

    By default a clip is the whole video, so frame t of the clip is frame t of ``states``.
    """

    main_label = "direction"

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        image_size: int = 64,
        num_frames: int = 16,
        fps: int = 8,
        num_train: int = 1200,
        num_val: int = 300,
        seed: int = 0,
        sampler: ClipSampler | None = None,
        random_crop: bool = False,
        backend: str = "decord",
    ):
        check_split(split)
        directory = make_moving_shapes_videos(root, num_train, num_val, image_size, num_frames, fps, seed)
        with open(directory / "labels.csv", newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["split"] == split]
        labels = {k: np.array([int(r[k]) for r in rows]) for k in ("direction", "shape", "colour")}
        labels["speed"] = np.array([float(r["speed"]) for r in rows])
        with open(directory / "frames.csv", newline="") as f:
            states = {(r["file"], int(r["frame"])): [float(r[k]) for k in STATE_COLUMNS] for r in csv.DictReader(f)}
        self.states = np.array([[states[r["file"], t] for t in range(num_frames)] for r in rows], dtype=np.float32)
        sampler = sampler or ClipSampler(frames_per_clip=num_frames)
        if not sampler.random:  # every video has num_frames frames at fps, so all clips take the same frames
            labels["velocity"] = self.states[:, sampler(num_frames, fps).reshape(-1), 2:].mean(1)
        super().__init__(
            [directory / r["file"] for r in rows],
            labels,
            len(DIRECTIONS),
            image_size=image_size,
            sampler=sampler,
            random_crop=random_crop,
            backend=backend,
        )


VIDEO_DATASETS = ("moving_shapes", "video_folder")


def build_video_dataset(
    name: str,
    split: str,
    root: str | Path,
    *,
    image_size: int,
    sampler: ClipSampler,
    backend: str = "decord",
    **kwargs,
) -> VideoFiles:
    """'moving_shapes' (generated under root; ``kwargs`` go to :class:`MovingShapesVideos`) or 'video_folder'
    (see :func:`split_source`)."""
    if name == "moving_shapes":
        return MovingShapesVideos(root, split, image_size=image_size, sampler=sampler, backend=backend, **kwargs)
    if name == "video_folder":
        source = split_source(Path(root), split)
        return VideoClipDataset(source, image_size=image_size, sampler=sampler, backend=backend)
    raise ValueError(f"unknown video dataset {name!r}; choose from {list(VIDEO_DATASETS)}")
