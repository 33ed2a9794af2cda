import json
import math

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from jepa.losses import SIGReg, epps_pulley
from jepa.losses.sigreg import quadrature, random_directions

integrate = pytest.importorskip("scipy.integrate", reason="the reference integral needs scipy")


def _samples(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _reference_statistic(x: np.ndarray, t_max: float) -> float:
    """N * integral over [-t_max, t_max] of |ecf(t) - e^{-t^2/2}|^2 e^{-t^2/2}, by adaptive quadrature."""

    def integrand(t: float) -> float:
        real = np.cos(t * x).mean() - math.exp(-(t**2) / 2)
        imag = np.sin(t * x).mean()
        return (real**2 + imag**2) * math.exp(-(t**2) / 2)

    value, _ = integrate.quad(integrand, -t_max, t_max, limit=200, epsabs=1e-12)
    return len(x) * value


@pytest.mark.parametrize("scale", [1.0, 0.3, 2.0])
def test_statistic_matches_an_independent_integral_for_a_fixed_direction(scale):
    x = (scale * _samples(300, seed=1)).double()
    reference = _reference_statistic(x.numpy(), t_max=3.0)
    t, w = quadrature(3.0, 2001)
    dense = epps_pulley(x[:, None], t.double(), w.double())
    assert dense.item() == pytest.approx(reference, rel=1e-5)
    # The published 17-node trapezoid is an approximation of the same integral.
    t, w = quadrature(3.0, 17)
    assert epps_pulley(x[:, None], t.double(), w.double()).item() == pytest.approx(reference, rel=0.03)


def test_one_dimensional_embeddings_give_the_statistic_whatever_the_directions():
    # In 1-D every direction is +-1, and flipping the sign leaves the statistic unchanged.
    x = 1.5 * _samples(400, 1, seed=2)
    assert SIGReg()(x, step=7).item() == pytest.approx(_reference_statistic(x.double().numpy()[:, 0], 3.0), rel=0.03)


def test_small_for_gaussian_samples_and_large_for_collapsed_low_rank_or_scaled_ones():
    sigreg = SIGReg()
    gaussian = sigreg(_samples(1024, 64), step=0).item()
    assert gaussian < 2.0  # about sqrt(2 pi) - sqrt(2 pi / 3) = 1.06 in expectation, whatever N
    basis = torch.linalg.qr(_samples(64, 2, seed=3))[0]
    low_rank = _samples(1024, 64, seed=4) @ basis @ basis.T * math.sqrt(64 / 2)  # same total variance, rank 2
    for name, z in {
        "all zero": torch.zeros(1024, 64),
        "all equal": torch.ones(1024, 64),
        "rank 2": low_rank,
        "3x too wide": 3 * _samples(1024, 64, seed=5),
    }.items():
        assert sigreg(z, step=0).item() > 20 * gaussian, name


@pytest.mark.parametrize("kind", ["gaussian", "all equal", "all zero"])
def test_gradient_is_finite_and_float32_under_bf16_autocast(kind):
    z = {"gaussian": _samples(64, 16), "all equal": torch.ones(64, 16), "all zero": torch.zeros(64, 16)}[kind]
    z.requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = SIGReg(num_slices=32)(z, step=1)
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss) and torch.isfinite(z.grad).all()
    # Collapse onto the origin is a stationary point (sin terms vanish, cos is flat at 0); elsewhere SIGReg pushes.
    assert (z.grad.abs().sum() == 0) == (kind == "all zero")


def test_directions_are_unit_vectors_fixed_by_seed_and_step():
    a = random_directions(16, 8, step=3)
    torch.testing.assert_close(a.norm(dim=0), torch.ones(8))
    torch.testing.assert_close(a, random_directions(16, 8, step=3))
    assert not torch.allclose(a, random_directions(16, 8, step=4))
    assert not torch.allclose(a, random_directions(16, 8, step=3, seed=1))


def test_bad_quadrature_settings_fail_at_construction():
    with pytest.raises(ValueError, match="n_points"):
        SIGReg(n_points=1)


# ---- DDP: two gloo processes must see the statistic (and gradient) of the concatenated batch ----

BATCH, DIM_IN, DIM, STEP = 48, 12, 8, 5


def _linear() -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(DIM_IN, DIM)


def _ddp_worker(rank: int, world_size: int, init_file: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    try:
        model = _linear()
        x = _samples(BATCH, DIM_IN).chunk(world_size)[rank]
        loss = SIGReg(num_slices=16)(model(x), step=STEP)
        loss.backward()
        grad = model.weight.grad
        dist.all_reduce(grad)  # what DDP does to gradients (it is slow to set up, so it is left out here)
        torch.save({"loss": loss.detach(), "grad": grad / world_size}, f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_two_processes_match_one_process_on_the_concatenated_batch(tmp_path):
    mp.spawn(_ddp_worker, args=(2, str(tmp_path / "rendezvous"), str(tmp_path / "result")), nprocs=2, join=True)
    model = _linear()
    loss = SIGReg(num_slices=16)(model(_samples(BATCH, DIM_IN)), step=STEP)
    loss.backward()
    for rank in range(2):
        result = torch.load(tmp_path / f"result.{rank}")
        torch.testing.assert_close(result["loss"], loss.detach(), rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(result["grad"], model.weight.grad, rtol=1e-4, atol=1e-6)
    # Without the all-reduce each rank would see a different, smaller batch: the check above is not vacuous.
    half = SIGReg(num_slices=16, distributed=False)(_linear()(_samples(BATCH, DIM_IN)[: BATCH // 2]), step=STEP)
    assert not torch.isclose(half, loss.detach(), rtol=1e-3)


def test_sigreg_on_seq_jepas_encodings_is_added_to_its_loss(tmp_path):
    from jepa.cli import main

    args = [
        "experiment=seq_jepa_shapes",
        "regularizer=sigreg",
        "train.steps=2",
        "train.log_every=1",
        "data.num_train=64",
    ]
    args += ["data.num_val=32", f"data.root={tmp_path / 'data'}", f"run_dir={tmp_path / 'run'}", "eval.enabled=false"]
    assert main(["train", *args, "data.num_workers=0", "train.progress=false"]) == 0
    first = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])
    assert first["regularizer"] > 0 and first["loss"] == pytest.approx(1 - first["cosine"] + first["regularizer"])
