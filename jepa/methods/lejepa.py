"""View-based LeJEPA: every view of an input predicts the mean embedding of its global views, and SIGReg keeps
the embeddings an isotropic Gaussian, so neither an EMA teacher nor a stop-gradient is needed."""

from __future__ import annotations

import torch
from torch import nn

from jepa.losses import SIGReg
from jepa.models.norm import GlobalBatchNorm1d


def projector(embed_dim: int, hidden: int, out: int) -> nn.Sequential:
    """The small MLP between the pooled encoder output and the loss (two hidden layers with batch norm, over the
    global batch under DDP)."""
    return nn.Sequential(
        nn.Linear(embed_dim, hidden),
        GlobalBatchNorm1d(hidden),
        nn.GELU(),
        nn.Linear(hidden, hidden),
        GlobalBatchNorm1d(hidden),
        nn.GELU(),
        nn.Linear(hidden, out),
    )


class LeJEPA(nn.Module):
    """loss = (1 - lambda) * mean over views of ||z_v - mean of the global views' z||^2 + lambda * SIGReg(z_v),
    averaged over views, with z the projector's output on the encoder's mean token.

    The batch holds ``views``: a list of view groups, each (B, V, C, *size), the first group the global views
    (all groups go through the same encoder; smaller ones are local crops). The probed encoder is ``encoder``
    itself: there is no target network.
    """

    def __init__(self, encoder: nn.Module, projector: nn.Module, sigreg: SIGReg, sigreg_weight: float = 0.05):
        super().__init__()
        if not 0 <= sigreg_weight <= 1:
            raise ValueError(f"LeJEPA's lambda weighs (1 - lambda) * invariance + lambda * SIGReg; got {sigreg_weight}")
        self.encoder, self.projector, self.sigreg, self.sigreg_weight = encoder, projector, sigreg, sigreg_weight

    def embed(self, views: torch.Tensor) -> torch.Tensor:
        """(B, V, C, *size) -> projector outputs (V, B, K)."""
        b, v = views.shape[:2]
        pooled = self.encoder(views.transpose(0, 1).flatten(0, 1)).mean(1)  # view-major rows: (V * B, D)
        return self.projector(pooled).view(v, b, -1)

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        z = torch.cat([self.embed(group) for group in batch["views"]])  # (V_all, B, K)
        centre = z[: batch["views"][0].shape[1]].mean(0)  # the global views' mean, (B, K)
        invariance = (z - centre).square().mean()
        sigreg = torch.stack([self.sigreg(view, step=batch["step"]) for view in z]).mean()
        loss = (1 - self.sigreg_weight) * invariance + self.sigreg_weight * sigreg
        return {"loss": loss, "invariance": invariance.detach(), "sigreg": sigreg.detach()}

    @torch.no_grad()
    def pooled_embeddings(self, batch: dict) -> torch.Tensor:
        """The encoder's mean token of the first global view of each input, (B, D), for the collapse monitors."""
        return self.encoder(batch["views"][0][:, 0]).mean(1)

    def eval_encoder(self) -> nn.Module:
        return self.encoder
