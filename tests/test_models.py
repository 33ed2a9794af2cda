import pytest
import torch

from jepa.masks import MultiBlock3DMasks, apply_masks, repeat_chunks
from jepa.methods import MaskedJEPA
from jepa.models import MaskedPredictor, create_model, ema_update, make_target
from jepa.models.attention import Attention
from jepa.models.pos_embed import sincos_nd


def test_sincos_2d_positions_are_distinct_and_fixed():
    pe = sincos_nd(64, (4, 5))
    assert pe.shape == (20, 64)
    assert torch.equal(pe, sincos_nd(64, (4, 5)))
    assert torch.cdist(pe, pe).add(torch.eye(20)).min() > 0.1
    # I-JEPA's layout: the first half encodes the column, the second half the row
    assert torch.equal(pe[0, :32], pe[5, :32]) and torch.equal(pe[0, 32:], pe[1, 32:])


def test_sincos_3d_splits_dims_over_time_height_width():
    pe = sincos_nd(96, (2, 3, 4))
    assert pe.shape == (24, 96)
    # V-JEPA's layout: 32 dims each for time, row and column; tokens 0 and 11 share the time step, 0 and 12 the place
    assert torch.allclose(pe[0, :32], pe[11, :32]) and not torch.allclose(pe[0, :32], pe[12, :32])
    assert torch.equal(pe[0, 32:], pe[12, 32:]) and not torch.allclose(pe[0, 32:], pe[11, 32:])
    assert sincos_nd(64, (2, 3, 4)).shape == (24, 64)  # 3 x 22 dims, cut to 64


@pytest.mark.parametrize(
    "kwargs, x_shape, tokens",
    [
        (dict(input_size=32, patch_size=8), (2, 3, 32, 32), 16),
        (dict(input_size=(16, 32), patch_size=8, num_frames=4, tubelet_size=2), (2, 3, 4, 16, 32), 16),
        (dict(input_size=(64, 128), patch_size=16, in_chans=1), (2, 1, 64, 128), 32),
    ],
    ids=["image", "video", "spectrogram"],
)
def test_one_vit_tokenizes_images_video_and_spectrograms(kwargs, x_shape, tokens):
    model = create_model("vit_tiny", depth=2, **kwargs)
    out = model(torch.randn(x_shape))
    assert out.shape == (2, tokens, 192)


def test_vit_with_masks_encodes_only_kept_tokens_mask_major():
    model = create_model("vit_tiny", input_size=32, patch_size=8, depth=1).eval()
    x = torch.randn(2, 3, 32, 32)
    m0, m1 = torch.tensor([[0, 1, 2], [3, 4, 5]]), torch.tensor([[6, 7, 8], [9, 10, 11]])
    out = model(x, [m0, m1])
    assert out.shape == (4, 3, 192)
    # a single-token mask sees only itself, so it equals the unmasked model run on that token alone
    single = model(x, [torch.tensor([[5], [5]])])
    tokens = model.patch_embed(x) + model.pos_embed
    h = tokens[:, 5:6]
    for block in model.blocks:
        h = block(h)
    assert torch.allclose(single, model.norm(h), atol=1e-5)


def test_registry_presets_and_custom_sizes():
    assert create_model("vit_small", input_size=32, patch_size=8, depth=1).embed_dim == 384
    custom = create_model("vit_tiny", input_size=32, patch_size=8, embed_dim=96, depth=3, num_heads=4)
    assert custom.embed_dim == 96 and len(custom.blocks) == 3
    with pytest.raises(ValueError, match="unknown model 'vit_gigantic'"):
        create_model("vit_gigantic")
    with pytest.raises(ValueError, match="not divisible"):
        create_model("vit_tiny", input_size=30, patch_size=8)


