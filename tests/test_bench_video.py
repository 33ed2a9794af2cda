"""`jepa bench-video` at toy size: decode rows per backend and worker count, and the training row."""

import sys

import pytest

pytest.importorskip("decord", reason="video tests need the 'video' extra (decord2, av)")

from jepa.bench.video import run_video_bench  # noqa: E402
from jepa.config import load_config  # noqa: E402

BENCH = [
    "data.num_workers=1",
    "bench.clips=12",
    "bench.steps=1",
    "bench.warmup=1",
    "bench.repeats=1",
    "train.precision=fp32",
]


def test_bench_reports_decode_rates_per_backend_and_workers_against_training(video_overrides, monkeypatch):
    monkeypatch.setitem(sys.modules, "torchcodec", None)  # as if not installed, whatever this machine has
    rows = run_video_bench(load_config([*video_overrides, *BENCH]))
    assert [(r["stage"], r.get("backend"), r.get("workers")) for r in rows] == [
        ("decode", "decord", 0),
        ("decode", "decord", 1),
        ("decode", "torchcodec", 0),
        ("decode", "torchcodec", 1),
        ("train step (fp32)", None, None),
    ]
    decord, train = rows[0], rows[-1]
    assert decord["clips"] == 16 and decord["clips_per_s"] > 0  # 12 clips rounded up to 2 batches of 8
    assert decord["vs_train"] == pytest.approx(decord["clips_per_s"] / train["clips_per_s"])
    assert train["clips"] == 8 and train["clips_per_s"] > 0
    for skipped in rows[2:4]:
        assert skipped["note"].startswith("skipped:") and "pip install torchcodec==0.13.0" in skipped["note"]
        assert "clips_per_s" not in skipped
