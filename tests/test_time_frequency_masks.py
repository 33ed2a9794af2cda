"""A-JEPA's time-frequency masks and their curriculum on a (time x mel) patch grid."""

import pytest
import torch

from jepa.data.loader import BatchContext
from jepa.masks import MaskCollator, MultiBlockMasks, TimeFrequencyBlocks, TimeFrequencyMasks, curriculum_probability

GRID = (12, 8)  # 192 frames x 128 mel bins in 16 x 16 patches
T, F = GRID


def _curriculum(total_steps=100, start=0.01) -> TimeFrequencyMasks:
    return TimeFrequencyMasks(TimeFrequencyBlocks(grid=GRID), MultiBlockMasks(grid=GRID), total_steps, start)


def _cells(indices: torch.Tensor) -> tuple[set[int], set[int]]:
    return set((indices // F).tolist()), set((indices % F).tolist())


def test_stripe_probability_rises_with_the_step_from_c0_to_one():
    probs = [curriculum_probability(step, 1000, 0.01) for step in range(0, 1200, 50)]
    assert probs[0] == pytest.approx(0.01) and probs[-1] == 1.0
    assert all(a < b for a, b in zip(probs, probs[1:21])) and probs[20] == pytest.approx(1.0)
    assert curriculum_probability(250, 1000, 0.01) == pytest.approx(0.5, abs=1e-3)  # a root: half way at 1/4


def test_batches_use_stripes_more_often_late_in_training():
    masks = _curriculum(total_steps=100)

    def stripe_share(step: int) -> float:
        picks = [len(masks.at_step(step)(2, torch.Generator().manual_seed(s))[1]) == 3 for s in range(200)]
        return sum(picks) / len(picks)

    early, middle, late = stripe_share(0), stripe_share(10), stripe_share(100)
    assert early < 0.05 < middle < late == 1.0


def test_stripes_span_all_mel_bands_or_all_time_and_stay_out_of_the_context():
    ctx, tgt = TimeFrequencyBlocks(grid=GRID)(16, torch.Generator().manual_seed(0))
    assert len(ctx) == 1 and len(tgt) == 3
    for t in tgt:
        for b in range(16):
            rows, cols = _cells(t[b])
            time_span = cols == set(range(F)) and max(rows) - min(rows) + 1 == len(rows)
            mel_band = rows == set(range(T)) and max(cols) - min(cols) + 1 == len(cols)
            assert time_span or mel_band
            assert len(t[b]) == len(rows) * len(cols)  # a full rectangle
            assert not set(t[b].tolist()) & set(ctx[0][b].tolist())
    assert max(int(t.max()) for t in tgt) < T * F and int(ctx[0].max()) < T * F and ctx[0].shape[1] >= 4


def test_stripes_cover_both_axes_and_reach_the_last_row_and_column():
    masks = TimeFrequencyBlocks(grid=GRID)
    g = torch.Generator().manual_seed(1)
    time_rows, mel_cols = set(), set()
    for _ in range(40):
        _, tgt = masks(8, g)
        for t in tgt:
            for b in range(8):
                rows, cols = _cells(t[b])
                if cols == set(range(F)):
                    time_rows |= rows
                if rows == set(range(T)):
                    mel_cols |= cols
    assert time_rows == set(range(T)) and mel_cols == set(range(F))


def test_curriculum_masks_are_a_function_of_seed_and_step():
    collate = MaskCollator(_curriculum())
    samples = [(torch.zeros(1, 192, 128), 0)] * 4
    context = BatchContext(step=30, seed=5, global_batch=4, rows=slice(0, 4))
    a, b = collate(samples, context), collate(samples, context)
    assert all(torch.equal(x, y) for x, y in zip(a["masks_ctx"] + a["masks_tgt"], b["masks_ctx"] + b["masks_tgt"]))
    other = collate(samples, BatchContext(step=30, seed=6, global_batch=4, rows=slice(0, 4)))
    assert not all(torch.equal(x, y) for x, y in zip(a["masks_tgt"], other["masks_tgt"]))