def test_sdpa_attention_matches_explicit_softmax_attention():
    torch.manual_seed(0)
    attn = Attention(64, num_heads=4)
    x = torch.randn(3, 10, 64)
    q, k, v = attn.qkv(x).view(3, 10, 3, 4, 16).permute(2, 0, 3, 1, 4)
    weights = (q @ k.transpose(-2, -1) / 4.0).softmax(-1)
    reference = attn.proj((weights @ v).transpose(1, 2).reshape(3, 10, 64))
    assert torch.allclose(attn(x), reference, atol=1e-5)


def test_block_causal_mask_is_respected():
    attn = Attention(32, num_heads=2)
    x = torch.randn(1, 6, 32)
    causal = torch.ones(6, 6, dtype=torch.bool).tril()
    out = attn(x, causal)
    x2 = x.clone()
    x2[:, 4:] = torch.randn(1, 2, 32)  # changing the future must not change the past
    assert torch.allclose(attn(x2, causal)[:, :4], out[:, :4], atol=1e-6)


def test_xformers_backend_without_xformers_gives_a_clear_error():
    try:
        import xformers  # noqa: F401

        pytest.skip("xformers is installed")
    except ImportError:
        pass
    attn = Attention(32, num_heads=2, backend="xformers")
    with pytest.raises(ImportError, match="xformers is not installed"):
        attn(torch.randn(1, 4, 32))
    with pytest.raises(ValueError, match="unknown attention backend"):
        Attention(32, 2, backend="flash9")


@pytest.mark.parametrize("pos_embed", ["sincos", "rope"])
def test_predictor_pairs_every_context_with_every_target_mask(pos_embed):
    B, D = 2, 64
    pred = MaskedPredictor((4, 4), D, predictor_dim=32, depth=1, num_heads=2, num_mask_tokens=2, pos_embed=pos_embed)
    ctx_masks = [torch.tensor([[0, 1, 2, 3]] * B), torch.tensor([[4, 5, 6, 7]] * B)]
    tgt_masks = [torch.tensor([[8, 9]] * B), torch.tensor([[10, 11]] * B), torch.tensor([[12, 13]] * B)]
    context = torch.randn(len(ctx_masks) * B, 4, D)
    out = pred(context, ctx_masks, tgt_masks, mask_index=1)
    assert out.shape == (3 * 2 * B, 2, D)
    # row (t, c, b): recompute target mask t=2 with context mask c=1 alone
    alone = pred(context[B:], ctx_masks[1:], tgt_masks[2:], mask_index=1)
    assert torch.allclose(out[(2 * 2 + 1) * B : (2 * 2 + 2) * B], alone, atol=1e-5)
    # each mask generator has its own learned token
    assert not torch.allclose(pred(context, ctx_masks, tgt_masks, mask_index=0), out)


@pytest.mark.parametrize("pos_embed", ["sincos", "rope"])
def test_a_tokens_position_travels_with_it_whatever_the_order_of_the_mask(pos_embed):
    encoder = create_model("vit_tiny", 32, 8, embed_dim=48, depth=2, num_heads=2, pos_embed=pos_embed).eval()
    x, kept = torch.randn(2, 3, 32, 32), torch.tensor([[1, 5, 6, 9, 14]] * 2)
    order = torch.tensor([3, 0, 4, 2, 1])
    with torch.no_grad():
        torch.testing.assert_close(encoder(x, [kept[:, order]]), encoder(x, [kept])[:, order], rtol=0, atol=1e-5)


def test_apply_masks_is_a_gather_and_repeat_chunks_pairs_masks():
    x = torch.arange(2 * 5 * 1).view(2, 5, 1).float()
    out = apply_masks(x, [torch.tensor([[0, 4], [1, 2]]), torch.tensor([[3, 3], [0, 0]])])
    assert out.squeeze(-1).tolist() == [[0, 4], [6, 7], [3, 3], [5, 5]]
    y = torch.tensor([1, 2, 3, 4])  # two chunks of 2
    assert repeat_chunks(y, 2, 2).tolist() == [1, 2, 1, 2, 3, 4, 3, 4]


