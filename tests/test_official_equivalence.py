"""Our I-JEPA and V-JEPA training steps against the official code (facebookresearch/ijepa and facebookresearch/jepa)
on the same weights, inputs and masks: equal loss, equal gradients, and equal weights after one AdamW step and one
EMA update. The official modules are imported from local checkouts named by IJEPA_SRC and VJEPA_SRC (nothing of
them ships here); without them only the checks of the weight conversion and position layouts run.
"""

from __future__ import annotations

import copy
import importlib
import math
import os
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from types import ModuleType

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from jepa.common.optim import param_groups
from jepa.methods import MaskedJEPA
from jepa.models import MaskedPredictor, convert_official_state_dict, create_model, load_official_weights
from jepa.models.pos_embed import sincos_nd

IJEPA_SRC, VJEPA_SRC = os.environ.get("IJEPA_SRC"), os.environ.get("VJEPA_SRC")
BATCH, DIM, PRED_DIM, DEPTH, HEADS, SIZE = 4, 64, 32, 2, 4, 64  # SIZE: 64 px in 8 px patches, an 8 x 8 grid
LR, WEIGHT_DECAY, MOMENTUM = 1e-3, 0.04, 0.996
LOSS_RTOL = 1e-6  # relative difference of the losses
GRAD_TOL = 1e-6  # absolute difference of a gradient, relative to the largest entry of that tensor's official gradient
# absolute difference of a weight after the step: a thousandth of Adam's step size, since Adam turns the float
# error of a gradient entry close to its eps (1e-8) into a relative error of that entry's step
WEIGHT_ATOL = 1e-3 * LR


def import_official(root: str, *names: str) -> list[ModuleType]:
    """The modules ``names`` of the checkout at ``root``. Both official repositories are a top-level namespace
    package ``src``, so every ``src`` module and the root's path entry are forgotten before and after the import:
    each checkout's modules see only their own ``src``, and later imports (the other checkout, the bench's
    reference) start clean. The returned modules keep working, their imports being resolved already."""
    root = str(Path(root).resolve())

    def forget() -> None:
        for name in [name for name in sys.modules if name == "src" or name.startswith("src.")]:
            del sys.modules[name]
        while root in sys.path:
            sys.path.remove(root)

    forget()
    sys.path.insert(0, root)
    try:
        return [importlib.import_module(name) for name in names]
    finally:
        forget()


