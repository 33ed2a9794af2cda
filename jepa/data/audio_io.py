"""Sound files as 16 kHz mono samples: the one decoder shared by the audio datasets and the spoken-digit generator
(which resamples espeak-ng's 22.05 kHz output with it), kept apart so that neither imports the other."""

from __future__ import annotations

import re
from pathlib import Path

import torch

SAMPLE_RATE = 16_000
# libsndfile's log of a wav whose data chunk promises more bytes than the file holds (it reads what is there)
_SHORT_DATA = re.compile(r"^data\s*:\s*(\d+) \(should be (\d+)\)", re.MULTILINE)
_STREAMED = 0xFFFFFFFF  # the size a writer that cannot seek leaves in the header: not a sign of truncation


class AudioDecodeError(RuntimeError):
    """An audio file exists but holds no usable sound."""


def import_torchaudio():
    """torchaudio, or an ImportError that says how to make it load (a CPU-only torch needs its CUDA parts gone)."""
    try:
        import torchaudio.compliance.kaldi
        import torchaudio.functional
    except (ImportError, OSError) as err:
        raise ImportError(
            f"torchaudio is not usable ({err}); pip install 'jepa[audio]'. With a CPU-only torch, also delete "
            "torchaudio/lib/*.so (its CUDA extensions; scripts/setup.sh does this): fbank and resample need none."
        ) from err
    return torchaudio


def read_audio(path: str | Path) -> torch.Tensor:
    """Mono samples ``(n,)`` float32 at ``SAMPLE_RATE``: channels averaged, other rates resampled.

    Raises ``AudioDecodeError`` for a file with no samples or a wav cut short (which libsndfile would
    otherwise read as a shorter sound), and soundfile's RuntimeError for anything it cannot decode.
    """
    import soundfile

    with soundfile.SoundFile(str(path)) as f:
        short = _SHORT_DATA.search(f.extra_info)
        if short:
            promised, held = int(short[1]), int(short[2])
            if held < promised != _STREAMED:
                raise AudioDecodeError(f"truncated: header promises {promised} bytes of audio, file holds {held}")
        data, rate = f.read(dtype="float32", always_2d=True), f.samplerate
    if data.size == 0:
        raise AudioDecodeError("no samples")
    wave = torch.from_numpy(data).mean(dim=1)
    if rate != SAMPLE_RATE:
        wave = import_torchaudio().functional.resample(wave, rate, SAMPLE_RATE)
    return wave