def test_ema_update_moves_target_towards_online():
    online = torch.nn.Linear(3, 2)
    target = make_target(online)
    assert all(not p.requires_grad for p in target.parameters())
    before = [p.clone() for p in target.parameters()]
    with torch.no_grad():
        for p in online.parameters():
            p.add_(1.0)
    ema_update(target, online, momentum=0.9)
    for b, t, o in zip(before, target.parameters(), online.parameters()):
        assert torch.allclose(t, 0.9 * b + 0.1 * o)


def test_conv_stem_tokens_see_only_a_local_window():
    from jepa.models.patch_embed import PatchEmbed

    embed = PatchEmbed((32, 32), (8, 8), in_chans=3, embed_dim=64, stem="conv").eval()
    x = torch.randn(1, 3, 32, 32)
    moved = x.clone()
    moved[..., 20:, :] = torch.randn(1, 3, 12, 32)  # rows 20+ changed: token rows 0-1 end at pixel 15
    with torch.no_grad():
        a, b = embed(x).view(4, 4, 64), embed(moved).view(4, 4, 64)
    assert torch.equal(a[:2], b[:2])  # the window of row 1 reaches pixel 15 + 4 = 19 at most
    assert not torch.allclose(a[2:], b[2:])
    with pytest.raises(ValueError, match="square 2D"):
        PatchEmbed((4, 32, 32), (2, 8, 8), in_chans=3, embed_dim=64, stem="conv")


def _video_jepa(num_generators: int) -> MaskedJEPA:
    encoder = create_model(
        "vit_tiny", input_size=32, patch_size=8, num_frames=4, tubelet_size=2, embed_dim=32, depth=1, num_heads=2
    )
    predictor = MaskedPredictor(
        encoder.grid, 32, predictor_dim=16, depth=1, num_heads=2, num_mask_tokens=num_generators
    )
    return MaskedJEPA(encoder, predictor, loss="l1")


def test_video_jepa_averages_the_loss_over_mask_generators_each_with_its_own_token():
    torch.manual_seed(0)
    method = _video_jepa(2)
    x = torch.randn(3, 3, 4, 32, 32)
    ctx, tgt = MultiBlock3DMasks(grid=(2, 4, 4))(3, torch.Generator().manual_seed(0))
    out = method({"x": x, "masks_ctx": ctx, "masks_tgt": tgt})
    h = method.target_tokens(x)
    per_generator = [
        (method.predictor(method.encoder(x, [c]), [c], [t], mask_index=i) - apply_masks(h, [t])).abs().mean()
        for i, (c, t) in enumerate(zip(ctx, tgt))
    ]
    assert torch.allclose(out["loss"], torch.stack(per_generator).mean(), atol=1e-6)
    out["loss"].backward()
    grad = method.predictor.mask_tokens.grad
    assert grad[0].abs().sum() > 0 and grad[1].abs().sum() > 0  # each generator trains its own token


def test_masks_that_do_not_split_over_the_generators_fail_clearly():
    method = _video_jepa(2)
    masks = [torch.zeros(1, 2, dtype=torch.long)]
    with pytest.raises(ValueError, match="one mask token per generator"):
        method({"x": torch.randn(1, 3, 4, 32, 32), "masks_ctx": masks, "masks_tgt": masks * 3})


def test_auto_precision_takes_bf16_on_a_cpu_only_where_it_is_faster(monkeypatch):
    from jepa.common import runtime

    cpu = torch.device("cpu")
    for speedup, expected in ((0.0, torch.float32), (0.53, torch.float32), (3.6, torch.bfloat16)):
        monkeypatch.setattr(runtime, "cpu_bf16_speedup", lambda speedup=speedup: speedup)
        assert runtime.select_precision("auto", cpu) == expected
    assert runtime.select_precision("bf16", cpu) == torch.bfloat16  # asked for: taken, however slow


def test_the_bf16_speedup_is_measured_where_bf16_kernels_exist():
    from jepa.common import runtime

    assert (runtime.cpu_bf16_speedup() > 0) == runtime.cpu_supports_bf16()
