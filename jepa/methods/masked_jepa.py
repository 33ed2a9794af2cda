"""Masked latent prediction: I-JEPA, and V-JEPA / A-JEPA with other tokenizers and mask generators."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jepa.losses import prediction_loss
from jepa.masks import apply_masks, repeat_chunks
from jepa.models import MaskedPredictor, ema_update, make_target

MaskGroup = tuple[list[torch.Tensor], list[torch.Tensor]]


def split_mask_groups(masks_ctx: list[torch.Tensor], masks_tgt: list[torch.Tensor], num_groups: int) -> list[MaskGroup]:
    """Cut the collator's flat context and target lists into ``num_groups`` equal (contexts, targets) groups,
    one per mask generator: I-JEPA is one group (1 context, 4 targets), V-JEPA one group per generator
    (1 context, 1 target each)."""
    if len(masks_ctx) % num_groups or len(masks_tgt) % num_groups:
        raise ValueError(
            f"{len(masks_ctx)} context and {len(masks_tgt)} target masks cannot be split over {num_groups} mask "
            "generators; the predictor needs one mask token per generator"
        )
    c, t = len(masks_ctx) // num_groups, len(masks_tgt) // num_groups
    return [(masks_ctx[i * c : (i + 1) * c], masks_tgt[i * t : (i + 1) * t]) for i in range(num_groups)]


class MaskedJEPA(nn.Module):
    """Predict layer-normed target-encoder tokens at the target positions from context tokens.

    The target encoder is an EMA copy of the context encoder, run once on the full input without
    gradient (stop-gradient); :meth:`update_target` is called by the engine after each step.
    With several mask generators (the predictor holds one mask token per generator), each generator's
    context is encoded on its own, predicted with its own mask token, and the losses are averaged.
    An optional ``regularizer(tokens, step)`` (:class:`jepa.losses.VCR` or :class:`jepa.losses.SIGReg`) is
    added on the context encoder's output tokens. ``online_target=True`` is the online-target mode (masked
    prediction with SIGReg; the view-based LeJEPA is :class:`jepa.methods.LeJEPA`): no EMA copy and no
    stop-gradient, the targets are the online encoder's own tokens, and the regularizer alone keeps the
    embeddings from collapsing; without one it refuses to build unless ``allow_collapse=True`` (the
    ablation that shows the collapse).
    """

    def __init__(
        self,
        encoder: nn.Module,
        predictor: MaskedPredictor,
        loss: str = "smooth_l1",
        regularizer: nn.Module | None = None,
        online_target: bool = False,
        allow_collapse: bool = False,
    ):
        super().__init__()
        if online_target and regularizer is None and not allow_collapse:
            raise ValueError(
                "an online target (no EMA) collapses without a regularizer such as SIGReg or VCR; "
                "pass allow_collapse=True to run that ablation on purpose"
            )
        self.encoder = encoder
        self.predictor = predictor
        self.online_target = online_target
        self.target_encoder = None if online_target else make_target(encoder)
        self.loss_kind = loss
        self.regularizer = regularizer
        self.num_generators = predictor.mask_tokens.shape[0]
        prediction_loss(torch.zeros(1), torch.zeros(1), loss)  # fail at construction on an unknown loss

    def target_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Layer-normed (no affine) target tokens of the whole input, (B, N, D): from the EMA encoder without
        gradient, or in the online mode from the encoder itself, with gradient."""
        with torch.set_grad_enabled(self.online_target and torch.is_grad_enabled()):
            h = self.eval_encoder()(x)
            return F.layer_norm(h, h.shape[-1:])

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        x = batch["x"]
        h = self.target_tokens(x)
        losses, contexts = [], []
        groups = split_mask_groups(batch["masks_ctx"], batch["masks_tgt"], self.num_generators)
        for index, (masks_ctx, masks_tgt) in enumerate(groups):
            context = self.encoder(x, masks_ctx)
            target = repeat_chunks(apply_masks(h, masks_tgt), x.shape[0], len(masks_ctx))
            pred = self.predictor(context, masks_ctx, masks_tgt, mask_index=index)
            losses.append(prediction_loss(pred, target, self.loss_kind))
            contexts.append(context.flatten(0, 1))
        loss = sum(losses) / len(losses)
        out = {"pred": loss.detach()}
        if self.regularizer is not None:
            reg = self.regularizer(torch.cat(contexts), step=batch["step"])
            loss, out["reg"] = loss + reg, reg.detach()
        return out | {"loss": loss}

    def update_target(self, momentum: float) -> None:
        if self.target_encoder is not None:
            ema_update(self.target_encoder, self.encoder, momentum)

    @torch.no_grad()
    def pooled_embeddings(self, batch: dict) -> torch.Tensor:
        """The probed encoder's mean token of each input, (B, D): what the collapse monitors watch."""
        return self.eval_encoder()(batch["x"]).mean(1)

    def eval_encoder(self) -> nn.Module:
        """The encoder to probe: the EMA target as in I-JEPA's evaluations, or the online encoder."""
        return self.encoder if self.target_encoder is None else self.target_encoder
