"""Official checkpoint files (facebookresearch/ijepa, jepa and vjepa2) into our encoders and predictors.

Always: a checkpoint file with the official key names, prefixes and shapes lands every tensor in its place, and our
rotary embedding equals V-JEPA 2's formula written out here. With local checkouts (IJEPA_SRC, VJEPA_SRC, VJEPA2_SRC;
skipped without them): the official models' own state dicts, saved as the official training loops save them,
load through ``load_pretrained`` and our features equal the official ones on the same input to 2e-6 (the largest
difference measured is 7.2e-7; a LayerNorm eps of 1e-5 instead of 1e-6 moves them by more).
"""

from __future__ import annotations

import math
import os
import pickle
import sys
import types
from functools import partial

import pytest
import torch
from test_official_equivalence import _official_name, import_official, randomize_
from torch import nn

from jepa.common.errors import CheckpointError
from jepa.models import MaskedPredictor, create_model, load_pretrained
from jepa.models.rope import apply_rope, rope_tables

IJEPA_SRC, VJEPA_SRC, VJEPA2_SRC = (os.environ.get(key) for key in ("IJEPA_SRC", "VJEPA_SRC", "VJEPA2_SRC"))
DIM, PRED_DIM, DEPTH, HEADS, BATCH = 96, 64, 2, 4, 2
FORWARD_ATOL = 2e-6
FORMATS = {  # prefix of every key, number of mask tokens, position embedding, video
    "ijepa": ("module.", 1, "sincos", False),
    "vjepa": ("module.backbone.", 2, "sincos", True),
    "vjepa2": ("module.backbone.", 2, "rope", True),
    "vjepa2_images": ("module.backbone.", 2, "rope", False),  # one frame: time 0
}


def ours(fmt: str) -> tuple[nn.Module, MaskedPredictor]:
    _, mask_tokens, pos_embed, video = FORMATS[fmt]
    frames = dict(num_frames=4, tubelet_size=2) if video else {}
    encoder = create_model(
        "vit_tiny", 32, 8, embed_dim=DIM, depth=DEPTH, num_heads=HEADS, pos_embed=pos_embed, **frames
    ).eval()
    predictor = MaskedPredictor(
        encoder.grid, DIM, PRED_DIM, DEPTH, HEADS, num_mask_tokens=mask_tokens, pos_embed=pos_embed
    ).eval()
    return encoder, predictor


def save_official_checkpoint(path, encoder: dict, predictor: dict, target_encoder: dict | None, prefix: str) -> None:
    """A checkpoint as the official training loops write it: the DDP-wrapped state dicts and the run's counters."""
    parts = {"encoder": encoder, "predictor": predictor} | (
        {"target_encoder": target_encoder} if target_encoder else {}
    )
    checkpoint = {name: {prefix + key: value for key, value in part.items()} for name, part in parts.items()}
    checkpoint |= {"opt": {"state": {}, "param_groups": [{"lr": 1e-3}]}, "scaler": None, "epoch": 7, "loss": 0.41}
    torch.save(checkpoint | {"batch_size": 8, "world_size": 1, "lr": 1e-3}, path)


def synthetic_state(module: nn.Module, predictor: bool, offset: float) -> dict[str, torch.Tensor]:
    """Our module's parameters under the official names, each a distinct random tensor."""
    generator = torch.Generator().manual_seed(int(offset))
    state = {
        _official_name(name, predictor): offset + torch.randn(p.shape, generator=generator)
        for name, p in module.named_parameters()
        if name != "mask_tokens"
    }
    if predictor:
        tokens = module.mask_tokens.detach() + offset
        state |= (
            {"mask_token": tokens[0]} if len(tokens) == 1 else {f"mask_tokens.{i}": t for i, t in enumerate(tokens)}
        )
    if not module.rope:
        state["predictor_pos_embed" if predictor else "pos_embed"] = module.pos_embed.clone()
    elif not predictor:
        state["pos_embed"] = torch.zeros(1, module.num_patches, DIM)  # V-JEPA 2's encoders keep an unused one
    return state


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_synthetic_official_checkpoint_lands_every_tensor_in_its_place(fmt, tmp_path):
    prefix = FORMATS[fmt][0]
    encoder, predictor = ours(fmt)
    official = {
        "encoder": synthetic_state(encoder, False, 1.0),
        "target_encoder": synthetic_state(encoder, False, 2.0),
        "predictor": synthetic_state(predictor, True, 3.0),
    }
    path = tmp_path / "checkpoint.pth.tar"
    save_official_checkpoint(path, official["encoder"], official["predictor"], official["target_encoder"], prefix)

    target, _ = ours(fmt)
    loaded = load_pretrained(path, encoder, predictor, target)
    assert loaded == ["encoder <- encoder", "target_encoder <- target_encoder", "predictor <- predictor"]
    for module, part, is_predictor in (
        (encoder, "encoder", False),
        (target, "target_encoder", False),
        (predictor, "predictor", True),
    ):
        for name, p in module.named_parameters():
            if name != "mask_tokens":
                assert torch.equal(p, official[part][_official_name(name, is_predictor)]), f"{part} {name}"
    tokens = [official["predictor"][k] for k in sorted(official["predictor"]) if k.startswith("mask_token")]
    assert torch.equal(predictor.mask_tokens, torch.stack(tokens))

    alone, _ = ours(fmt)  # an encoder alone gets the EMA target, the encoder the papers evaluate
    assert load_pretrained(path, alone) == ["encoder <- target_encoder"]
    assert torch.equal(alone.blocks[1].mlp[2].weight, official["target_encoder"]["blocks.1.mlp.fc2.weight"])


