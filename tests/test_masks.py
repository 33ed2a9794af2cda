import pytest
import torch

from jepa.masks import BlockSpec, MultiBlock3DMasks, MultiBlockMasks


def _sample(masks, batch=8, seed=0):
    return masks(batch, torch.Generator().manual_seed(seed))


def test_multiblock_shapes_follow_the_published_setting():
    masks = MultiBlockMasks(grid=(8, 8))
    ctx, tgt = _sample(masks)
    assert len(ctx) == 1 and len(tgt) == 4
    assert ctx[0].shape[0] == 8 and all(t.shape == tgt[0].shape for t in tgt)
    # targets: 15-20% of 64 tokens each, one block size per batch
    assert 0.1 * 64 <= tgt[0].shape[1] <= 0.25 * 64


def test_context_never_contains_target_tokens():
    ctx, tgt = _sample(MultiBlockMasks(grid=(8, 8)), batch=32)
    for b in range(32):
        targets = set(torch.cat([t[b] for t in tgt]).tolist())
        assert not targets & set(ctx[0][b].tolist())
        assert len(ctx[0][b]) >= 4


def test_target_blocks_are_rectangles():
    _, tgt = _sample(MultiBlockMasks(grid=(8, 8)))
    for t in tgt:
        rows, cols = t[0] // 8, t[0] % 8
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert h * w == len(t[0])


def test_blocks_reach_every_cell_including_last_row_and_column():
    masks = MultiBlockMasks(grid=(8, 8))
    covered = torch.zeros(64, dtype=torch.bool)
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        _, tgt = masks(16, g)
        for t in tgt:
            covered[t.flatten()] = True
    assert covered.all(), f"never-targeted cells: {(~covered).nonzero().flatten().tolist()}"
    last_row = set(range(56, 64))
    assert last_row <= set(covered.nonzero().flatten().tolist())


def test_masks_are_reproducible_from_the_generator_seed():
    masks = MultiBlockMasks(grid=(8, 8))
    a, b, c = _sample(masks, seed=3), _sample(masks, seed=3), _sample(masks, seed=4)
    assert all(torch.equal(x, y) for x, y in zip(a[0] + a[1], b[0] + b[1]))
    assert not all(torch.equal(x, y) for x, y in zip(a[1], c[1]))


def test_non_square_grid_for_spectrograms():
    ctx, tgt = _sample(MultiBlockMasks(grid=(4, 16)))
    assert int(torch.cat(tgt).max()) < 64 and int(ctx[0].max()) < 64


def test_3d_masks_give_one_context_and_one_target_per_generator():
    masks = MultiBlock3DMasks(grid=(4, 8, 8))
    ctx, tgt = _sample(masks, batch=16)
    assert masks.num_generators == len(ctx) == len(tgt) == 2
    for c, t in zip(ctx, tgt):
        assert c.shape[0] == t.shape[0] == 16 and c.shape[1] >= masks.min_keep
        for b in range(16):
            assert not set(c[b].tolist()) & set(t[b].tolist())
            assert torch.equal(c[b], c[b].sort().values) and int(c[b].max()) < 4 * 64
    # long-range blocks (70% of the frame each) leave far less context than short-range ones
    assert ctx[1].shape[1] < ctx[0].shape[1]


def test_3d_target_is_the_union_of_blocks_spanning_all_time_and_context_its_complement():
    grid = (4, 8, 8)
    for seed in range(10):
        ctx, tgt = _sample(MultiBlock3DMasks(grid=grid), batch=1, seed=seed)  # one sample: nothing truncated
        for c, t in zip(ctx, tgt):
            assert sorted(c[0].tolist() + t[0].tolist()) == list(range(4 * 64))
            target = torch.zeros(4 * 64, dtype=torch.bool)
            target[t[0]] = True
            target = target.view(grid)
            assert (target == target[0]).all()  # temporal scale 1: every frame masks the same cells


def test_short_range_blocks_have_the_published_size():
    spec = BlockSpec(num_blocks=1, spatial_scale=(0.15, 0.15))
    for seed in range(20):
        _, tgt = _sample(MultiBlock3DMasks(grid=(4, 16, 16), specs=(spec,)), batch=1, seed=seed)
        area = len(tgt[0][0]) / 4
        assert 0.1 * 256 <= area <= 0.2 * 256


def test_3d_blocks_reach_every_cell_including_the_last_row_column_and_frame():
    grid = (4, 8, 8)
    short = BlockSpec(num_blocks=1, spatial_scale=(0.1, 0.1), temporal_scale=(0.5, 0.5))
    masks = MultiBlock3DMasks(grid=grid, specs=(short,))
    covered = torch.zeros(4 * 64, dtype=torch.bool)
    g = torch.Generator().manual_seed(0)
    for _ in range(30):
        _, tgt = masks(16, g)
        covered[tgt[0].flatten()] = True
    assert covered.all(), f"never-targeted cells: {(~covered).nonzero().flatten().tolist()}"


def test_3d_masks_are_reproducible_and_too_much_masking_fails_clearly():
    masks = MultiBlock3DMasks(grid=(2, 4, 4))
    a, b = _sample(masks, seed=1), _sample(masks, seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a[0] + a[1], b[0] + b[1]))
    whole = BlockSpec(num_blocks=1, spatial_scale=(1.0, 1.0), aspect=(1.0, 1.0))
    with pytest.raises(RuntimeError, match="could not keep 4 context tokens"):
        _sample(MultiBlock3DMasks(grid=(2, 4, 4), specs=(whole,)))


def test_mask_collator_stacks_3d_masks_unchanged():
    from jepa.data.loader import BatchContext
    from jepa.masks import MaskCollator

    collate = MaskCollator(MultiBlock3DMasks(grid=(2, 4, 4)))
    batch = collate(
        [(torch.zeros(3, 4, 16, 16), 0)] * 2, BatchContext(step=7, seed=0, global_batch=4, rows=slice(2, 4))
    )
    assert batch["x"].shape == (2, 3, 4, 16, 16)
    assert len(batch["masks_ctx"]) == len(batch["masks_tgt"]) == 2
    assert all(m.shape[0] == 2 for m in batch["masks_ctx"] + batch["masks_tgt"])
