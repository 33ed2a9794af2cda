"""ACT's CVAE encoder: the 'style' of a demonstrated action chunk as a Gaussian latent.

Demonstrations of one state differ (noise, hesitations); a deterministic policy trained with L1 on them averages
the modes. ACT (Zhao et al., 2023) gives the decoder a latent z inferred from the chunk being imitated during
training, regularised towards N(0, I) by a KL term, and sets z to its prior mean 0 at inference.
"""

from __future__ import annotations

import torch
from torch import nn

from jepa.models.attention import Block, init_transformer_weights
from jepa.models.pos_embed import sincos_1d


class StyleEncoder(nn.Module):
    """[CLS, proprio state, the chunk's actions] -> the posterior's mean and log-variance, each (B, latent_dim);
    :meth:`token` maps a latent to the policy encoder's extra input token (B, context_dim).

    Padded steps of the chunk (``valid`` False) are hidden from attention. Without a proprio input the state token
    is left out, so the latent cannot carry the state into a policy that is meant to act from pixels."""

    def __init__(
        self, action_dim: int, proprio_dim: int, dim: int, depth: int, num_heads: int, latent_dim: int, context_dim: int
    ):
        super().__init__()
        self.dim, self.latent_dim = dim, latent_dim
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.action = nn.Linear(action_dim, dim)
        self.proprio = nn.Linear(proprio_dim, dim)
        self.blocks = nn.ModuleList(Block(dim, num_heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, 2 * latent_dim)
        self.to_token = nn.Linear(latent_dim, context_dim)
        init_transformer_weights(self)
        nn.init.trunc_normal_(self.cls, std=0.02)

    def forward(
        self, actions: torch.Tensor, valid: torch.Tensor, proprio: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """actions (B, K, A) normalised, valid (B, K) bool, proprio (B, S) standardised or None -> (mu, logvar)."""
        B, K = valid.shape
        time = sincos_1d(self.dim, torch.arange(K, device=actions.device)).to(actions.dtype)
        tokens = [self.cls.expand(B, -1, -1), self.action(actions) + time]
        keep = [valid.new_ones(B, 1), valid]
        if proprio is not None:
            tokens.insert(1, self.proprio(proprio).unsqueeze(1))
            keep.insert(1, valid.new_ones(B, 1))
        x, mask = torch.cat(tokens, 1), torch.cat(keep, 1)[:, None, None, :]  # (B, heads, queries, keys)
        for block in self.blocks:
            x = block(x, mask)
        mu, logvar = self.head(self.norm(x[:, 0])).chunk(2, dim=-1)
        return mu, logvar

    def token(self, z: torch.Tensor) -> torch.Tensor:
        """A latent (B, latent_dim) -> the encoder's style token (B, context_dim)."""
        return self.to_token(z)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over the latent dimensions, averaged over the batch (ACT's)."""
    return (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp())).sum(-1).mean()
