import torch

from jepa.losses import VCR, covariance_penalty, variance_hinge


def test_variance_hinge_is_zero_for_unit_spread_and_one_for_constant_features():
    z = torch.randn(4096, 32, generator=torch.Generator().manual_seed(0)) * 2.0
    assert variance_hinge(z) == 0.0
    assert torch.isclose(variance_hinge(torch.zeros(64, 32)), torch.tensor(1.0 - 1e-2), atol=1e-6)


def test_covariance_penalty_separates_independent_from_redundant_dimensions():
    g = torch.Generator().manual_seed(0)
    independent = torch.randn(4096, 16, generator=g)
    redundant = torch.randn(4096, 1, generator=g).expand(-1, 16)  # 16 copies of one feature
    assert covariance_penalty(independent) < 0.05
    # every off-diagonal covariance is ~1: 16 * 15 of them, divided by 16
    assert torch.isclose(covariance_penalty(redundant), torch.tensor(15.0), rtol=0.1)


def test_vcr_pushes_collapsed_features_apart():
    z = (0.01 * torch.randn(256, 8, generator=torch.Generator().manual_seed(0))).requires_grad_()
    optimizer = torch.optim.Adam([z], lr=0.05)
    reg = VCR()
    start = reg(z).item()
    for _ in range(100):
        optimizer.zero_grad()
        reg(z).backward()
        optimizer.step()
    assert reg(z).item() < 0.1 * start
    assert z.std(0).min() > 0.5
