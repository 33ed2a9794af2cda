"""Batch statistics of the global batch: on one process, the global batch norm is torch's BatchNorm1d."""

import torch
from torch import nn

from jepa.models.norm import GlobalBatchNorm1d, standardise


def test_on_one_process_it_is_batchnorm_in_training_and_evaluation():
    torch.manual_seed(0)
    ours, reference = GlobalBatchNorm1d(5), nn.BatchNorm1d(5)
    with torch.no_grad():
        ours.weight.normal_(), ours.bias.normal_()
    reference.load_state_dict(ours.state_dict())
    for _ in range(3):
        x = torch.randn(16, 5) * 3 + 1
        torch.testing.assert_close(ours(x), reference(x))
    torch.testing.assert_close(ours.running_var, reference.running_var)
    ours.eval(), reference.eval()
    x = torch.randn(4, 5)
    torch.testing.assert_close(ours(x), reference(x))


def test_standardise_is_batch_norm_without_affine_or_running_statistics():
    x = torch.randn(32, 7) * 2 - 3
    torch.testing.assert_close(standardise(x), nn.functional.batch_norm(x, None, None, training=True))
