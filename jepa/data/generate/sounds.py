"""Procedural sound classes, written to disk as real 16 kHz wav files with their labels.

A class is a combination of a timbre (harmonic profile), a pitch contour and a loudness envelope. Every timbre
and every envelope belongs to two classes and any two classes differ in at least two of the three, so no
single cue names the class. Base pitch, loudness, duration, onset, background-noise level and noise colour are
random and independent of the class: a probe has to hear how a sound is built, not how loud or high it is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from jepa.data.audio_io import SAMPLE_RATE
from jepa.data.generate.files import generate_once, write_csv
from jepa.data.index import SPLITS

__all__ = ["SAMPLE_RATE", "SOUNDS", "make_synthetic_sounds", "render_sound", "sound_name"]

TIMBRES: tuple[str, ...] = ("pure", "bright", "hollow")
CONTOURS: tuple[str, ...] = ("flat", "rising", "falling", "vibrato")
ENVELOPES: tuple[str, ...] = ("sustained", "percussive", "tremolo")
SOUNDS: tuple[tuple[str, str, str], ...] = (  # (timbre, contour, envelope) per class
    ("pure", "rising", "sustained"),
    ("pure", "falling", "tremolo"),
    ("bright", "flat", "percussive"),
    ("bright", "vibrato", "tremolo"),
    ("hollow", "flat", "sustained"),
    ("hollow", "rising", "percussive"),
)
LABEL_COLUMNS: tuple[str, ...] = (
    "split",
    "file",
    "sound",
    "timbre",
    "contour",
    "envelope",
    "pitch",
    "loudness",
    "duration",
    "snr",
)
PITCH_RANGE = (110.0, 880.0)  # Hz, base pitch drawn log-uniformly (A2 to A5)
GLIDE_OCTAVES = (0.5, 1.0)  # how far a rising or falling contour moves over the note
VIBRATO_RATE, VIBRATO_DEPTH = (4.0, 8.0), (0.03, 0.06)  # Hz; fraction of the pitch either way
TREMOLO_RATE, TREMOLO_DEPTH = (4.0, 9.0), (0.6, 0.9)  # Hz; fraction of the amplitude
LOUDNESS_DB = (-30.0, -6.0)  # peak level of the note, dB full scale
DURATION_RANGE = (1.0, 2.0)  # seconds, the length of the file
SNR_DB = (5.0, 30.0)  # note RMS over background-noise RMS
NOISE_SLOPE = (0.0, 2.0)  # noise power falls as 1/f^slope: white to brown
MAX_PARTIAL_HZ = 0.45 * SAMPLE_RATE  # partials above this are left out (no aliasing)
_FORMAT_VERSION = 1


def sound_name(sound: int) -> str:
    return "-".join(SOUNDS[sound])


def _partials(rng: np.random.Generator, timbre: str) -> np.ndarray:
    """Amplitude of harmonics 1..K, jittered so no two sounds of a timbre share one spectrum exactly."""
    if timbre == "pure":
        return np.array([1.0, rng.uniform(0.0, 0.2), rng.uniform(0.0, 0.1)])
    k = np.arange(1, 17)
    amps = 1.0 / k * rng.uniform(0.7, 1.3, size=k.size)
    return amps if timbre == "bright" else np.where(k % 2 == 1, amps, 0.0)  # hollow: odd harmonics only


def _pitch(rng: np.random.Generator, contour: str, base: float, tau: np.ndarray) -> np.ndarray:
    """Instantaneous fundamental frequency (Hz) over note time ``tau`` (seconds)."""
    if contour == "flat":
        return np.full_like(tau, base)
    if contour == "vibrato":
        depth, rate = rng.uniform(*VIBRATO_DEPTH), rng.uniform(*VIBRATO_RATE)
        return base * (1 + depth * np.sin(2 * np.pi * rate * tau + rng.uniform(0, 2 * np.pi)))
    octaves = rng.uniform(*GLIDE_OCTAVES) * (1 if contour == "rising" else -1)
    return base * 2.0 ** (octaves * tau / tau[-1])


def _envelope(rng: np.random.Generator, envelope: str, tau: np.ndarray) -> np.ndarray:
    """Amplitude over note time ``tau`` (seconds), peak 1."""
    if envelope == "percussive":
        attack, decay = rng.uniform(0.002, 0.01), rng.uniform(0.08, 0.3)
        return np.minimum(tau / attack, 1.0) * np.exp(-np.maximum(tau - attack, 0.0) / decay)
    attack, release = rng.uniform(0.03, 0.12), rng.uniform(0.05, 0.2)
    shape = np.clip(np.minimum(tau / attack, (tau[-1] - tau) / release), 0.0, 1.0)
    shape = 0.5 - 0.5 * np.cos(np.pi * shape)  # raised-cosine ramps
    if envelope == "tremolo":
        depth, rate = rng.uniform(*TREMOLO_DEPTH), rng.uniform(*TREMOLO_RATE)
        shape = shape * (1 - depth * (0.5 + 0.5 * np.sin(2 * np.pi * rate * tau + rng.uniform(0, 2 * np.pi))))
    return shape


def _coloured_noise(rng: np.random.Generator, n: int, slope: float) -> np.ndarray:
    """Gaussian noise with power spectrum ~ 1/f^slope above 100 Hz (flat below, so that the level is not spent
    on inaudible rumble), unit RMS."""
    m = 1 << (n - 1).bit_length()  # shaped at a power-of-two length, where the FFT is fastest, then cut
    spectrum = np.fft.rfft(rng.standard_normal(m))
    spectrum *= (np.maximum(np.fft.rfftfreq(m, 1 / SAMPLE_RATE), 100.0) / 100.0) ** (-slope / 2)
    noise = np.fft.irfft(spectrum, m)[:n]
    return noise / noise.std()


def render_sound(rng: np.random.Generator, sound: int | None = None) -> tuple[np.ndarray, dict[str, float | int]]:
    """One random sound (of class ``sound``, or a random class): float32 samples at ``SAMPLE_RATE`` in
    [-1, 1] and labels (sound, timbre, contour, envelope; pitch in Hz, loudness in dBFS, duration in s, snr
    in dB)."""
    sound = int(rng.integers(len(SOUNDS))) if sound is None else sound
    timbre, contour, envelope = SOUNDS[sound]
    duration = float(rng.uniform(*DURATION_RANGE))
    n = round(duration * SAMPLE_RATE)
    onset = int(rng.uniform(0.0, 0.1) * SAMPLE_RATE)
    tau = np.arange(n - onset) / SAMPLE_RATE

    pitch = float(np.exp(rng.uniform(*np.log(PITCH_RANGE))))
    f0 = _pitch(rng, contour, pitch, tau)
    amps = _partials(rng, timbre)
    amps = amps[: max(1, int(MAX_PARTIAL_HZ / f0.min()))]  # the partials that are ever below the limit
    k = np.arange(1, amps.size + 1)[:, None]
    phases = 2 * np.pi * k * np.cumsum(f0) / SAMPLE_RATE + rng.uniform(0, 2 * np.pi, size=k.shape)
    tone = (amps[:, None] * (k * f0 < MAX_PARTIAL_HZ) * np.sin(phases)).sum(0) * _envelope(rng, envelope, tau)
    loudness = float(rng.uniform(*LOUDNESS_DB))
    note = np.zeros(n)
    note[onset:] = tone / np.abs(tone).max() * 10 ** (loudness / 20)

    snr = float(rng.uniform(*SNR_DB))
    noise = _coloured_noise(rng, n, rng.uniform(*NOISE_SLOPE)) * np.sqrt(np.mean(note[onset:] ** 2)) / 10 ** (snr / 20)
    wave = np.clip(note + noise, -1.0, 1.0).astype(np.float32)
    labels = {
        "sound": sound,
        "timbre": TIMBRES.index(timbre),
        "contour": CONTOURS.index(contour),
        "envelope": ENVELOPES.index(envelope),
        "pitch": pitch,
        "loudness": loudness,
        "duration": duration,
        "snr": snr,
    }
    return wave, labels


def _dataset_name(num_train: int, num_val: int, seed: int) -> str:
    return f"sounds-v{_FORMAT_VERSION}-{num_train}-{num_val}-s{seed}"


def write_sound_files(
    out: Path,
    num: dict[str, int],
    seed: int,
    render: Callable[[np.random.Generator], tuple[np.ndarray, dict]],
    row: Callable[[dict], dict[str, object]],
    columns: Sequence[str],
    desc: str,
    progress: bool,
) -> None:
    """Write ``num[split]`` sounds per split as ``out/<split>/NNNNNN.wav`` (16-bit, ``SAMPLE_RATE``), each from
    ``render`` with its own seeded generator, and their ``row(labels)`` to ``out/labels.csv``."""
    import soundfile
    from tqdm.auto import tqdm

    rows: list[dict[str, object]] = []
    with tqdm(total=sum(num.values()), desc=desc, disable=not progress, unit="file") as bar:
        for split_id, split in enumerate(SPLITS):
            (out / split).mkdir()
            for i in range(num[split]):
                wave, labels = render(np.random.default_rng([seed, split_id, i]))
                file = f"{split}/{i:06d}.wav"
                soundfile.write(out / file, wave, SAMPLE_RATE, subtype="PCM_16")
                rows.append({"split": split, "file": file} | row(labels))
                bar.update(1)
    write_csv(out / "labels.csv", columns, rows)


def _label_row(lab: dict) -> dict[str, object]:
    return {key: lab[key] for key in ("sound", "timbre", "contour", "envelope")} | {
        key: f"{lab[key]:.4f}" for key in ("pitch", "loudness", "duration", "snr")
    }


def _generate_into(out: Path, num: dict[str, int], seed: int, progress: bool) -> dict:
    write_sound_files(out, num, seed, render_sound, _label_row, LABEL_COLUMNS, "generating sounds", progress)
    return {
        "version": _FORMAT_VERSION,
        "sounds": [sound_name(s) for s in range(len(SOUNDS))],
        "sample_rate": SAMPLE_RATE,
        "num_train": num["train"],
        "num_val": num["val"],
        "seed": seed,
    }


def make_synthetic_sounds(
    root: str | Path, num_train: int = 1200, num_val: int = 300, seed: int = 0, progress: bool = True
) -> Path:
    """Generate the sounds once under ``root`` and return their directory.

    Layout: ``<dir>/{train,val}/NNNNNN.wav`` (mono, 16-bit, ``SAMPLE_RATE``) and ``<dir>/labels.csv``
    (columns ``LABEL_COLUMNS``; sound = index into ``SOUNDS``; timbre, contour, envelope = indices into
    ``TIMBRES``, ``CONTOURS``, ``ENVELOPES``). Idempotent and atomic (``generate_once``), like
    ``make_shapes_dataset``.
    """
    if num_train < 0 or num_val < 0:
        raise ValueError("num_train and num_val must be >= 0")
    final = Path(root) / _dataset_name(num_train, num_val, seed)
    return generate_once(final, lambda out: _generate_into(out, {"train": num_train, "val": num_val}, seed, progress))
