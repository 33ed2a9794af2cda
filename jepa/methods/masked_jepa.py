"""Masked latent prediction (I-JEPA; the same method serves V-JEPA and A-JEPA with other tokenizers/masks)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jepa.losses import prediction_loss
from jepa.masks import apply_masks, repeat_chunks
from jepa.models import MaskedPredictor, ema_update, make_target


class MaskedJEPA(nn.Module):
    """Predict layer-normed target-encoder tokens at the target positions from context tokens.

    The target encoder is an EMA copy of the context encoder, run on the full input without
    gradient (stop-gradient); :meth:`update_target` is called by the engine after each step.
    An optional ``regularizer`` (e.g. :class:`jepa.losses.VCR`) is added on the context encoder's
    output tokens, for runs where EMA and the predictor alone do not prevent collapse.
    """

    def __init__(
        self,
        encoder: nn.Module,
        predictor: MaskedPredictor,
        loss: str = "smooth_l1",
        regularizer: nn.Module | None = None,
    ):
        super().__init__()
        self.encoder = encoder
        self.predictor = predictor
        self.target_encoder = make_target(encoder)
        self.loss_kind = loss
        self.regularizer = regularizer
        prediction_loss(torch.zeros(1), torch.zeros(1), loss)  # fail at construction on an unknown loss

    @torch.no_grad()
    def targets(self, x: torch.Tensor, masks_ctx: list[torch.Tensor], masks_tgt: list[torch.Tensor]) -> torch.Tensor:
        h = self.target_encoder(x)
        h = F.layer_norm(h, h.shape[-1:])
        return repeat_chunks(apply_masks(h, masks_tgt), x.shape[0], len(masks_ctx))

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        x, masks_ctx, masks_tgt = batch["x"], batch["masks_ctx"], batch["masks_tgt"]
        target = self.targets(x, masks_ctx, masks_tgt)
        context = self.encoder(x, masks_ctx)
        loss = prediction_loss(self.predictor(context, masks_ctx, masks_tgt), target, self.loss_kind)
        out = {"pred": loss.detach()}
        if self.regularizer is not None:
            reg = self.regularizer(context)
            loss, out["reg"] = loss + reg, reg.detach()
        return out | {"loss": loss}

    def update_target(self, momentum: float) -> None:
        ema_update(self.target_encoder, self.encoder, momentum)

    def eval_encoder(self) -> nn.Module:
        """The encoder to probe: the EMA target, as in I-JEPA's evaluations."""
        return self.target_encoder