def test_a_checkpoint_that_does_not_fit_names_what_to_check(tmp_path):
    encoder, predictor = ours("ijepa")
    path = tmp_path / "ijepa.pth.tar"
    save_official_checkpoint(
        path, synthetic_state(encoder, False, 1.0), synthetic_state(predictor, True, 2.0), None, ""
    )
    deeper = create_model("vit_tiny", 32, 8, embed_dim=DIM, depth=DEPTH + 1, num_heads=HEADS)
    with pytest.raises(
        CheckpointError, match=r"encoder does not fit this VisionTransformer \(check model.name.*blocks.2"
    ):
        load_pretrained(path, deeper)
    rope, _ = ours("vjepa2")
    rope_sized = {k: v for k, v in synthetic_state(rope, False, 1.0).items() if k != "pos_embed"}
    torch.save({"predictor": {}, "epoch": 1}, tmp_path / "no_encoder.pth")
    with pytest.raises(CheckpointError, match="has no encoder weights; it holds"):
        load_pretrained(tmp_path / "no_encoder.pth", rope)
    torch.save(rope_sized, tmp_path / "bare.pt")  # a bare state dict is an encoder
    assert load_pretrained(tmp_path / "bare.pt", rope, predictor) == ["encoder <- encoder"]


class _Payload:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_a_checkpoint_with_pickled_code_is_refused(tmp_path, capsys):
    path = tmp_path / "evil.pth.tar"
    with open(path, "wb") as file:
        pickle.dump({"encoder": _Payload()}, file)
    encoder, _ = ours("ijepa")
    with pytest.raises(CheckpointError, match="refused to load"):
        load_pretrained(path, encoder)
    assert "pickled code ran" not in capsys.readouterr().out


