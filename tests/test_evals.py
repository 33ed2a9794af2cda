"""Behavioural tests for the frozen-encoder evaluation protocols in ``evals``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from evals import (
    RawPatches,
    evaluate_encoders,
    extract_features,
    feature_std,
    format_table,
    knn_probe,
    lidar,
    linear_probe,
    linear_regression_probe,
    neighbour_state_error,
    rankme,
    raw_features,
    write_eval,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _blobs(n_per_class: int, num_classes: int, dim: int, spread: float, seed: int = 0):
    """Gaussian blobs with unit noise around class centres ``spread`` apart (roughly)."""
    g = _gen(seed)
    centres = spread * torch.randn(num_classes, dim, generator=g)
    y = torch.arange(num_classes).repeat_interleave(n_per_class)
    x = centres[y] + torch.randn(len(y), dim, generator=g)
    perm = torch.randperm(len(y), generator=g)
    return x[perm], y[perm]


class TokenEncoder(nn.Module):
    """Image (B, C, H, W) -> tokens (B, H*W, C) after a fixed 1x1 conv; has dropout to expose mode bugs."""

    def __init__(self, channels: int = 3, dim: int = 4) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels, dim, 1)
        self.drop = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.proj(x)).flatten(2).transpose(1, 2)


class ToyImages(Dataset):
    """Tiny images whose mean colour encodes the class, with extra int and float labels."""

    def __init__(self, n: int, seed: int) -> None:
        g = _gen(seed)
        self.y = torch.randint(0, 3, (n,), generator=g)
        colours = torch.eye(3)[self.y] * 2.0
        self.x = colours[:, :, None, None] + 0.5 * torch.randn(n, 3, 4, 4, generator=g)
        brightness = self.x.mean((1, 2, 3))
        self.labels = {
            "parity": (self.y % 2).numpy().astype(np.int64),
            "brightness": brightness.numpy().astype(np.float64),
        }

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x[i], int(self.y[i])


# --- rank metrics -------------------------------------------------------------------------------


def test_rankme_of_isotropic_gaussian_is_close_to_dimension():
    z = torch.randn(5000, 32, generator=_gen())
    assert rankme(z) == pytest.approx(32, rel=0.02)


def test_rankme_of_rank_one_data_is_one():
    z = torch.randn(500, 1, generator=_gen()) @ torch.randn(1, 32, generator=_gen(1))
    assert rankme(z) == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("rank", [3, 8])
def test_rankme_of_rank_r_data_is_r(rank: int):
    basis, _ = torch.linalg.qr(torch.randn(64, rank, generator=_gen(1)))
    z = torch.randn(4000, rank, generator=_gen()) @ basis.T
    assert rankme(z) == pytest.approx(rank, rel=0.03)


def test_rankme_of_all_zero_embeddings_is_zero():
    assert rankme(torch.zeros(10, 4)) == 0.0


def _views(num_samples: int, num_views: int, dim: int, mean_scale: float, noise: float, seed: int = 0):
    g = _gen(seed)
    means = mean_scale * torch.randn(num_samples, 1, dim, generator=g)
    return means + noise * torch.randn(num_samples, num_views, dim, generator=g)


def test_lidar_is_high_for_well_separated_surrogate_classes():
    assert lidar(_views(400, 4, 16, mean_scale=5.0, noise=0.1)) > 12


def test_lidar_is_zero_when_all_surrogate_classes_share_one_mean():
    noise = torch.randn(200, 4, 16, generator=_gen())
    z = noise - noise.mean(1, keepdim=True) + torch.randn(16, generator=_gen(1))
    assert lidar(z) == 0.0


def test_lidar_counts_only_discriminative_directions_unlike_rankme():
    g = _gen()
    direction = nn.functional.normalize(torch.randn(16, generator=g), dim=0)
    means = 5.0 * torch.randn(300, 1, 1, generator=g) * direction
    z = means + 0.3 * torch.randn(300, 4, 16, generator=g)
    assert lidar(z) < 1.5
    assert rankme(z.reshape(-1, 16)) > 5


def test_lidar_is_invariant_to_invertible_affine_maps():
    z = _views(300, 4, 12, mean_scale=2.0, noise=1.0)
    g = _gen(2)
    scales = torch.logspace(-1, 1, 12)  # strongly anisotropic, so non-invariant metrics do move
    mixing = torch.linalg.qr(torch.randn(12, 12, generator=g))[0] * scales
    mapped = z @ mixing.T + torch.randn(12, generator=g)
    assert lidar(mapped) == pytest.approx(lidar(z), rel=1e-3)
    assert rankme(mapped.reshape(-1, 12)) < 0.8 * rankme(z.reshape(-1, 12))


def test_feature_std_vanishes_under_collapse():
    z = torch.randn(100, 8, generator=_gen())
    assert feature_std(z) == pytest.approx(1.0, abs=0.15)
    assert feature_std(torch.ones(100, 8) * 3.0) == 0.0


# --- probes --------------------------------------------------------------------------------------


def test_linear_probe_separates_separable_blobs():
    x, y = _blobs(150, 4, 16, spread=4.0)
    result = linear_probe(x[:400], y[:400], x[400:], y[400:], epochs=30)
    assert result["acc"] >= 0.99
    assert result["train_acc"] >= 0.99


def test_linear_probe_is_at_chance_on_random_labels():
    g = _gen()
    x = torch.randn(1500, 16, generator=g)
    y = torch.randint(0, 5, (1500,), generator=g)
    result = linear_probe(x[:1000], y[:1000], x[1000:], y[1000:], epochs=30)
    assert result["acc"] < 0.3


def test_linear_probe_is_deterministic_for_a_fixed_seed():
    x, y = _blobs(60, 3, 8, spread=1.0)
    run = lambda seed: linear_probe(x[:120], y[:120], x[120:], y[120:], epochs=10, seed=seed)  # noqa: E731
    assert run(3) == run(3)


def test_linear_probe_handles_arbitrary_integer_labels():
    x, y = _blobs(50, 2, 8, spread=4.0)
    shifted = torch.where(y == 0, torch.tensor(-7), torch.tensor(42))
    result = linear_probe(x[:70], shifted[:70], x[70:], shifted[70:], epochs=20, weight_decay=0.01)
    assert result["acc"] >= 0.95
    assert result["weight_decay"] == 0.01


def _brute_force_knn(train_x, train_y, val_x, k, temperature, num_classes):
    preds = []
    for q in val_x:
        sims = [float(nn.functional.cosine_similarity(q, t, dim=0)) for t in train_x]
        order = sorted(range(len(sims)), key=lambda i: -sims[i])[:k]
        votes = [0.0] * num_classes
        for i in order:
            votes[int(train_y[i])] += float(np.exp(sims[i] / temperature))
        preds.append(int(np.argmax(votes)))
    return torch.tensor(preds)


def test_knn_probe_matches_brute_force_reference():
    x, y = _blobs(15, 3, 5, spread=0.7, seed=4)
    train_x, train_y, val_x, val_y = x[:30], y[:30], x[30:], y[30:]
    expected = _brute_force_knn(train_x, train_y, val_x, k=5, temperature=0.5, num_classes=3)
    result = knn_probe(train_x, train_y, val_x, val_y, k=5, temperature=0.5)
    assert result["acc"] == pytest.approx((expected == val_y).float().mean().item())
    assert 0.0 < result["acc"] < 1.0  # the example is hard enough for the comparison to mean something


def test_ridge_probe_explains_a_linear_target():
    g = _gen()
    x = torch.randn(600, 10, generator=g)
    t = x @ torch.randn(10, 2, generator=g) + 0.5
    assert linear_regression_probe(x[:400], t[:400], x[400:], t[400:])["r2"] > 0.999


def test_ridge_probe_finds_nothing_in_noise():
    g = _gen()
    x = torch.randn(600, 10, generator=g)
    t = torch.randn(600, generator=g)
    assert linear_regression_probe(x[:400], t[:400], x[400:], t[400:])["r2"] <= 0.1


def test_neighbour_state_error_tells_readable_features_from_ones_whose_distances_mean_the_state():
    g = _gen()
    states = torch.rand(1200, 2, generator=g)
    even = states @ torch.tensor([[2.0, 0.5], [-0.5, 2.0]])  # distances follow the state's
    folded = torch.cat([states, 50 * torch.sin(40 * states)], 1)  # still linear in the state, distances scrambled
    for features, readable, near in [(even, True, True), (folded, True, False)]:
        train, val = features[:1000], features[1000:]
        assert (linear_regression_probe(train, states[:1000], val, states[1000:])["r2"] > 0.5) == readable
        error = neighbour_state_error(train, states[:1000], val, states[1000:])
        assert (error["nn_state_error"] < 0.05) == near, error  # 1000 points in the unit square: ~0.02 apart


@pytest.mark.parametrize("dim", [6, 60])  # primal (D < N) and dual (D > N) solvers
def test_ridge_probe_matches_sklearn_ridge(dim: int):
    sklearn_linear = pytest.importorskip("sklearn.linear_model")
    g = _gen()
    x, vx = torch.randn(40, dim, generator=g), torch.randn(15, dim, generator=g)
    w = torch.randn(dim, 2, generator=g)
    t, vt = x @ w + torch.randn(40, 2, generator=g), vx @ w + torch.randn(15, 2, generator=g)
    reference = sklearn_linear.Ridge(alpha=2.0).fit(x.numpy(), t.numpy()).score(vx.numpy(), vt.numpy())
    assert linear_regression_probe(x, t, vx, vt, ridge=2.0)["r2"] == pytest.approx(reference, abs=1e-5)


# --- feature extraction -------------------------------------------------------------------------


def test_extract_features_mean_pools_tokens_and_restores_train_mode():
    dataset = ToyImages(10, seed=0)
    encoder = TokenEncoder().train()
    feats, labels = extract_features(encoder, dataset, batch_size=4)
    with torch.no_grad():
        expected = encoder.proj(dataset.x).mean((2, 3))
    assert feats.shape == (10, 4) and feats.dtype == torch.float32
    torch.testing.assert_close(feats, expected)
    assert torch.equal(labels, dataset.y)
    assert encoder.training and encoder.drop.training


def test_extract_features_keeps_tokens_and_mixed_modes():
    dataset = ToyImages(6, seed=0)
    encoder = TokenEncoder().train()
    encoder.proj.eval()
    tokens, _ = extract_features(encoder, DataLoader(dataset, batch_size=4), pool="none")
    assert tokens.shape == (6, 16, 4)
    assert encoder.training and encoder.drop.training and not encoder.proj.training


def test_raw_features_flatten_inputs():
    dataset = ToyImages(5, seed=0)
    feats, labels = raw_features(dataset)
    torch.testing.assert_close(feats, dataset.x.flatten(1))
    assert torch.equal(labels, dataset.y)


# --- reporting ----------------------------------------------------------------------------------


def test_evaluate_encoders_reports_one_row_per_encoder_with_raw_baseline():
    train_set, val_set = ToyImages(120, seed=0), ToyImages(60, seed=1)
    torch.manual_seed(0)
    encoders = {"raw": None, "toy": TokenEncoder()}
    rows = evaluate_encoders(encoders, train_set, val_set, label_names=["parity", "brightness"])
    columns = ["encoder", "linear_acc", "knn_acc", "rankme", "parity_acc", "brightness_r2"]
    assert [row["encoder"] for row in rows] == ["raw", "toy"]
    for row in rows:
        assert list(row) == columns
        assert row["linear_acc"] > 0.9  # the class is the mean colour: easy for both
        assert 0.0 <= row["knn_acc"] <= 1.0
    assert rows[0]["brightness_r2"] > 0.99  # brightness is exactly linear in raw pixels
    table = format_table(rows, columns)
    assert "raw" in table and "toy" in table and "brightness_r2" in table


def test_raw_patches_are_the_tokens_a_vit_would_embed():
    from jepa.models.patch_embed import PatchEmbed

    x = torch.randn(2, 3, 4, 16, 24, generator=_gen())
    identity = PatchEmbed((4, 16, 24), (2, 8, 8), in_chans=3, embed_dim=3 * 2 * 8 * 8)
    with torch.no_grad():
        identity.proj.weight.copy_(torch.eye(384).view(384, 3, 2, 8, 8))
        identity.proj.bias.zero_()
        torch.testing.assert_close(RawPatches((2, 8, 8))(x), identity(x))
    assert RawPatches()(x).shape == (2, 1, 3 * 4 * 16 * 24)


def test_evaluate_encoders_adds_attentive_probes_on_unpooled_tokens():
    class Colours(ToyImages):
        main_label = "colour"

        def __init__(self, n: int, seed: int) -> None:
            super().__init__(n, seed)
            self.labels["redness"] = (self.y == 0).double().numpy()  # a float label: regression

    train_set, val_set = Colours(120, seed=0), Colours(60, seed=1)
    encoders = {"raw": RawPatches((2, 2)), "toy": TokenEncoder()}
    rows = evaluate_encoders(encoders, train_set, val_set, attentive_labels=["colour", "redness"], probes=("linear",))
    columns = ["encoder", "linear_acc", "attentive_acc", "rankme", "redness_attentive_r2"]
    assert [list(row) for row in rows] == [columns] * 2
    assert rows[0]["rankme"] is None and rows[1]["rankme"] > 0
    for row in rows:
        assert row["linear_acc"] > 0.9 and row["attentive_acc"] > 0.9  # the class is the mean colour
        assert row["redness_attentive_r2"] > 0.7, row


def test_evaluate_encoders_rejects_unknown_probes():
    with pytest.raises(ValueError, match="unknown probes"):
        evaluate_encoders({"raw": None}, ToyImages(4, 0), ToyImages(4, 1), probes=("svm",))


def test_format_table_shows_accuracies_as_percent_and_other_floats_with_three_decimals():
    table = format_table(
        [{"encoder": "vit", "knn_acc": 0.8766, "rankme": 12.34567, "note": None}],
        ["encoder", "knn_acc", "rankme", "note"],
    )
    header, rule, row = table.splitlines()
    assert header.split() == ["encoder", "knn_acc", "rankme", "note"]
    assert row.split() == ["vit", "87.7", "12.346", "-"]
    assert len(rule) >= len(row)


def test_write_eval_round_trips_through_json(tmp_path):
    results = {"rows": [{"encoder": "raw", "linear_acc": 0.5}], "step": np.int64(3), "rank": torch.tensor(2.5)}
    path = tmp_path / "out" / "eval.json"
    write_eval(results, path)
    assert json.loads(path.read_text()) == {"rows": [{"encoder": "raw", "linear_acc": 0.5}], "step": 3, "rank": 2.5}
    assert [p.name for p in path.parent.iterdir()] == ["eval.json"]  # no temporary left behind
