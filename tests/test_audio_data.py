import csv
import importlib.util
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

soundfile = pytest.importorskip("soundfile", reason="audio tests need the 'audio' extra (soundfile, torchaudio)")

from jepa.common.errors import DataError  # noqa: E402
from jepa.data.audio import (  # noqa: E402
    NUM_MEL_BINS,
    AudioClipDataset,
    SyntheticSounds,
    crop_or_pad,
    fbank_stats,
    log_mel_fbank,
    read_audio,
)
from jepa.data.generate.sounds import (  # noqa: E402
    CONTOURS,
    ENVELOPES,
    LABEL_COLUMNS,
    SAMPLE_RATE,
    SOUNDS,
    TIMBRES,
    make_synthetic_sounds,
    render_sound,
)

NUM_TRAIN, NUM_VAL = 12, 6


@pytest.fixture(scope="module")
def sounds_dir(tmp_path_factory):
    return make_synthetic_sounds(tmp_path_factory.mktemp("sounds"), NUM_TRAIN, NUM_VAL, progress=False)


def test_generated_sounds_are_16khz_wav_files_with_consistent_labels(sounds_dir):
    root = sounds_dir.parent
    mtime = (sounds_dir / "labels.csv").stat().st_mtime_ns
    assert make_synthetic_sounds(root, NUM_TRAIN, NUM_VAL, progress=False) == sounds_dir
    assert (sounds_dir / "labels.csv").stat().st_mtime_ns == mtime  # idempotent
    assert not list(root.glob(".*tmp*"))
    with open(sounds_dir / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == LABEL_COLUMNS and len(rows) == NUM_TRAIN + NUM_VAL
    for row in rows:
        info = soundfile.info(str(sounds_dir / row["file"]))
        assert (info.format, info.samplerate, info.channels) == ("WAV", SAMPLE_RATE, 1)
        assert abs(info.frames - float(row["duration"]) * SAMPLE_RATE) <= 1 and 1.0 <= float(row["duration"]) <= 2.0
        parts = (TIMBRES[int(row["timbre"])], CONTOURS[int(row["contour"])], ENVELOPES[int(row["envelope"])])
        assert parts == SOUNDS[int(row["sound"])]


def _dominant_frequency(wave: np.ndarray, start: float, stop: float) -> float:
    segment = wave[int(start * SAMPLE_RATE) : int(stop * SAMPLE_RATE)]
    spectrum = np.abs(np.fft.rfft(segment * np.hanning(len(segment))))
    return float(np.fft.rfftfreq(len(segment), 1 / SAMPLE_RATE)[spectrum.argmax()])


@pytest.mark.parametrize("seed", range(4))
def test_rising_and_falling_sounds_are_heard_rising_and_falling(seed):
    for sound, direction in (
        (SOUNDS.index(("pure", "rising", "sustained")), 1),
        (SOUNDS.index(("pure", "falling", "tremolo")), -1),
    ):
        wave, labels = render_sound(np.random.default_rng(seed), sound)
        end = labels["duration"]
        ratio = _dominant_frequency(wave, end - 0.5, end - 0.25) / _dominant_frequency(wave, 0.15, 0.4)
        assert ratio**direction > 1.1, (CONTOURS[labels["contour"]], ratio)


def test_synthetic_sounds_dataset_yields_normalised_fbanks_with_labels(sounds_dir):
    train = SyntheticSounds(sounds_dir.parent, "train", num_train=NUM_TRAIN, num_val=NUM_VAL)
    mean, std = fbank_stats(train)
    assert -20 < mean < 5 and 1 < std < 20  # log-mel energies of quiet sounds over silence
    val = SyntheticSounds(sounds_dir.parent, "val", num_train=NUM_TRAIN, num_val=NUM_VAL, stats=(mean, std))
    assert len(val) == NUM_VAL and val.num_classes == len(SOUNDS)
    assert set(val.labels) == {"sound", "timbre", "contour", "envelope", "pitch", "loudness", "duration", "snr"}
    x, y = val[2]
    assert x.shape == (1, val.num_frames, NUM_MEL_BINS) == (1, 198, 128) and x.dtype == torch.float32
    assert y == val.labels["sound"][2] and val.num_skipped == 0
    train.stats = (mean, std)
    normalised = torch.stack([train[i][0] for i in range(len(train))])
    assert abs(normalised.mean().item()) < 1e-3 and abs(normalised.std().item() - 1) < 1e-3


def test_fbank_frames_follow_the_25ms_window_and_10ms_shift():
    assert log_mel_fbank(torch.randn(SAMPLE_RATE) * 0.1).shape == (98, NUM_MEL_BINS)  # 1 + (16000 - 400) // 160
    assert log_mel_fbank(torch.randn(400) * 0.1).shape == (1, NUM_MEL_BINS)


def test_crop_or_pad_centres_or_draws_the_window_and_pads_with_silence():
    wave = torch.arange(1.0, 11.0)
    assert crop_or_pad(wave, 4, random=False).tolist() == [4.0, 5.0, 6.0, 7.0]
    assert crop_or_pad(wave[:2], 6, random=False).tolist() == [0.0, 0.0, 1.0, 2.0, 0.0, 0.0]
    g = torch.Generator().manual_seed(0)
    crops = {tuple(crop_or_pad(wave, 4, random=True, generator=g).tolist()) for _ in range(50)}
    assert len(crops) > 3 and all(np.diff(c).tolist() == [1.0] * 3 for c in crops)
    pads = [crop_or_pad(wave[:2], 6, random=True, generator=g) for _ in range(50)]
    assert all(p.sum() == 3 and p.count_nonzero() == 2 for p in pads) and len({p.argmax().item() for p in pads}) > 2


def _pygame_sounds() -> list[Path]:
    spec = importlib.util.find_spec("pygame")  # located, not imported: importing pygame prints a banner
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pygame-ce (ships real wav/flac/ogg/mp3 sounds) is not installed")
    data = Path(spec.submodule_search_locations[0]) / "examples" / "data"
    files = sorted(p for p in data.glob("*") if p.suffix in {".wav", ".flac", ".ogg", ".mp3"})
    if not files:
        pytest.skip(f"no sound files found in {data} (pygame-ce's example data)")
    return files


def test_reads_the_real_sounds_shipped_with_pygame(tmp_path):
    files = _pygame_sounds()
    suffixes = sorted({p.suffix for p in files})
    index = tmp_path / "index.csv"
    index.write_text("".join(f"{p} {suffixes.index(p.suffix)}\n" for p in files))
    ds = AudioClipDataset(index, duration=1.0, random_crop=True)
    for i, path in enumerate(files):
        x, y = ds[i]
        assert x.shape == (1, 98, NUM_MEL_BINS) and y == suffixes.index(path.suffix) and torch.isfinite(x).all()
        assert x.std() > 0.5, path.name  # real sound, not silence
    assert ds.num_skipped == 0
    # One recording in four formats (8-bit wav, flac, ogg, mp3; 11025 Hz): resampled alike, decoded alike.
    house = {p.suffix: p for p in files if p.stem == "house_lo"}
    if len(house) == 4:
        reference = read_audio(house[".wav"])
        assert abs(len(reference) - soundfile.info(str(house[".wav"])).frames * SAMPLE_RATE / 11025) <= 1
        for suffix in (".flac", ".ogg"):
            other = read_audio(house[suffix])
            assert torch.corrcoef(torch.stack([other, reference]))[0, 1] > 0.99, suffix
        assert abs(len(read_audio(house[".mp3"])) / len(reference) - 1) < 0.05  # mp3 adds encoder delay


def _mixed_folder(sounds_dir: Path, root: Path) -> Path:
    """Class "a-good": three generated wavs; class "b-bad": a truncated wav, an empty file and a text file."""
    (root / "a-good").mkdir(parents=True)
    (root / "b-bad" / "nested").mkdir(parents=True)
    good = sorted((sounds_dir / "train").glob("*.wav"))[:3]
    for k, path in enumerate(good):
        shutil.copy(path, root / "a-good" / f"{k}.wav")
    data = good[0].read_bytes()
    (root / "b-bad" / "truncated.wav").write_bytes(data[: len(data) // 2])
    (root / "b-bad" / "empty.flac").write_bytes(b"")
    (root / "b-bad" / "nested" / "notes.ogg").write_text("not a sound, just text\n" * 20)
    return root


@pytest.mark.parametrize("num_workers", [0, 2])
def test_truncated_empty_and_non_audio_files_are_skipped_and_counted(sounds_dir, tmp_path, num_workers):
    ds = AudioClipDataset(_mixed_folder(sounds_dir, tmp_path / "mixed"), duration=1.0)
    assert ds.classes == ["a-good", "b-bad"] and len(ds) == 6
    labels = torch.cat([y for _, y in DataLoader(ds, batch_size=2, num_workers=num_workers)])
    assert len(labels) == 6 and (labels == 0).all()  # every item came from a good file
    assert ds.num_skipped == 3
    assert sorted(p.name for p in ds.bad_files) == ["empty.flac", "notes.ogg", "truncated.wav"]


def test_stats_count_each_readable_file_once(sounds_dir, tmp_path):
    mixed = AudioClipDataset(_mixed_folder(sounds_dir, tmp_path / "mixed"), duration=1.0)
    good = AudioClipDataset(tmp_path / "mixed" / "a-good", duration=1.0)
    assert fbank_stats(mixed) == pytest.approx(fbank_stats(good))


def test_a_wav_streamed_without_its_length_is_read_whole(sounds_dir, tmp_path):
    source = sorted((sounds_dir / "train").glob("*.wav"))[0]
    data = bytearray(source.read_bytes())
    size_at = data.index(b"data") + 4
    data[size_at : size_at + 4] = struct.pack("<I", 0xFFFFFFFF)  # what a writer to a pipe leaves there
    (tmp_path / "streamed.wav").write_bytes(bytes(data))
    torch.testing.assert_close(read_audio(tmp_path / "streamed.wav"), read_audio(source))


def test_all_unreadable_files_fail_clearly(tmp_path):
    for name in ("a.wav", "b.mp3"):
        (tmp_path / name).write_bytes(b"RIFF\x00\x00\x00\x00WAVE not really audio")
    ds = AudioClipDataset(tmp_path)
    with pytest.raises(RuntimeError, match=r"no readable audio file.*2 of 2 files are unreadable.*a\.wav"):
        ds[0]
    with pytest.raises(RuntimeError, match="2 of 2 files are unreadable"):
        fbank_stats(ds)
    with pytest.raises(ValueError, match="positive std"):
        AudioClipDataset(tmp_path, stats=(0.0, 0.0))
    (tmp_path / "nothing").mkdir()
    with pytest.raises(DataError, match="no audio files"):
        AudioClipDataset(tmp_path / "nothing")
