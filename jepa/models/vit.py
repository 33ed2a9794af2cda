"""One Vision Transformer for images (2D), video tubelets (3D) and spectrograms (2D, 1 channel)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jepa.masks.apply import apply_masks
from jepa.models.attention import Block, init_transformer_weights
from jepa.models.patch_embed import PatchEmbed
from jepa.models.pos_embed import sincos_nd


class VisionTransformer(nn.Module):
    """ViT encoder without CLS token; fixed sincos positions; pre-norm blocks; final LayerNorm.

    input_size: (H, W) or (T, H, W); patch_size: matching tuple (for video (tubelet, p, p)).
    forward(x, masks=None): x (B, C, *input_size) -> tokens (B, N, D); with masks (list of (B, K)
    index tensors) only the kept tokens enter the blocks -> (len(masks)*B, K, D). Inputs of another size that
    the patches tile (local crops) get resampled positions.
    """

    def __init__(
        self,
        input_size: tuple[int, ...],
        patch_size: tuple[int, ...],
        in_chans: int = 3,
        embed_dim: int = 192,
        depth: int = 12,
        num_heads: int = 3,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        attn_backend: str = "sdpa",
        patch_embed: str = "linear",
    ):
        super().__init__()
        self.embed_dim = embed_dim
        self.patch_embed = PatchEmbed(input_size, patch_size, in_chans, embed_dim, stem=patch_embed)
        self.register_buffer("pos_embed", sincos_nd(embed_dim, self.patch_embed.grid).unsqueeze(0), persistent=False)
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio, qkv_bias=qkv_bias, backend=attn_backend) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        init_transformer_weights(self)

    @property
    def grid(self) -> tuple[int, ...]:
        return self.patch_embed.grid

    @property
    def num_patches(self) -> int:
        return self.patch_embed.num_patches

    def position_embedding(self, grid: tuple[int, ...]) -> torch.Tensor:
        """(1, prod(grid), D): the fixed embedding at the built size, else resampled to ``grid`` (bicubic in 2D,
        trilinear in 3D) so a smaller crop's tokens spread over the same positions as a whole input's (DINO)."""
        if grid == self.grid:
            return self.pos_embed
        native = self.pos_embed.reshape(1, *self.grid, -1).movedim(-1, 1)
        mode = "bicubic" if len(grid) == 2 else "trilinear"
        return F.interpolate(native, size=grid, mode=mode, align_corners=False).flatten(2).transpose(1, 2)

    def forward(self, x: torch.Tensor, masks: list[torch.Tensor] | None = None) -> torch.Tensor:
        x = self.patch_embed(x) + self.position_embedding(self.patch_embed.grid_of(x))
        if masks is not None:
            x = apply_masks(x, masks)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)
