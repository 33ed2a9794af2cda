"""Learned queries that read a set of context tokens: ACT's action decoder and ACT-JEPA's latent predictor."""

from __future__ import annotations

import torch
from torch import nn

from jepa.models.attention import MLP


class QueryBlock(nn.Module):
    """Pre-norm decoder block: the queries attend to each other, then to the context, then an MLP; each a residual.

    Self-attention lets the steps of a chunk agree with each other (a smooth chunk); cross-attention is where they
    read the observation."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm_self, self.norm_query, self.norm_context, self.norm_mlp = (
            nn.LayerNorm(dim, eps=1e-6) for _ in range(4)
        )
        self.self_attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.mlp = MLP(dim, int(dim * mlp_ratio))

    def forward(self, queries: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """queries (B, Q, D), context (B, N, D) -> (B, Q, D)."""
        q = self.norm_self(queries)
        queries = queries + self.self_attn(q, q, q, need_weights=False)[0]
        c = self.norm_context(context)
        queries = queries + self.cross_attn(self.norm_query(queries), c, c, need_weights=False)[0]
        return queries + self.mlp(self.norm_mlp(queries))


class QueryDecoder(nn.Module):
    """``num_queries`` learned queries of width ``dim`` read context tokens (B, N, context_dim) through ``depth``
    :class:`QueryBlock` s -> (B, num_queries, out_dim): one output per step of a chunk. A ``dim`` narrower than
    the context (ACT-JEPA's predictor) is reached by a linear map of the context."""

    def __init__(self, num_queries: int, dim: int, context_dim: int, out_dim: int, depth: int, num_heads: int):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(num_queries, dim) * 0.02)
        self.context_proj = nn.Identity() if context_dim == dim else nn.Linear(context_dim, dim)
        self.blocks = nn.ModuleList(QueryBlock(dim, num_heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, out_dim)

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        context = self.context_proj(context)
        x = self.queries.expand(len(context), -1, -1)
        for block in self.blocks:
            x = block(x, context)
        return self.head(self.norm(x))
