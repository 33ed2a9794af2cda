"""One Vision Transformer for images (2D), video tubelets (3D) and spectrograms (2D, 1 channel)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jepa.masks.apply import apply_masks
from jepa.models.attention import Block, init_transformer_weights
from jepa.models.patch_embed import PatchEmbed
from jepa.models.pos_embed import sincos_nd
from jepa.models.rope import rope_tables

POSITION_EMBEDDINGS = ("sincos", "rope")


class VisionTransformer(nn.Module):
    """ViT encoder without CLS token; fixed positions; pre-norm blocks; final LayerNorm.

    input_size: (H, W) or (T, H, W); patch_size: matching tuple (for video (tubelet, p, p)).
    forward(x, masks=None): x (B, C, *input_size) -> tokens (B, N, D); with masks (list of (B, K)
    index tensors) only the kept tokens enter the blocks -> (len(masks)*B, K, D). Inputs of another size that
    the patches tile (local crops) get resampled positions.
    pos_embed: "sincos" adds fixed sine-cosine embeddings to the patch tokens (I-JEPA, V-JEPA); "rope" rotates
    each layer's queries and keys instead (V-JEPA 2, :mod:`jepa.models.rope`).
    ``architecture`` holds the constructor arguments, so that an exported encoder can be rebuilt from its file.
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
        pos_embed: str = "sincos",
    ):
        super().__init__()
        input_size, patch_size = tuple(input_size), tuple(patch_size)
        if pos_embed not in POSITION_EMBEDDINGS:
            raise ValueError(f"unknown position embedding {pos_embed!r}; choose from {POSITION_EMBEDDINGS}")
        self.architecture = dict(
            input_size=list(input_size),
            patch_size=list(patch_size),
            in_chans=in_chans,
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            qkv_bias=qkv_bias,
            patch_embed=patch_embed,
            pos_embed=pos_embed,
        )
        self.embed_dim, self.num_heads, self.rope = embed_dim, num_heads, pos_embed == "rope"
        self.patch_embed = PatchEmbed(input_size, patch_size, in_chans, embed_dim, stem=patch_embed)
        if not self.rope:
            sincos = sincos_nd(embed_dim, self.patch_embed.grid).unsqueeze(0)
            self.register_buffer("pos_embed", sincos, persistent=False)
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
        grid = self.patch_embed.grid_of(x)
        x = self.patch_embed(x)
        rope = None
        if self.rope:
            ids = torch.arange(x.shape[1], device=x.device)[None] if masks is None else torch.cat(masks)
            rope = rope_tables(ids, grid, self.embed_dim // self.num_heads)
        else:
            x = x + self.position_embedding(grid)
        if masks is not None:
            x = apply_masks(x, masks)
        for block in self.blocks:
            x = block(x, rope=rope)
        return self.norm(x)
