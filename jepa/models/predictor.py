"""Predictors: masked-token prediction (I/V/A-JEPA) and action-conditioned next-step prediction (world models)."""

from __future__ import annotations

import torch
from torch import nn

from jepa.masks.apply import apply_masks, repeat_chunks
from jepa.models.attention import Block, init_transformer_weights
from jepa.models.pos_embed import sincos_1d, sincos_nd
from jepa.models.rope import rope_tables


class MaskedPredictor(nn.Module):
    """Context tokens + one mask token per target position -> predicted target embeddings.

    The context (encoder width D) is projected to the predictor width, given its positions, and
    concatenated with a learned mask token plus the position of every target token; after the blocks
    the target outputs are projected back to D. One mask token per mask generator (V-JEPA); I-JEPA
    uses one. Positions are sincos embeddings added to the tokens, or with ``pos_embed="rope"`` the rotation of
    every layer's queries and keys (V-JEPA 2), as in :class:`jepa.models.VisionTransformer`.
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
        pos_embed: str = "sincos",
    ):
        super().__init__()
        self.grid, self.head_dim, self.rope = tuple(grid), predictor_dim // num_heads, pos_embed == "rope"
        self.embed = nn.Linear(embed_dim, predictor_dim)
        self.mask_tokens = nn.Parameter(torch.zeros(num_mask_tokens, 1, 1, predictor_dim))
        if not self.rope:
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
        batch, num_ctx = context.shape[0] // len(masks_ctx), context.shape[1]
        x = self.embed(context)
        # target-major pairing: row (t, c, b) holds context mask c and target mask t of sample b
        target_ids = repeat_chunks(torch.cat(masks_tgt), batch, len(masks_ctx))  # (T*C*B, Kt)
        targets = self.mask_tokens[mask_index].expand(*target_ids.shape, -1)
        rope = None
        if self.rope:
            ids = torch.cat([torch.cat(masks_ctx).repeat(len(masks_tgt), 1), target_ids], dim=1)
            rope = rope_tables(ids, self.grid, self.head_dim)
        else:
            pos = self.pos_embed.expand(batch, -1, -1)
            x = x + apply_masks(pos, masks_ctx)
            targets = targets + repeat_chunks(apply_masks(pos, masks_tgt), batch, len(masks_ctx))
        x = torch.cat([x.repeat(len(masks_tgt), 1, 1), targets], dim=1)
        for block in self.blocks:
            x = block(x, rope=rope)
        return self.proj(self.norm(x[:, num_ctx:]))


def block_causal_mask(
    num_steps: int, tokens_per_step: int, device: torch.device | None = None, past_steps: int = 0
) -> torch.Tensor:
    """Boolean (L, P + L) attention mask, L = num_steps * tokens_per_step and P = past_steps * tokens_per_step
    (steps already in a key-value cache): True where a token may attend, i.e. to every token of its own step
    and of earlier steps. Built for the actual length of each call."""
    keys = torch.arange(past_steps + num_steps, device=device).repeat_interleave(tokens_per_step)
    return keys[-num_steps * tokens_per_step :, None] >= keys[None, :]


class ActionConditionedPredictor(nn.Module):
    """Predict the next frame latents from the history of latents and actions (V-JEPA 2-AC-style).

    Step t is the token group ``[action a_t, (proprio p_t), frame tokens z_t]`` with a learned embedding per
    slot in the group and a sincos embedding of t; block-causal attention lets step t see steps <= t only,
    so one forward makes every next-step prediction of a sequence at once (teacher forcing), and a
    prediction never depends on later inputs. The frame outputs of step t predict z_{t+1} as a residual
    on z_t; the proprio output (when ``proprio_dim`` > 0) predicts p_{t+1} likewise.
    """

    def __init__(
        self,
        embed_dim: int,
        action_dim: int,
        num_tokens: int = 1,
        proprio_dim: int = 0,
        predictor_dim: int = 128,
        depth: int = 3,
        num_heads: int = 4,
        mlp_ratio: float = 4.0,
        attn_backend: str = "sdpa",
    ):
        super().__init__()
        self.num_tokens, self.proprio_dim = num_tokens, proprio_dim
        self.tokens_per_step = 1 + (proprio_dim > 0) + num_tokens
        self.action_embed = nn.Linear(action_dim, predictor_dim)
        self.proprio_embed = nn.Linear(proprio_dim, predictor_dim) if proprio_dim else None
        self.frame_embed = nn.Linear(embed_dim, predictor_dim)
        self.slot_embed = nn.Parameter(torch.zeros(self.tokens_per_step, predictor_dim))
        self.blocks = nn.ModuleList(
            Block(predictor_dim, num_heads, mlp_ratio, backend=attn_backend) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(predictor_dim, eps=1e-6)
        self.frame_head = nn.Linear(predictor_dim, embed_dim)
        self.proprio_head = nn.Linear(predictor_dim, proprio_dim) if proprio_dim else None
        init_transformer_weights(self)
        nn.init.trunc_normal_(self.slot_embed, std=0.02)

    def new_cache(self) -> list[dict]:
        """An empty key-value cache for :meth:`forward`: one dict per block."""
        return [{} for _ in self.blocks]

    def forward(
        self,
        z: torch.Tensor,
        actions: torch.Tensor,
        proprio: torch.Tensor | None = None,
        cache: list[dict] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """z: (B, T, N, D), actions: (B, T, A), proprio: (B, T, P) or None -> predicted z_{t+1} (B, T, N, D)
        and p_{t+1} (B, T, P) or None. With a ``cache`` (from :meth:`new_cache`) the T steps continue the
        steps fed through that cache before, whose keys and values are reused rather than recomputed."""
        B, T, N, _ = z.shape
        past = 0 if cache is None or "k" not in cache[0] else cache[0]["k"].shape[2] // self.tokens_per_step
        if (proprio is None) != (self.proprio_embed is None):
            raise ValueError(f"this predictor {'needs' if self.proprio_dim else 'takes no'} proprio inputs")
        groups = [self.action_embed(actions).unsqueeze(2)]
        if self.proprio_embed is not None:
            groups.append(self.proprio_embed(proprio).unsqueeze(2))
        groups.append(self.frame_embed(z))
        x = torch.cat(groups, dim=2) + self.slot_embed
        x = x + sincos_1d(x.shape[-1], torch.arange(past, past + T)).to(x)[:, None]
        x = x.flatten(1, 2)
        mask = block_causal_mask(T, self.tokens_per_step, x.device, past)
        for i, block in enumerate(self.blocks):
            x = block(x, mask, None if cache is None else cache[i])
        x = self.norm(x).view(B, T, self.tokens_per_step, -1)
        z_next = z + self.frame_head(x[:, :, -N:])
        p_next = None if self.proprio_head is None else proprio + self.proprio_head(x[:, :, 1])
        return z_next, p_next
