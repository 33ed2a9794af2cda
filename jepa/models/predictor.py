"""The narrow transformer that predicts target-token embeddings from context tokens."""

from __future__ import annotations

import torch
from torch import nn

from jepa.masks.apply import apply_masks, repeat_chunks
from jepa.models.attention import Block, init_transformer_weights
from jepa.models.pos_embed import sincos_nd


class MaskedPredictor(nn.Module):
    """Context tokens + one mask token per target position -> predicted target embeddings.

    The context (encoder width D) is projected to the predictor width, given its positions, and
    concatenated with a learned mask token plus the position of every target token; after the blocks
    the target outputs are projected back to D. One mask token per mask generator (V-JEPA); I-JEPA
    uses one.
    """

    def __init__(
        self,
        grid: tuple[int, ...],
        embed_dim: int,
        predictor_dim: int = 384,
        depth: int = 6,
        num_heads: int = 6,
        mlp_ratio: float = 4.0,
        num_mask_tokens: int = 1,
        attn_backend: str = "sdpa",
    ):
        super().__init__()
        self.embed = nn.Linear(embed_dim, predictor_dim)
        self.mask_tokens = nn.Parameter(torch.zeros(num_mask_tokens, 1, 1, predictor_dim))
        self.register_buffer("pos_embed", sincos_nd(predictor_dim, grid).unsqueeze(0), persistent=False)
        self.blocks = nn.ModuleList(
            Block(predictor_dim, num_heads, mlp_ratio, backend=attn_backend) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(predictor_dim, eps=1e-6)
        self.proj = nn.Linear(predictor_dim, embed_dim)
        init_transformer_weights(self)
        nn.init.trunc_normal_(self.mask_tokens, std=0.02)

    def forward(
        self,
        context: torch.Tensor,
        masks_ctx: list[torch.Tensor],
        masks_tgt: list[torch.Tensor],
        mask_index: int = 0,
    ) -> torch.Tensor:
        """context: (len(masks_ctx)*B, Kc, D) -> (len(masks_tgt)*len(masks_ctx)*B, Kt, D)."""
        batch = context.shape[0] // len(masks_ctx)
        x = self.embed(context)
        pos = self.pos_embed.expand(batch, -1, -1)
        x = x + apply_masks(pos, masks_ctx)
        num_ctx = x.shape[1]
        # target-major pairing: row (t, c, b) holds context mask c and target mask t of sample b
        x = x.repeat(len(masks_tgt), 1, 1)
        targets = repeat_chunks(apply_masks(pos, masks_tgt), batch, len(masks_ctx)) + self.mask_tokens[mask_index]
        x = torch.cat([x, targets], dim=1)
        for block in self.blocks:
            x = block(x)
        return self.proj(self.norm(x[:, num_ctx:]))
