"""The official I-JEPA training step, timed at the bench's configuration from a local checkout of
facebookresearch/ijepa (``jepa bench bench.reference=/path/to/ijepa``).

Nothing of that repository ships here: its modules are imported from the user's checkout, and this file
only drives them the way its ``train.py`` does (target forward without gradient, layer norm, masked
targets; context encoder and predictor; smooth L1; AdamW; per-parameter EMA), without its logging.
"""

from __future__ import annotations

import copy
import importlib
import math
import sys
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from jepa.bench.measure import mask_sizes, measure
from jepa.common.errors import ConfigError
from jepa.common.runtime import select_device
from jepa.config import saved_config
from jepa.models import MODEL_SIZES
from jepa.recipes.parts import clip_frames

REFERENCE_MODULES = ("src.models.vision_transformer", "src.masks.multiblock", "src.masks.utils", "src.utils.tensors")


def reference_root(root: str | Path) -> Path:
    """``root`` resolved, or a clear error when it is not a checkout of the official code."""
    root = Path(root).expanduser().resolve()
    missing = [m for m in REFERENCE_MODULES if not (root / (m.replace(".", "/") + ".py")).is_file()]
    if missing:
        raise FileNotFoundError(
            f"bench.reference={root} is not a checkout of facebookresearch/ijepa: missing "
            + ", ".join(m.replace(".", "/") + ".py" for m in missing)
        )
    return root


def load_reference(root: str | Path) -> dict:
    """The checkout's modules, imported by name."""
    sys.path.insert(0, str(reference_root(root)))
    return {name.rsplit(".", 1)[1]: importlib.import_module(name) for name in REFERENCE_MODULES}


def check_reference_config(cfg: DictConfig) -> None:
    """The official step is 2D I-JEPA only, and its mask sampler loops forever on a target block that cannot
    hold more than ``mask.min_keep`` tokens; refuse such configs before starting."""
    if cfg.mask.kind != "multiblock" or clip_frames(cfg.data) or cfg.model.in_chans != 3:
        raise ValueError("bench.reference times the official I-JEPA step: it needs 2D images and mask.kind=multiblock")
    side = cfg.data.image_size // cfg.model.patch_size
    for u in torch.linspace(0, 1, 101).tolist():  # the official block size as a function of its one uniform draw
        keep = int(side * side * (cfg.mask.target_scale[0] + u * (cfg.mask.target_scale[1] - cfg.mask.target_scale[0])))
        aspect = cfg.mask.target_aspect[0] + u * (cfg.mask.target_aspect[1] - cfg.mask.target_aspect[0])
        h, w = (min(round(math.sqrt(keep * a)), side - 1) for a in (aspect, 1 / aspect))
        if h * w <= cfg.mask.min_keep:
            raise ValueError(
                f"the official mask sampler never finishes when a target block ({h}x{w} tokens) is not larger than "
                f"mask.min_keep={cfg.mask.min_keep}; lower mask.min_keep or raise mask.target_scale"
            )


def reference_masks(cfg: DictConfig, ref: dict) -> list[tuple[list[torch.Tensor], list[torch.Tensor]]]:
    """(context masks, target masks) of the official sampler for the bench's warm-up and timed steps."""
    collate = ref["multiblock"].MaskCollator(
        input_size=(cfg.data.image_size, cfg.data.image_size),
        patch_size=cfg.model.patch_size,
        enc_mask_scale=tuple(cfg.mask.context_scale),
        pred_mask_scale=tuple(cfg.mask.target_scale),
        aspect_ratio=tuple(cfg.mask.target_aspect),
        nenc=1,
        npred=cfg.mask.num_targets,
        min_keep=cfg.mask.min_keep,
        allow_overlap=cfg.mask.allow_overlap,
    )
    samples = [(torch.zeros(()), 0)] * cfg.data.batch_size  # the sampler only counts them
    with torch.random.fork_rng():  # it places blocks with the global generator: seed it, so both sides get these masks
        torch.manual_seed(cfg.train.seed)
        return [collate(samples)[1:] for _ in range(cfg.bench.warmup + cfg.bench.steps * cfg.bench.repeats)]


