"""Spoken digits synthesised by Debian's ``espeak-ng``, written as 16 kHz wav files with their labels.

Optional real speech for the audio pipeline: a word per file ("zero" .. "nine"), spoken by one of several
English voices at a random rate and pitch, over background noise at a random SNR. The held-out split uses the
same voices, so a probe measures what the encoder hears of the word, not whether it generalises to a new voice
(the ``voice`` label lets a probe ask that too). Nothing is downloaded: the synthesiser runs locally, and
without it the dataset says how to install it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from jepa.data.audio_io import read_audio
from jepa.data.generate.files import generate_once, is_complete
from jepa.data.generate.sounds import SAMPLE_RATE, write_sound_files

__all__ = ["DIGITS", "VOICES", "espeak_ng", "make_spoken_digits", "speak"]

DIGITS: tuple[str, ...] = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# espeak-ng's English voice with its male (m*) and female (f*) variants, British and American
VOICES: tuple[str, ...] = ("en+m1", "en+m3", "en+m5", "en-us+m2", "en+f1", "en+f3", "en-us+f2", "en-us+f4")
RATE_WPM = (120, 220)  # speaking rate, words per minute
PITCH = (25, 75)  # espeak-ng's pitch setting, 0-99
SNR_DB = (10.0, 30.0)  # speech RMS over white-noise RMS
DURATION = 1.5  # seconds per file: the word with silence and noise around it
MARGIN = 0.12  # seconds at either end the word keeps clear of, so a centred 1.28 s clip holds it whole
LABEL_COLUMNS: tuple[str, ...] = ("split", "file", "digit", "voice", "rate", "pitch", "snr")
_FORMAT_VERSION = 1


def espeak_ng() -> str:
    """Path of the ``espeak-ng`` program; a clear error naming the package when it is not installed."""
    path = shutil.which("espeak-ng")
    if path is None:
        raise FileNotFoundError(
            "data.name=spoken_digits synthesises speech with espeak-ng, which is not on PATH; "
            "install it (Debian/Ubuntu: apt-get install espeak-ng) or use data.name=sounds"
        )
    return path


def speak(word: str, voice: str, rate: int, pitch: int) -> np.ndarray:
    """``word`` as float32 mono samples at ``SAMPLE_RATE`` (espeak-ng writes 22.05 kHz; resampled here once, by the
    audio datasets' own decoder)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "word.wav"
        cmd = [espeak_ng(), "-v", voice, "-s", str(rate), "-p", str(pitch), "-w", str(path), word]
        subprocess.run(cmd, check=True, capture_output=True)
        return read_audio(path).numpy()


def render_digit(rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float | int]]:
    """One random utterance: ``DURATION`` s of float32 samples in [-1, 1] and its labels."""
    digit, voice = int(rng.integers(len(DIGITS))), int(rng.integers(len(VOICES)))
    rate, pitch = int(rng.integers(RATE_WPM[0], RATE_WPM[1] + 1)), int(rng.integers(PITCH[0], PITCH[1] + 1))
    speech = speak(DIGITS[digit], VOICES[voice], rate, pitch)
    n, margin = round(DURATION * SAMPLE_RATE), round(MARGIN * SAMPLE_RATE)
    speech = speech[: n - 2 * margin]
    start = int(rng.integers(margin, n - margin - len(speech) + 1))  # not always centred
    wave = np.zeros(n, dtype=np.float64)
    wave[start : start + len(speech)] = speech / max(np.abs(speech).max(), 1e-6) * rng.uniform(0.3, 0.9)
    snr = float(rng.uniform(*SNR_DB))
    voiced = np.abs(wave) > 0.01 * np.abs(wave).max()
    wave += rng.normal(0.0, np.sqrt(np.mean(wave[voiced] ** 2)) / 10 ** (snr / 20), size=n)
    labels = {"digit": digit, "voice": voice, "rate": rate, "pitch": pitch, "snr": snr}
    return np.clip(wave, -1.0, 1.0).astype(np.float32), labels


def _dataset_name(num_train: int, num_val: int, seed: int) -> str:
    return f"spoken-digits-v{_FORMAT_VERSION}-{num_train}-{num_val}-s{seed}"


def _generate_into(out: Path, num: dict[str, int], seed: int, progress: bool) -> dict:
    def row(lab: dict) -> dict[str, object]:
        return lab | {"snr": f"{lab['snr']:.3f}"}

    write_sound_files(out, num, seed, render_digit, row, LABEL_COLUMNS, "synthesising spoken digits", progress)
    version = subprocess.run([espeak_ng(), "--version"], capture_output=True, text=True).stdout.strip()
    return {"version": _FORMAT_VERSION, "synthesiser": version, "voices": list(VOICES), "seed": seed} | num


def make_spoken_digits(
    root: str | Path, num_train: int = 1000, num_val: int = 300, seed: int = 0, progress: bool = True
) -> Path:
    """Synthesise the digits once under ``root`` and return their directory: ``<dir>/{train,val}/NNNNNN.wav``
    (mono, 16-bit, 16 kHz) and ``<dir>/labels.csv`` (``LABEL_COLUMNS``; digit = the number spoken, voice =
    index into ``VOICES``; rate in words per minute, pitch as espeak-ng's 0-99, snr in dB). Idempotent and
    atomic (``generate_once``), like the other generated sets."""
    if num_train < 0 or num_val < 0:
        raise ValueError("num_train and num_val must be >= 0")
    final = Path(root) / _dataset_name(num_train, num_val, seed)
    if not is_complete(final):
        espeak_ng()  # fail before creating anything
    return generate_once(final, lambda out: _generate_into(out, {"train": num_train, "val": num_val}, seed, progress))
