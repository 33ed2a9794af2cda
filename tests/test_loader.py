import torch
from torch.utils.data import TensorDataset

from jepa.data.loader import build_train_loader
from jepa.masks import MaskCollator, MultiBlockMasks

MASKS = MaskCollator(MultiBlockMasks(grid=(4, 4), num_targets=2, min_keep=2))


def _dataset(n=40):
    return TensorDataset(torch.arange(n).float().view(n, 1, 1, 1).expand(n, 1, 4, 4).clone(), torch.arange(n))


def _batches(**kwargs):
    args = dict(global_batch=8, seed=1, total_steps=12, num_workers=0) | kwargs
    return list(build_train_loader(_dataset(), MASKS, **args))


def test_batches_are_a_function_of_seed_and_step():
    full = _batches()
    resumed = _batches(start_step=7)
    assert [b["step"] for b in resumed] == list(range(7, 12))
    for a, b in zip(full[7:], resumed):
        assert torch.equal(a["y"], b["y"])
        assert all(torch.equal(x, y) for x, y in zip(a["masks_ctx"] + a["masks_tgt"], b["masks_ctx"] + b["masks_tgt"]))


def test_every_sample_is_seen_once_per_epoch():
    full = _batches()
    first_epoch = torch.cat([b["y"] for b in full[:5]])
    assert sorted(first_epoch.tolist()) == list(range(40))
    assert not torch.equal(full[0]["y"], full[5]["y"])  # a new permutation each epoch


def test_worker_processes_give_the_same_batches():
    for a, b in zip(_batches(), _batches(num_workers=2)):
        assert torch.equal(a["y"], b["y"]) and torch.equal(a["masks_ctx"][0], b["masks_ctx"][0])


def test_ranks_take_disjoint_slices_of_the_same_global_batch_and_masks():
    single = _batches()
    ranks = [_batches(rank=r, world_size=2) for r in range(2)]
    for step, whole in enumerate(single):
        assert torch.equal(torch.cat([r[step]["y"] for r in ranks]), whole["y"])
        for k in range(len(whole["masks_tgt"])):
            assert torch.equal(torch.cat([r[step]["masks_tgt"][k] for r in ranks]), whole["masks_tgt"][k])
        assert torch.equal(torch.cat([r[step]["masks_ctx"][0] for r in ranks]), whole["masks_ctx"][0])


def test_the_default_collate_stacks_dict_samples_and_tags_the_step():
    dataset = [{"obs": torch.full((2,), float(i)), "actions": torch.zeros(3)} for i in range(16)]
    batches = list(build_train_loader(dataset, global_batch=4, seed=0, total_steps=3, num_workers=0))
    assert [b["step"] for b in batches] == [0, 1, 2]
    assert batches[0]["obs"].shape == (4, 2) and batches[0]["actions"].shape == (4, 3)
