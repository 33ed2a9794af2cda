"""Audio clip datasets: a user's sound files (a folder or a CSV index), the generated sound classes and spoken digits.

Every dataset yields ``(features, int label)``: ``features`` is the ``(1, frames, 128)`` float32 log-mel
filterbank of a fixed-length clip, computed the Kaldi way as A-JEPA's front end does (mono, 16 kHz, 25 ms
windows every 10 ms), then normalised with one dataset-level mean and std (see :func:`fbank_stats`). Like the
image and video datasets they carry ``labels`` (name -> per-file array), ``main_label`` and ``num_classes``.

Files are read with soundfile (wav, flac, ogg, mp3); torchaudio supplies resampling and the filterbank.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from jepa.data.audio_io import SAMPLE_RATE, import_torchaudio, read_audio
from jepa.data.generate.sounds import SOUNDS, make_synthetic_sounds
from jepa.data.generate.spoken_digits import DIGITS, make_spoken_digits
from jepa.data.index import check_split, labelled_files, split_source
from jepa.data.unreadable import MediaFiles

AUDIO_DATASETS = ("sounds", "spoken_digits", "audio_folder")
AUDIO_SUFFIXES = {".wav", ".flac", ".ogg", ".mp3"}
NUM_MEL_BINS = 128
FRAME_LENGTH_MS, FRAME_SHIFT_MS = 25.0, 10.0
_WINDOW = round(SAMPLE_RATE * FRAME_LENGTH_MS / 1000)
_HOP = round(SAMPLE_RATE * FRAME_SHIFT_MS / 1000)


def crop_or_pad(
    wave: torch.Tensor, num_samples: int, random: bool, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A ``num_samples`` window over ``wave`` (n,), centred or at a random offset; where the window reaches past
    the sound (a sound shorter than the window) it holds silence."""
    slack = wave.shape[0] - num_samples  # negative: room to place a short sound inside the window
    low, high = min(slack, 0), max(slack, 0)
    start = low + int(torch.randint(high - low + 1, (1,), generator=generator)) if random else slack // 2
    out = wave.new_zeros(num_samples)
    piece = wave[max(start, 0) : start + num_samples]
    out[max(-start, 0) : max(-start, 0) + piece.shape[0]] = piece
    return out


def clip_seconds(num_frames: int) -> float:
    """The clip duration whose filterbank has exactly ``num_frames`` frames (the encoder's time axis)."""
    return (_WINDOW + (num_frames - 1) * _HOP) / SAMPLE_RATE


def log_mel_fbank(wave: torch.Tensor) -> torch.Tensor:
    """Kaldi-compatible log-mel filterbank ``(frames, NUM_MEL_BINS)`` of 16 kHz samples ``(n,)``, n >= 400,
    with A-JEPA's (and AudioMAE's) settings: Hann window, HTK mel scale, no dither, no energy term."""
    return import_torchaudio().compliance.kaldi.fbank(
        wave[None],
        sample_frequency=SAMPLE_RATE,
        num_mel_bins=NUM_MEL_BINS,
        frame_length=FRAME_LENGTH_MS,
        frame_shift=FRAME_SHIFT_MS,
        window_type="hanning",
        htk_compat=True,
        use_energy=False,
        dither=0.0,
    )