def bench_reference(cfg_dict: dict, precision: str = "fp32") -> dict[str, float]:
    """Samples/s of the official step in fp32 (its bf16 path is CUDA autocast), timed like ``bench_precision``."""
    cfg = saved_config(cfg_dict)
    if precision != "fp32":
        raise ValueError("the official I-JEPA step autocasts only on CUDA; time it in fp32")
    ref = load_reference(cfg.bench.reference)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    device = select_device(cfg.train.device)
    torch.manual_seed(cfg.train.seed)
    m, size, batch = cfg.model, MODEL_SIZES[cfg.model.name], cfg.data.batch_size  # cfg vetted by the config check
    encoder = ref["vision_transformer"].VisionTransformer(
        img_size=[cfg.data.image_size],
        patch_size=m.patch_size,
        embed_dim=m.embed_dim or size.embed_dim,
        depth=m.depth or size.depth,
        num_heads=m.num_heads or size.num_heads,
        mlp_ratio=size.mlp_ratio,
        qkv_bias=True,
        norm_layer=partial(nn.LayerNorm, eps=1e-6),
    )
    predictor = ref["vision_transformer"].vit_predictor(
        num_patches=encoder.patch_embed.num_patches,
        embed_dim=encoder.embed_dim,
        predictor_embed_dim=m.predictor_dim,
        depth=m.predictor_depth,
        num_heads=m.predictor_heads,
    )
    encoder, predictor = encoder.to(device), predictor.to(device)
    target = copy.deepcopy(encoder).requires_grad_(False)
    params = [*encoder.named_parameters(), *predictor.named_parameters()]
    no_decay = lambda name, p: "bias" in name or p.ndim == 1  # noqa: E731 - the official grouping
    optimizer = torch.optim.AdamW(
        [
            {"params": [p for n, p in params if not no_decay(n, p)], "weight_decay": cfg.optim.weight_decay},
            {"params": [p for n, p in params if no_decay(n, p)], "weight_decay": 0.0},
        ],
        lr=cfg.optim.lr,
    )
    x = torch.randn(batch, 3, cfg.data.image_size, cfg.data.image_size, device=device)
    batches = [tuple([m.to(device) for m in group] for group in masks) for masks in reference_masks(cfg, ref)]
    apply_masks, repeat_batch = ref["utils"].apply_masks, ref["tensors"].repeat_interleave_batch
    momentum = cfg.optim.ema_momentum[0]

    def loss_of(masks: tuple) -> torch.Tensor:
        masks_enc, masks_pred = masks
        with torch.no_grad():
            h = target(x)
            h = repeat_batch(apply_masks(F.layer_norm(h, h.shape[-1:]), masks_pred), batch, repeat=len(masks_enc))
        return F.smooth_l1_loss(predictor(encoder(x, masks_enc), masks_enc, masks_pred), h)

    def forward_backward(masks: tuple) -> None:
        loss_of(masks).backward()
        optimizer.zero_grad()

    def step(masks: tuple) -> None:
        loss_of(masks).backward()
        optimizer.step()
        optimizer.zero_grad()
        with torch.no_grad():
            for q, k in zip(encoder.parameters(), target.parameters()):
                k.mul_(momentum).add_((1.0 - momentum) * q.detach())

    row = measure(cfg, step, forward_backward, batches, lambda masks: mask_sizes(masks[0] + masks[1]), device)
    return {"implementation": "official I-JEPA", "precision": "fp32", **row, "compiled": False}


def check_bench_reference(cfg: DictConfig) -> None:
    """``bench.reference`` names a usable checkout and a config the official step can run: a ConfigError naming
    the key otherwise, before any process starts."""
    if not cfg.bench.reference:
        return
    try:
        reference_root(cfg.bench.reference)
        check_reference_config(cfg)
    except (FileNotFoundError, ValueError) as err:
        raise ConfigError(f"bench.reference: {err}") from None
