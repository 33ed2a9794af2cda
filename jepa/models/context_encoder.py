"""The encoder of chunked policies (ACT, ACT-JEPA): one transformer over what the agent knows at a step."""

from __future__ import annotations

import torch
from torch import nn

from jepa.models.attention import Block, init_transformer_weights
from jepa.models.patch_embed import PatchEmbed
from jepa.models.pos_embed import sincos_1d, sincos_nd

PROPRIO, OBSERVATION, GOAL = range(3)  # rows of ContextEncoder.kinds


class ContextEncoder(nn.Module):
    """[proprio token, observation patches, goal-image patches] -> context tokens (B, (1 +) P (+ P), D).

    Patches get fixed 2D sincos positions; each kind of token gets a learned embedding, so the goal image is told
    apart from the current one (envs without a goal image leave those tokens out, policies from pixels alone the
    proprio token). The same blocks also embed a
    sequence of proprio states (:meth:`encode_states`, 1D sincos over time): the EMA copy of this encoder turns
    the future states into ACT-JEPA's prediction targets, or future frames (:meth:`encode_frames`).
    """

    def __init__(
        self,
        image_size: int,
        patch_size: int,
        proprio_dim: int,
        embed_dim: int = 128,
        depth: int = 3,
        num_heads: int = 4,
        patch_embed: str = "conv",
    ):
        super().__init__()
        self.embed_dim = embed_dim
        self.patch_embed = PatchEmbed((image_size, image_size), (patch_size, patch_size), 3, embed_dim, patch_embed)
        self.register_buffer("pos_embed", sincos_nd(embed_dim, self.patch_embed.grid).unsqueeze(0), persistent=False)
        self.proprio = nn.Linear(proprio_dim, embed_dim)
        self.kinds = nn.Parameter(torch.zeros(3, embed_dim))
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        init_transformer_weights(self)
        nn.init.trunc_normal_(self.kinds, std=0.02)

    def _image_tokens(self, images: torch.Tensor, kind: int) -> torch.Tensor:
        """images (B, 3, H, W) -> (B, P, D)."""
        return self.patch_embed(images) + self.pos_embed + self.kinds[kind]

    def _blocks(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)

    def forward(
        self,
        obs: torch.Tensor,
        proprio: torch.Tensor | None = None,
        goal: torch.Tensor | None = None,
        *,
        proprio_keep: torch.Tensor | None = None,
        style: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """obs (B, 3, H, W), proprio (B, S) (normalised) or None, goal (B, 3, H, W) or None -> (B, N, D).

        ``proprio_keep`` (B,) of 0/1: where 0, the proprio token carries no state, only its kind (proprio dropout);
        ``style`` (B, D): one more token in front (ACT's CVAE latent)."""
        tokens = [self._image_tokens(obs, OBSERVATION)]
        if proprio is not None:
            state = self.proprio(proprio)
            if proprio_keep is not None:
                state = state * proprio_keep[:, None]
            tokens.insert(0, (state + self.kinds[PROPRIO]).unsqueeze(1))
        if goal is not None:
            tokens.append(self._image_tokens(goal, GOAL))
        if style is not None:
            tokens.insert(0, style.unsqueeze(1))
        return self._blocks(torch.cat(tokens, dim=1))

    def encode_states(self, states: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """A sequence of proprio states (B, K, S) -> one embedding per step (B, K, D). ``valid`` (B, K) bool, True
        from the first step on: padded steps past an episode's end are hidden from the real ones."""
        time = sincos_1d(self.embed_dim, torch.arange(states.shape[1], device=states.device)).to(states.dtype)
        mask = None if valid is None else valid[:, None, None, :]  # (B, heads, queries, keys)
        return self._blocks(self.proprio(states) + self.kinds[PROPRIO] + time, mask)

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames (B, K, 3, H, W) -> one embedding per frame (B, K, D), its tokens' mean."""
        tokens = self._blocks(self._image_tokens(frames.flatten(0, 1), OBSERVATION))
        return tokens.mean(1).unflatten(0, frames.shape[:2])