def vjepa2_rotation(x: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """V-JEPA 2's rotation of queries or keys x (N, head_dim) at coords (N, 3), one entry at a time: each of the
    three sections of s = 2 * ((head_dim // 3) // 2) dims pairs entry 2i with 2i + 1, and entry j of a section
    turns by position * 10000^(-(j mod s/2) / (s/2)); the dims after 3s stay."""
    n, head_dim = x.shape
    s = 2 * ((head_dim // 3) // 2)
    out = x.clone()
    for token in range(n):
        for axis in range(3):
            for j in range(s):
                angle = float(coords[token, axis]) * 10000 ** (-(j % (s // 2)) / (s / 2))
                d = axis * s + j
                partner = -x[token, d + 1] if j % 2 == 0 else x[token, d - 1]
                out[token, d] = x[token, d] * math.cos(angle) + partner * math.sin(angle)
    return out


@pytest.mark.parametrize("head_dim, grid", [(16, (2, 3, 4)), (24, (3, 5)), (64, (2, 2, 2))])
def test_rope_is_vjepa2s_rotation(head_dim, grid):
    n = math.prod(grid)
    ids = torch.randperm(n)[: min(n, 7)]
    x = torch.randn(1, 1, len(ids), head_dim)
    rotated = apply_rope(x, rope_tables(ids[None], grid, head_dim))[0, 0]
    t, h, w = (1, *grid) if len(grid) == 2 else grid
    coords = torch.stack([ids // (h * w), ids % (h * w) // w, ids % w], dim=1)
    torch.testing.assert_close(rotated, vjepa2_rotation(x[0, 0], coords), rtol=0, atol=1e-6)
    assert torch.equal(rotated[:, 3 * 2 * ((head_dim // 3) // 2) :], x[0, 0, :, 3 * 2 * ((head_dim // 3) // 2) :])


# ---- against the official models, from local checkouts ---------------------------------------------------------
def _vjepa2_modules():
    """V-JEPA 2's modules import timm for a stochastic-depth helper these tests never use (drop_path 0): when timm is
    not installed, an empty stand-in lets the import through."""
    if "timm" not in sys.modules:
        try:
            import timm  # noqa: F401
        except ImportError:
            layers = types.ModuleType("timm.models.layers")
            layers.drop_path = None
            stand_in = {"timm": types.ModuleType("timm"), "timm.models": types.ModuleType("timm.models")}
            sys.modules.update(stand_in | {"timm.models.layers": layers})
    return import_official(VJEPA2_SRC, "src.models.vision_transformer", "src.models.predictor")


def official_models(fmt: str):
    """(encoder, predictor, call the predictor on (context, masks_ctx, masks_tgt)) of the official code."""
    norm = partial(nn.LayerNorm, eps=1e-6)
    if fmt == "ijepa":
        (vit,) = import_official(IJEPA_SRC, "src.models.vision_transformer")
        encoder = vit.VisionTransformer(
            img_size=[32], patch_size=8, embed_dim=DIM, depth=DEPTH, num_heads=HEADS, norm_layer=norm
        )
        predictor = vit.vit_predictor(
            num_patches=16, embed_dim=DIM, predictor_embed_dim=PRED_DIM, depth=DEPTH, num_heads=HEADS
        )
        return encoder, predictor, lambda z, ctx, tgt: predictor(z, ctx, tgt)
    video = dict(img_size=32, patch_size=8, num_frames=4 if FORMATS[fmt][3] else 1, tubelet_size=2, use_sdpa=True)
    if fmt == "vjepa":
        vit, vit_pred = import_official(VJEPA_SRC, "src.models.vision_transformer", "src.models.predictor")
        video["uniform_power"] = True
    else:
        vit, vit_pred = _vjepa2_modules()
        video["use_rope"] = True
    encoder = vit.VisionTransformer(**video, embed_dim=DIM, depth=DEPTH, num_heads=HEADS, norm_layer=norm)
    predictor = vit_pred.vit_predictor(
        **video, embed_dim=DIM, predictor_embed_dim=PRED_DIM, depth=DEPTH, num_heads=HEADS, use_mask_tokens=True
    )
    if fmt == "vjepa":  # its predictor also takes the target tokens, which only its mask-token-free variant reads
        return encoder, predictor, lambda z, ctx, tgt: predictor(z, None, ctx, tgt, mask_index=1)
    return encoder, predictor, lambda z, ctx, tgt: predictor(z, ctx, tgt, mask_index=1)


CHECKOUTS = {  # the checkout, the variable naming it, the repository
    "ijepa": (IJEPA_SRC, "IJEPA_SRC", "facebookresearch/ijepa"),
    "vjepa": (VJEPA_SRC, "VJEPA_SRC", "facebookresearch/jepa"),
    "vjepa2": (VJEPA2_SRC, "VJEPA2_SRC", "facebookresearch/vjepa2"),
    "vjepa2_images": (VJEPA2_SRC, "VJEPA2_SRC", "facebookresearch/vjepa2"),
}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.filterwarnings("ignore:.*sdp_kernel.*:FutureWarning")
def test_an_official_checkpoint_gives_the_official_features(fmt, tmp_path):
    checkout, variable, repository = CHECKOUTS[fmt]
    if not checkout:
        pytest.skip(f"{variable} names no checkout of {repository}")
    torch.manual_seed(0)
    encoder, predictor, predict = official_models(fmt)
    randomize_(encoder, predictor)
    encoder.eval(), predictor.eval()
    path = tmp_path / f"{fmt}.pth.tar"
    save_official_checkpoint(path, encoder.state_dict(), predictor.state_dict(), encoder.state_dict(), FORMATS[fmt][0])
    our_encoder, our_predictor = ours(fmt)
    assert load_pretrained(path, our_encoder, our_predictor) == ["encoder <- target_encoder", "predictor <- predictor"]

    x = torch.randn(BATCH, 3, 4, 32, 32) if FORMATS[fmt][3] else torch.randn(BATCH, 3, 32, 32)
    n = our_encoder.num_patches
    masks_ctx = [torch.stack([torch.randperm(n)[: n // 2].sort().values for _ in range(BATCH)])]
    masks_tgt = [torch.stack([torch.randperm(n)[:3].sort().values for _ in range(BATCH)])]
    with torch.no_grad():
        torch.testing.assert_close(our_encoder(x), encoder(x), rtol=0, atol=FORWARD_ATOL)
        context = encoder(x, masks_ctx)
        torch.testing.assert_close(our_encoder(x, masks_ctx), context, rtol=0, atol=FORWARD_ATOL)
        ours_predicted = our_predictor(context, masks_ctx, masks_tgt, mask_index=len(our_predictor.mask_tokens) - 1)
        torch.testing.assert_close(ours_predicted, predict(context, masks_ctx, masks_tgt), rtol=0, atol=FORWARD_ATOL)
