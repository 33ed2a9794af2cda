import shutil

import numpy as np
import pytest
import torch

pytest.importorskip("soundfile", reason="audio tests need the 'audio' extra (soundfile, torchaudio)")

from jepa.config import load_config  # noqa: E402
from jepa.data.audio import NUM_MEL_BINS, SpokenDigits  # noqa: E402
from jepa.data.generate import spoken_digits  # noqa: E402
from jepa.data.generate.spoken_digits import DIGITS, SAMPLE_RATE, VOICES, make_spoken_digits, speak  # noqa: E402

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def _voiced_seconds(wave: np.ndarray) -> float:
    """Length of the stretch between the first and last 10 ms frame above 10 % of the peak frame energy."""
    frames = wave[: len(wave) // 160 * 160].reshape(-1, 160)
    energy = (frames**2).mean(1)
    loud = np.flatnonzero(energy > 0.1 * energy.max())
    return (loud[-1] - loud[0] + 1) * 0.01


def test_without_espeak_the_dataset_names_the_package_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(spoken_digits.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="apt-get install espeak-ng"):
        make_spoken_digits(tmp_path, 4, 2, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_config_accepts_the_spoken_digits_dataset():
    cfg = load_config(["experiment=ajepa_sounds", "data.name=spoken_digits", "data.num_train=100"])
    assert cfg.data.name == "spoken_digits"


@needs_espeak
def test_speaking_rate_changes_the_length_of_the_word():
    slow, fast = (_voiced_seconds(speak("seven", VOICES[0], rate, 50)) for rate in (120, 220))
    assert slow > 1.3 * fast > 0.1


@needs_espeak
def test_spoken_digits_are_labelled_clips_holding_the_word(tmp_path):
    directory = make_spoken_digits(tmp_path, 8, 4, seed=3, progress=False)
    assert directory == make_spoken_digits(tmp_path, 8, 4, seed=3, progress=False)  # made once
    train = SpokenDigits(tmp_path, "train", num_train=8, num_val=4, seed=3, duration=1.28)
    val = SpokenDigits(tmp_path, "val", num_train=8, num_val=4, seed=3, duration=1.28)
    assert (len(train), len(val), train.num_classes) == (8, 4, len(DIGITS))
    assert set(train.labels) == {"digit", "voice", "rate", "pitch", "snr"}
    assert train.labels["digit"].max() < len(DIGITS) and train.labels["voice"].max() < len(VOICES)
    x, y = train[0]
    assert x.shape == (1, train.num_frames, NUM_MEL_BINS) and x.dtype == torch.float32
    assert y == train.labels["digit"][0] and train.num_skipped == 0
    # the centred clip holds the whole word: the file outside it is only noise
    import soundfile

    wave, rate = soundfile.read(directory / "train" / "000000.wav", dtype="float32")
    assert rate == SAMPLE_RATE
    energy = (wave[: len(wave) // 160 * 160].reshape(-1, 160) ** 2).mean(1)  # per 10 ms
    cut = (len(energy) - 128) // 2
    assert max(energy[:cut].max(), energy[-cut:].max()) < 0.3 * energy.max()
