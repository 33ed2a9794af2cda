"""The attentive probe: exact single-query attention, learning what mean pooling loses, determinism."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from evals import attentive_probe, linear_probe, linear_regression_probe
from evals.attentive import QueryAttention

FAST = dict(epochs=20, batch_size=16)


def _tokens_with_a_value_at(position: int, n: int, seed: int, tokens: int = 32, dim: int = 32):
    """Noisy tokens with fixed position codes; token t also carries a random value s_t along a fixed code.

    The target is s at one position: mean pooling averages it with the values of every other token, so it
    survives only in the token that sits at that position."""
    fixed = torch.Generator().manual_seed(123)
    positions, code = torch.randn(tokens, dim, generator=fixed), torch.randn(dim, generator=fixed)
    g = torch.Generator().manual_seed(seed)
    values = torch.randn(n, tokens, generator=g)
    x = positions + values[..., None] * code + 0.5 * torch.randn(n, tokens, dim, generator=g)
    return x, values[:, position]


def test_query_attention_equals_multihead_attention_over_normed_tokens_with_one_query():
    torch.manual_seed(0)
    ours, reference = QueryAttention(24, num_heads=4), nn.MultiheadAttention(24, 4, batch_first=True)
    with torch.no_grad():
        reference.in_proj_weight.copy_(torch.cat([ours.q.weight, ours.k.weight, ours.v.weight]))
        reference.in_proj_bias.copy_(torch.cat([ours.q.bias, ours.k.bias, ours.v.bias]))
        reference.out_proj.weight.copy_(ours.proj.weight)
        reference.out_proj.bias.copy_(ours.proj.bias)
        ours.norm.weight.uniform_(0.5, 1.5)
        ours.norm.bias.normal_()
    query, x = torch.randn(24), torch.randn(3, 10, 24)
    normed = ours.norm(x)
    expected = reference(query.expand(3, 1, 24), normed, normed, need_weights=False)[0].squeeze(1)
    torch.testing.assert_close(ours(query, x), expected, atol=1e-5, rtol=1e-5)


def test_attentive_probe_classifies_a_token_position_label_mean_pooling_loses():
    (train_x, train_s), (val_x, val_s) = _tokens_with_a_value_at(5, 512, 0), _tokens_with_a_value_at(5, 256, 1)
    train_y, val_y = (train_s > 0).long(), (val_s > 0).long()
    pooled = linear_probe(train_x.mean(1), train_y, val_x.mean(1), val_y)
    attentive = attentive_probe(train_x, train_y, val_x, val_y, **FAST)
    assert pooled["acc"] < 0.6  # chance is 0.5
    assert attentive["acc"] > 0.9, attentive


def test_attentive_regression_recovers_a_token_position_target():
    (train_x, train_s), (val_x, val_s) = _tokens_with_a_value_at(5, 512, 0), _tokens_with_a_value_at(5, 256, 1)
    pooled = linear_regression_probe(train_x.mean(1), train_s, val_x.mean(1), val_s)
    attentive = attentive_probe(train_x, train_s, val_x, val_s, task="regression", **FAST)
    assert pooled["r2"] < 0.1
    assert attentive["r2"] > 0.9, attentive


def test_attentive_probe_is_deterministic_under_a_seed_and_leaves_the_global_rng_alone():
    (train_x, train_s), (val_x, val_s) = _tokens_with_a_value_at(5, 128, 0), _tokens_with_a_value_at(5, 64, 1)
    torch.manual_seed(7)
    state = torch.get_rng_state()
    runs = [attentive_probe(train_x, train_s, val_x, val_s, task="regression", epochs=3, seed=s) for s in (0, 0, 1)]
    assert runs[0] == runs[1] != runs[2]
    assert torch.equal(torch.get_rng_state(), state)
    with pytest.raises(ValueError, match="task must be one of"):
        attentive_probe(train_x, train_s, val_x, val_s, task="ranking")