class AudioFiles(MediaFiles):
    """Fixed-length clips of sound files read on access.

    ``duration`` seconds per clip (``num_frames`` filterbank frames): longer sounds are cropped, shorter ones
    padded with silence. Indexing centres the clip; with ``random_crop``, :meth:`item` places it at random with
    the generator it is given (the training loader's, seeded per step and sample, so a resumed run replays the
    same crops), while probes, which index, still see the centre. ``stats`` = (mean, std) normalises the
    features; compute it once on the training set with :func:`fbank_stats` and keep it with the run
    (``None``: raw log-mel values). A file that is missing, empty, truncated or not audio is skipped (warned
    about, and counted in ``num_skipped`` across loader workers) and the next readable one returned instead;
    when every file is bad it raises, naming examples.
    """

    main_label = "class"

    def __init__(
        self,
        files: list[Path],
        labels: dict[str, np.ndarray],
        num_classes: int,
        *,
        duration: float = 2.0,
        random_crop: bool = False,
        stats: tuple[float, float] | None = None,
    ):
        import_torchaudio()  # fail here, with the fix, rather than in a loader worker
        self.num_samples = round(duration * SAMPLE_RATE)
        if self.num_samples < _WINDOW:
            raise ValueError(f"duration must be at least one {FRAME_LENGTH_MS:g} ms window, got {duration} s")
        if stats is not None and not (math.isfinite(stats[0]) and stats[1] > 0):
            raise ValueError(f"stats must be a finite mean and a positive std, got {stats}")
        super().__init__(files, "audio file")
        self.labels, self.num_classes = labels, num_classes
        self.random_crop, self.stats = random_crop, stats

    @property
    def num_frames(self) -> int:
        return 1 + (self.num_samples - _WINDOW) // _HOP

    def features(self, index: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Unnormalised log-mel ``(num_frames, NUM_MEL_BINS)`` of a clip of file ``index``, centred unless
        ``random_crop`` and a ``generator`` to draw its place; raises on a bad file."""
        random = self.random_crop and generator is not None
        return log_mel_fbank(crop_or_pad(read_audio(self.files[index]), self.num_samples, random, generator))

    def item(self, index: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
        i, x = self.unreadable.first_readable(index, lambda j: self.features(j, generator))
        if self.stats is not None:
            x = (x - self.stats[0]) / self.stats[1]
        return x[None], int(self.labels[self.main_label][i])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.item(index)


def fbank_stats(dataset: AudioFiles) -> tuple[float, float]:
    """Mean and std of the unnormalised features over every readable file of ``dataset`` (one clip each, as the
    dataset crops them), to pass as ``stats`` to the training and evaluation datasets alike."""
    total, total_sq, count, seen = 0.0, 0.0, 0, set()
    for index in range(len(dataset)):
        i, x = dataset.unreadable.first_readable(index, dataset.features)
        if i in seen:  # a bad file's stand-in, already counted
            continue
        seen.add(i)
        x = x.double()
        total, total_sq, count = total + float(x.sum()), total_sq + float((x**2).sum()), count + x.numel()
    mean = total / count
    return mean, math.sqrt(max(total_sq / count - mean**2, 0.0))


class AudioClipDataset(AudioFiles):
    """A user's sounds: a CSV index (``<path> <integer label>`` per line, see ``jepa.data.index.read_index``), or a
    folder ``root/<class name>/**`` (class ids in sorted name order) or flat (label 0)."""

    def __init__(
        self,
        source: str | Path,
        *,
        duration: float = 2.0,
        random_crop: bool = False,
        stats: tuple[float, float] | None = None,
    ):
        files, ids, self.classes = labelled_files(Path(source), AUDIO_SUFFIXES, "audio", "audio files")
        num_classes = max(len(self.classes), max(ids) + 1)
        super().__init__(
            files, {"class": np.array(ids)}, num_classes, duration=duration, random_crop=random_crop, stats=stats
        )


class GeneratedSounds(AudioFiles):
    """A set the project writes under ``root`` on first use (``make(root, num_train, num_val, seed)`` returns its
    directory, holding ``labels.csv``): integer ``classes`` columns and float ``values`` columns become
    ``labels``; ``main_label`` is the first class column."""

    classes: tuple[str, ...] = ()
    values: tuple[str, ...] = ()

    def __init__(
        self,
        make: Callable[..., Path],
        num_classes: int,
        root: str | Path,
        split: str = "train",
        *,
        num_train: int,
        num_val: int,
        seed: int = 0,
        duration: float = 2.0,
        random_crop: bool = False,
        stats: tuple[float, float] | None = None,
    ):
        check_split(split)
        directory = make(root, num_train, num_val, seed)
        with open(directory / "labels.csv", newline="") as f:
            rows = [r for r in csv.DictReader(f) if r["split"] == split]
        labels = {k: np.array([int(r[k]) for r in rows]) for k in self.classes}
        labels |= {k: np.array([float(r[k]) for r in rows]) for k in self.values}
        files = [directory / r["file"] for r in rows]
        super().__init__(files, labels, num_classes, duration=duration, random_crop=random_crop, stats=stats)


class SyntheticSounds(GeneratedSounds):
    """The generated sound classes; main label: sound class (index into ``SOUNDS``). Extra labels: timbre,
    contour, envelope (classes); pitch (Hz), loudness (dBFS), duration (s) and snr (dB) as floats. The default
    2 s clip holds every sound whole."""

    main_label = "sound"
    classes = ("sound", "timbre", "contour", "envelope")
    values = ("pitch", "loudness", "duration", "snr")

    def __init__(self, root: str | Path, split: str = "train", *, num_train: int = 1200, num_val: int = 300, **kw):
        super().__init__(make_synthetic_sounds, len(SOUNDS), root, split, num_train=num_train, num_val=num_val, **kw)


class SpokenDigits(GeneratedSounds):
    """Digits spoken by espeak-ng (see :mod:`jepa.data.generate.spoken_digits`; needs the program); main label: the
    digit. Extra labels: voice (class); rate (words per minute), pitch and snr (dB) as floats."""

    main_label = "digit"
    classes = ("digit", "voice")
    values = ("rate", "pitch", "snr")

    def __init__(self, root: str | Path, split: str = "train", *, num_train: int = 1000, num_val: int = 300, **kw):
        super().__init__(make_spoken_digits, len(DIGITS), root, split, num_train=num_train, num_val=num_val, **kw)


GENERATED_AUDIO = {"sounds": SyntheticSounds, "spoken_digits": SpokenDigits}


def run_fbank_stats(path: Path, train_set: Callable[[], AudioFiles]) -> tuple[float, float]:
    """:func:`fbank_stats` of the (unnormalised) ``train_set()``, computed once and kept as JSON at ``path`` (in
    the run directory): a resumed run and its evaluations then normalise exactly as training started, without
    reading every file again, and even if files are added later."""
    if path.exists():
        saved = json.loads(path.read_text())
        return saved["mean"], saved["std"]
    train_set = train_set()
    mean, std = fbank_stats(train_set)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    record = {"mean": mean, "std": std, "files": len(train_set) - train_set.num_skipped, "frames": train_set.num_frames}
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(tmp, path)  # ranks computing the same numbers may race; each write is whole
    return mean, std


def build_audio_dataset(
    name: str,
    split: str,
    root: str | Path,
    *,
    stats_path: Path,
    num_frames: int,
    random_crop: bool = False,
    **kwargs,
) -> AudioFiles:
    """'sounds' or 'spoken_digits' (generated under root; ``kwargs`` go to :class:`SyntheticSounds` or
    :class:`SpokenDigits`) or 'audio_folder' (a user's
    files, see :func:`jepa.data.index.split_source`), ``num_frames`` filterbank frames per clip, normalised with
    the training split's statistics kept at ``stats_path`` (see :func:`run_fbank_stats`)."""
    if name not in AUDIO_DATASETS:
        raise ValueError(f"unknown audio dataset {name!r}; choose from {list(AUDIO_DATASETS)}")

    def make(split: str, stats: tuple[float, float] | None) -> AudioFiles:
        clip = {"duration": clip_seconds(num_frames), "random_crop": random_crop, "stats": stats}
        if name in GENERATED_AUDIO:
            return GENERATED_AUDIO[name](root, split, **kwargs, **clip)
        return AudioClipDataset(split_source(Path(root), split), **clip)

    return make(split, run_fbank_stats(stats_path, lambda: make("train", None)))
