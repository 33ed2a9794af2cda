"""VICReg (Bardes, Ponce and LeCun, 2022) as an objective the engine trains: two augmented views of each image,
their expanded embeddings pulled together (invariance) while a variance hinge and a covariance penalty on each
view's embeddings keep them from collapsing. No EMA teacher and no predictor."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jepa.losses import VCR


class VICReg(nn.Module):
    """loss = invariance_weight * ||z_1 - z_2||^2 (mean) + VCR(z_1) + VCR(z_2), with z the expander's output on
    the encoder's mean token. The batch holds ``views``: one (B, 2, C, H, W) group, the two views of each image."""

    def __init__(self, encoder: nn.Module, expander: nn.Module, vcr: VCR, invariance_weight: float = 1.0):
        super().__init__()
        self.encoder, self.expander, self.vcr, self.invariance_weight = encoder, expander, vcr, invariance_weight

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        views = batch["views"][0]  # (B, 2, C, H, W)
        b = views.shape[0]
        z = self.expander(self.encoder(views.transpose(0, 1).flatten(0, 1)).mean(1)).view(2, b, -1)  # (2, B, K)
        invariance = F.mse_loss(z[0], z[1])
        regularizer = self.vcr(z[0]) + self.vcr(z[1])
        loss = self.invariance_weight * invariance + regularizer
        return {"loss": loss, "invariance": invariance.detach(), "vcr": regularizer.detach()}

    @torch.no_grad()
    def pooled_embeddings(self, batch: dict) -> torch.Tensor:
        """The encoder's mean token of each image's first view, (B, D), for the collapse monitors."""
        return self.encoder(batch["views"][0][:, 0]).mean(1)
