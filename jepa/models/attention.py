"""Pre-norm transformer blocks with a pluggable attention kernel.

"sdpa" (default) is torch's fused scaled_dot_product_attention, which picks flash/memory-efficient
kernels on CPU and GPU; "xformers" uses xformers' memory-efficient attention (GPU only).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jepa.models.rope import apply_rope

ATTENTION_BACKENDS = ("sdpa", "xformers")
RopeTables = tuple[torch.Tensor, torch.Tensor] | None


def _xformers_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    try:
        import xformers.ops as xops
    except ImportError as err:  # pragma: no cover - depends on the optional extra
        raise ImportError(
            "attention backend 'xformers' was requested but xformers is not installed; "
            "install the gpu extra (pip install 'jepa[gpu]') or use model.attn_backend=sdpa"
        ) from err
    bias = None
    if mask is not None:  # boolean "may attend" -> additive bias
        bias = torch.zeros(mask.shape, dtype=q.dtype, device=q.device).masked_fill(~mask, float("-inf"))
        bias = bias.expand(q.shape[0], q.shape[1], -1, -1)
    out = xops.memory_efficient_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), attn_bias=bias)
    return out.transpose(1, 2)


class Attention(nn.Module):
    """Multi-head self-attention with one fused qkv projection. x: (B, N, D) -> (B, N, D).

    mask (optional): boolean (N, N) or (B, 1, N, N), True where a query may attend to a key.
    cache (optional): a dict that keeps this layer's keys and values between calls, so a sequence can be fed
    a piece at a time (autoregressive rollouts) without recomputing its past; the new queries attend to the
    cached keys followed by their own, and ``mask`` is then (N, past + N).
    rope (optional): the (cos, sin) tables of :func:`jepa.models.rope.rope_tables` for the N tokens, which rotate
    queries and keys by their positions (V-JEPA 2).
    """

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, backend: str = "sdpa"):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed dim {dim} is not divisible by num_heads {num_heads}")
        if backend not in ATTENTION_BACKENDS:
            raise ValueError(f"unknown attention backend {backend!r}; choose from {ATTENTION_BACKENDS}")
        self.num_heads = num_heads
        self.backend = backend
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, cache: dict | None = None, rope: RopeTables = None
    ) -> torch.Tensor:
        B, N, D = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.num_heads, D // self.num_heads).permute(2, 0, 3, 1, 4)
        if rope is not None:
            q, k = apply_rope(q, rope), apply_rope(k, rope)
        if cache is not None:
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
            cache["k"], cache["v"] = k, v
        if self.backend == "xformers":
            out = _xformers_attention(q, k, v, mask)
        elif q.device.type == "cpu" and q.dtype == torch.bfloat16 and torch.is_grad_enabled():
            # torch's CPU flash-attention backward is 2-4x slower in bf16 than in fp32 at ViT sizes;
            # attention is a small share of the FLOPs, so run its kernel in fp32 when training on CPU
            with torch.autocast("cpu", enabled=False):  # autocast would cast the fp32 inputs back to bf16
                out = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask).to(q.dtype)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(out.transpose(1, 2).reshape(B, N, D))


class MLP(nn.Sequential):
    def __init__(self, dim: int, hidden: int):
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class Block(nn.Module):
    """Pre-norm transformer block (LayerNorm eps 1e-6, as the JEPA papers)."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True, backend: str = "sdpa"):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, backend=backend)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLP(dim, int(dim * mlp_ratio))

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, cache: dict | None = None, rope: RopeTables = None
    ) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), mask, cache, rope)
        return x + self.mlp(self.norm2(x))


def init_transformer_weights(module: nn.Module) -> None:
    """Truncated-normal(0.02) linear/conv weights, zero biases, unit LayerNorms; then scale each block's
    output projections by 1/sqrt(2 * depth index) so the residual stream does not grow with depth."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.Conv3d)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    blocks = [m for m in module.modules() if isinstance(m, Block)]
    with torch.no_grad():
        for depth_index, block in enumerate(blocks, start=1):
            block.attn.proj.weight.div_((2.0 * depth_index) ** 0.5)
            block.mlp[2].weight.div_((2.0 * depth_index) ** 0.5)