def randomize_(*modules: nn.Module, seed: int = 1) -> None:
    """Noise on every trainable tensor (norm gains, zero biases, zero-initialised mask tokens included), so a
    parameter mapped to the wrong place cannot go unnoticed; the fixed position embeddings stay."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for module in modules:
            for p in module.parameters():
                if p.requires_grad:
                    p.add_(0.02 * torch.randn_like(p))


def independent_target(encoder: nn.Module) -> nn.Module:
    """A target encoder whose weights differ from the online encoder's: a copy would make the EMA update a no-op
    (``m * w + (1 - m) * w = w``) whatever the momentum, so a wrong momentum could not show."""
    target = copy.deepcopy(encoder)
    randomize_(target, seed=2)
    return target.requires_grad_(False)


def official_adamw(encoder: nn.Module, predictor: nn.Module) -> torch.optim.AdamW:
    """The official optimizer (init_opt of both repositories): no weight decay for biases and 1-D tensors."""
    no_decay = lambda name, p: "bias" in name or p.ndim == 1  # noqa: E731
    groups = [
        {"params": [p for n, p in m.named_parameters() if not no_decay(n, p)], "weight_decay": WEIGHT_DECAY}
        for m in (encoder, predictor)
    ] + [
        {"params": [p for n, p in m.named_parameters() if no_decay(n, p)], "weight_decay": 0.0}
        for m in (encoder, predictor)
    ]
    return torch.optim.AdamW(groups, lr=LR, betas=(0.9, 0.999), eps=1e-8)


@torch.no_grad()
def official_ema_(target: nn.Module, online: nn.Module) -> None:
    """The official target update (train.py of both repositories), one tensor at a time."""
    for q, k in zip(online.parameters(), target.parameters()):
        k.mul_(MOMENTUM).add_((1.0 - MOMENTUM) * q.detach())


def assert_all_close(
    what: str, ours: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor], atol_of: Callable
) -> None:
    """Same keys, and every tensor within ``atol_of(their tensor)`` of theirs."""
    assert ours.keys() == theirs.keys(), what
    for key, value in ours.items():
        atol = atol_of(theirs[key])
        torch.testing.assert_close(value, theirs[key], rtol=0.0, atol=atol, msg=lambda m, k=key: f"{what} {k}: {m}")


def compare_one_step(
    official: tuple[nn.Module, nn.Module, nn.Module],
    official_loss: Callable[[], torch.Tensor],
    method: MaskedJEPA,
    batch: dict,
) -> None:
    """Run one training step of the official (encoder, predictor, target) and of ``method`` and compare the loss,
    the gradients and the weights after AdamW and the EMA update."""
    encoder, predictor, target = official
    theirs_opt = official_adamw(encoder, predictor)
    ours_opt = torch.optim.AdamW(param_groups(method, WEIGHT_DECAY), lr=LR, betas=(0.9, 0.999), fused=True)
    loss_theirs, out = official_loss(), method(batch)
    loss_theirs.backward()
    out["loss"].backward()
    torch.testing.assert_close(out["loss"], loss_theirs, rtol=LOSS_RTOL, atol=0.0)
    pairs = [("encoder", method.encoder, encoder), ("predictor", method.predictor, predictor)]
    for name, ours, official_module in pairs:
        grads = {n: p.grad for n, p in official_module.named_parameters() if p.grad is not None}
        assert_all_close(
            f"{name} gradient",
            {n: p.grad for n, p in ours.named_parameters()},
            convert_official_state_dict(grads),
            lambda g: GRAD_TOL * float(g.abs().max()),
        )
    theirs_opt.step()
    ours_opt.step()
    official_ema_(target, encoder)
    method.update_target(MOMENTUM)
    for name, ours, official_module in [*pairs, ("target", method.target_encoder, target)]:
        weights = convert_official_state_dict(official_module.state_dict())
        weights.pop("pos_embed")
        assert_all_close(f"{name} after the step", ours.state_dict(), weights, lambda _: WEIGHT_ATOL)


@pytest.mark.skipif(not IJEPA_SRC, reason="IJEPA_SRC names no checkout of facebookresearch/ijepa")
def test_ijepa_step_equals_the_official_one():
    vit, multiblock, masks_utils, tensors = import_official(
        IJEPA_SRC, "src.models.vision_transformer", "src.masks.multiblock", "src.masks.utils", "src.utils.tensors"
    )
    torch.manual_seed(0)
    encoder = vit.VisionTransformer(
        img_size=[SIZE],
        patch_size=8,
        embed_dim=DIM,
        depth=DEPTH,
        num_heads=HEADS,
        qkv_bias=True,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
    )
    predictor = vit.vit_predictor(
        num_patches=(SIZE // 8) ** 2, embed_dim=DIM, predictor_embed_dim=PRED_DIM, depth=DEPTH, num_heads=HEADS
    )
    randomize_(encoder, predictor)
    target = independent_target(encoder)
    ours_encoder = create_model("vit_tiny", input_size=SIZE, patch_size=8, embed_dim=DIM, depth=DEPTH, num_heads=HEADS)
    ours_predictor = MaskedPredictor(ours_encoder.grid, DIM, predictor_dim=PRED_DIM, depth=DEPTH, num_heads=HEADS)
    load_official_weights(ours_encoder, encoder.state_dict())
    load_official_weights(ours_predictor, predictor.state_dict())
    method = MaskedJEPA(ours_encoder, ours_predictor, loss="smooth_l1")
    load_official_weights(method.target_encoder, target.state_dict())

    collate = multiblock.MaskCollator(  # two context blocks per image on an 8 x 8 grid, small enough to differ
        input_size=(SIZE, SIZE),
        patch_size=8,
        enc_mask_scale=(0.5, 0.7),
        pred_mask_scale=(0.1, 0.15),
        aspect_ratio=(0.75, 1.5),
        nenc=2,
        npred=3,
        min_keep=4,
        allow_overlap=False,
    )
    torch.manual_seed(0)  # the sampler places its blocks with torch's global generator
    _, masks_enc, masks_pred = collate([(torch.zeros(()), 0)] * BATCH)
    assert len(masks_enc) == 2 and masks_enc[0].shape[1] >= 16  # two contexts of 16 tokens or more per image
    assert len({tuple(row.tolist()) for m in masks_enc for row in m}) > BATCH  # they differ, within an image too
    x = torch.randn(BATCH, 3, SIZE, SIZE)

    def official_loss() -> torch.Tensor:
        with torch.no_grad():
            h = target(x)
            h = F.layer_norm(h, (h.size(-1),))
            h = masks_utils.apply_masks(h, masks_pred)
            h = tensors.repeat_interleave_batch(h, BATCH, repeat=len(masks_enc))
        z = predictor(encoder(x, masks_enc), masks_enc, masks_pred)
        return F.smooth_l1_loss(z, h)

    batch = {"x": x, "masks_ctx": masks_enc, "masks_tgt": masks_pred, "step": 0}
    compare_one_step((encoder, predictor, target), official_loss, method, batch)


@pytest.mark.skipif(not VJEPA_SRC, reason="VJEPA_SRC names no checkout of facebookresearch/jepa")
@pytest.mark.filterwarnings("ignore:.*sdp_kernel.*:FutureWarning")  # raised inside the official attention
def test_vjepa_step_equals_the_official_one():
    vit, vit_pred, multimask, multiblock3d, masks_utils = import_official(
        VJEPA_SRC,
        "src.models.vision_transformer",
        "src.models.predictor",
        "src.models.utils.multimask",
        "src.masks.multiblock3d",
        "src.masks.utils",
    )
    video = dict(img_size=SIZE, patch_size=8, num_frames=4, tubelet_size=2, uniform_power=True, use_sdpa=True)
    torch.manual_seed(0)
    backbone = vit.VisionTransformer(
        **video, embed_dim=DIM, depth=DEPTH, num_heads=HEADS, qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6)
    )
    predictor_backbone = vit_pred.vit_predictor(
        **video,
        embed_dim=DIM,
        predictor_embed_dim=PRED_DIM,
        depth=DEPTH,
        num_heads=HEADS,
        use_mask_tokens=True,
        num_mask_tokens=2,
        zero_init_mask_tokens=True,
    )
    encoder = multimask.MultiMaskWrapper(backbone)
    predictor = multimask.PredictorMultiMaskWrapper(predictor_backbone)
    randomize_(encoder, predictor)  # the zero-initialised mask tokens included, so that they matter
    target = independent_target(encoder)
    ours_encoder = create_model(
        "vit_tiny",
        input_size=SIZE,
        patch_size=8,
        num_frames=4,
        tubelet_size=2,
        embed_dim=DIM,
        depth=DEPTH,
        num_heads=HEADS,
    )
    ours_predictor = MaskedPredictor(
        ours_encoder.grid, DIM, predictor_dim=PRED_DIM, depth=DEPTH, num_heads=HEADS, num_mask_tokens=2
    )
    load_official_weights(ours_encoder, encoder.state_dict())
    load_official_weights(ours_predictor, predictor.state_dict())
    method = MaskedJEPA(ours_encoder, ours_predictor, loss="l1")
    load_official_weights(method.target_encoder, target.state_dict())

    # configs/pretrain/vitl16.yaml's short- and long-range blocks on a 2 x 8 x 8 grid
    block = dict(aspect_ratio=(0.75, 1.5), temporal_scale=(1.0, 1.0), max_temporal_keep=1.0, max_keep=None)
    collate = multiblock3d.MaskCollator(
        cfgs_mask=[
            dict(block, num_blocks=8, spatial_scale=(0.15, 0.15)),
            dict(block, num_blocks=2, spatial_scale=(0.7, 0.7)),
        ],
        crop_size=SIZE,
        num_frames=4,
        patch_size=8,
        tubelet_size=2,
    )
    torch.manual_seed(0)  # the sampler places its blocks with torch's global generator
    _, masks_enc, masks_pred = collate([(torch.zeros(()), 0)] * BATCH)
    clips = torch.randn(BATCH, 3, 4, SIZE, SIZE)

    def official_loss() -> torch.Tensor:  # app/vjepa/train.py with loss_exp 1 (its reg_coeff is 0)
        with torch.no_grad():
            h = target(clips)
            h = F.layer_norm(h, (h.size(-1),))
            h = masks_utils.apply_masks(h, masks_pred, concat=False)
        z = predictor(encoder(clips, masks_enc), h, masks_enc, masks_pred)
        loss = 0.0
        for zi, hi in zip(z, h):
            loss += torch.mean(torch.abs(zi - hi) ** 1.0) / 1.0
        return loss / len(masks_pred)

    batch = {"x": clips, "masks_ctx": masks_enc, "masks_tgt": masks_pred, "step": 0}
    compare_one_step((encoder, predictor, target), official_loss, method, batch)


def _official_name(name: str, predictor: bool) -> str:
    """Our parameter name as the official code spells it (inverse of the conversion, written out by hand)."""
    name = name.replace(".mlp.0.", ".mlp.fc1.").replace(".mlp.2.", ".mlp.fc2.")
    return "predictor_" + name if predictor else name


@pytest.mark.parametrize("num_mask_tokens, prefix", [(1, "module."), (2, "module.backbone.")], ids=["ijepa", "vjepa"])
def test_official_state_dicts_load_into_our_models(num_mask_tokens, prefix):
    encoder = create_model("vit_tiny", input_size=32, patch_size=8, embed_dim=DIM, depth=DEPTH, num_heads=HEADS)
    predictor = MaskedPredictor(encoder.grid, DIM, PRED_DIM, DEPTH, HEADS, num_mask_tokens=num_mask_tokens)
    torch.manual_seed(0)
    official_encoder = {prefix + _official_name(n, False): torch.randn_like(p) for n, p in encoder.named_parameters()}
    official_encoder[prefix + "pos_embed"] = sincos_nd(DIM, (4, 4))[None]
    official_predictor = {
        prefix + _official_name(n, True): torch.randn_like(p)
        for n, p in predictor.named_parameters()
        if n != "mask_tokens"
    }
    official_predictor[prefix + "predictor_pos_embed"] = sincos_nd(PRED_DIM, (4, 4))[None]
    tokens = torch.randn(num_mask_tokens, 1, 1, PRED_DIM)
    if num_mask_tokens == 1:
        official_predictor[prefix + "mask_token"] = tokens[0]
    else:
        official_predictor |= {f"{prefix}mask_tokens.{i}": token for i, token in enumerate(tokens)}

    load_official_weights(encoder, official_encoder)
    load_official_weights(predictor, official_predictor)
    assert torch.equal(encoder.blocks[1].mlp[0].weight, official_encoder[prefix + "blocks.1.mlp.fc1.weight"])
    assert torch.equal(encoder.blocks[0].mlp[2].bias, official_encoder[prefix + "blocks.0.mlp.fc2.bias"])
    assert torch.equal(
        predictor.blocks[1].attn.qkv.bias, official_predictor[prefix + "predictor_blocks.1.attn.qkv.bias"]
    )
    assert torch.equal(predictor.proj.bias, official_predictor[prefix + "predictor_proj.bias"])
    assert torch.equal(predictor.mask_tokens, tokens)
    for module, official, is_predictor in ((encoder, official_encoder, False), (predictor, official_predictor, True)):
        for n, p in module.named_parameters():
            if n != "mask_tokens":
                assert torch.equal(p, official[prefix + _official_name(n, is_predictor)]), n


def test_a_position_embedding_of_another_layout_is_refused():
    encoder = create_model("vit_tiny", input_size=32, patch_size=8, embed_dim=DIM, depth=1, num_heads=HEADS)
    state = {_official_name(n, False): p.detach().clone() for n, p in encoder.named_parameters()}
    transposed = sincos_nd(DIM, (4, 4)).view(4, 4, DIM).transpose(0, 1).reshape(1, 16, DIM)  # rows and columns swapped
    with pytest.raises(
        ValueError, match=r"position embedding \(1, 16, 64\) differs .* VisionTransformer on grid \(4, 4\)"
    ):
        load_official_weights(encoder, state | {"pos_embed": transposed})
    load_official_weights(encoder, state | {"pos_embed": sincos_nd(DIM, (4, 4))[None]})


def test_sincos_layouts_are_the_official_ones():
    s1, s2, c1, c2 = math.sin(1.0), math.sin(0.01), math.cos(1.0), math.cos(0.01)  # frequencies 1 and 1/100
    pe = sincos_nd(8, (2, 3))  # 2D, tokens row-major: [sin col, cos col | sin row, cos row], 4 dims each
    assert torch.allclose(pe[1], torch.tensor([s1, s2, c1, c2, 0, 0, 1, 1]))  # row 0, column 1
    assert torch.allclose(pe[3], torch.tensor([0, 0, 1, 1, s1, s2, c1, c2]))  # row 1, column 0
    pe = sincos_nd(6, (2, 2, 2))  # 3D: 2 * ceil(6 / 6) = 2 dims per axis, [time, row, column]
    assert torch.allclose(pe[1], torch.tensor([0, 1, 0, 1, s1, c1]))  # t 0, row 0, column 1
    assert torch.allclose(pe[4], torch.tensor([s1, c1, 0, 1, 0, 1]))  # t 1, row 0, column 0
    pe = sincos_nd(10, (1, 1, 2))  # 4 dims per axis, 12 cut to 10: the column keeps its sines only
    assert torch.allclose(pe[1], torch.tensor([0, 0, 1, 1, 0, 0, 1, 1, s1, s2]))
