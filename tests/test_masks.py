import torch

from jepa.masks import MultiBlockMasks


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
