"""Chunked policies learned from demonstrations: ACT-JEPA, ACT and single-step behaviour cloning, one module.

The context encoder reads [proprio, observation, goal image]; learned action queries decode the next ``chunk``
actions (L1 to the demonstrated ones). ACT-JEPA (Vujinovic & Kovacevic) adds a narrow predictor whose queries
predict, from the same context, the embeddings an EMA copy of the encoder gives the future proprio states (or,
as an option, the future frames) over the chunk: a world-model term that shapes the encoder beyond what the
actions alone demand. ACT is the same model without that term; behaviour cloning is ACT with a chunk of one.
"""

from __future__ import annotations

import torch
from torch import nn

from jepa.models import ContextEncoder, QueryDecoder, ema_update, make_target

LATENT_TARGETS = ("states", "frames")


def masked_l1(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean |pred - target| over each sample's valid steps, then over the samples: pred, target (B, K, X), valid
    (B, K) bool. Every sample weighs the same whatever its number of valid steps, so the mean over DDP ranks' equal
    shares of a batch is the whole batch's loss."""
    error = ((pred - target).abs().mean(-1) * valid).sum(1) / valid.sum(1).clamp(min=1)
    return error.mean()


class ChunkPolicy(nn.Module):
    """``forward(batch) -> {"loss", "actions", "latents"}``, ``act(obs, proprio, goal) -> (B, K, A)``.

    Batch (see :class:`jepa.data.DemonstrationChunks`): ``obs`` (B, 3, H, W), ``proprio`` (B, S), ``goal``
    (B, 3, H, W) for goal-conditioned envs, ``actions`` (B, K, A) and ``future_states`` (B, K, S) in env units,
    ``valid`` (B, K); ``future_obs`` (B, K, 3, H, W) when the latent targets are frames. Actions are learned in
    [-1, 1] (the action space's bounds) and proprio states standardised; the bounds and statistics are buffers,
    saved with the weights, so a loaded policy acts in env units without its training data. A
    ``goal_conditioned`` policy needs ``goal`` in every batch and call; without ``proprio_input`` the policy acts
    from pixels alone (the true states still make ACT-JEPA's targets).
    """

    def __init__(
        self,
        encoder: ContextEncoder,
        action_decoder: QueryDecoder,
        latent_predictor: QueryDecoder | None = None,
        *,
        action_low: torch.Tensor,
        action_high: torch.Tensor,
        proprio_mean: torch.Tensor,
        proprio_std: torch.Tensor,
        goal_conditioned: bool = False,
        proprio_input: bool = True,
        latent_target: str = "states",
        latent_weight: float = 1.0,
    ):
        super().__init__()
        if latent_target not in LATENT_TARGETS:
            raise ValueError(f"latent_target must be one of {LATENT_TARGETS}, got {latent_target!r}")
        self.encoder, self.action_decoder, self.latent_predictor = encoder, action_decoder, latent_predictor
        self.chunk, self.goal_conditioned = action_decoder.queries.shape[0], goal_conditioned
        self.proprio_input = proprio_input
        self.latent_target, self.latent_weight = latent_target, latent_weight
        self.target = None if latent_predictor is None else make_target(encoder)
        self.register_buffer("action_low", action_low.float())
        self.register_buffer("action_high", action_high.float())
        self.register_buffer("proprio_mean", proprio_mean.float())
        self.register_buffer("proprio_std", proprio_std.float().clamp(min=1e-6))

    def _proprio(self, states: torch.Tensor) -> torch.Tensor:
        return (states - self.proprio_mean) / self.proprio_std

    def _scale(self) -> tuple[torch.Tensor, torch.Tensor]:
        return (self.action_high + self.action_low) / 2, (self.action_high - self.action_low) / 2

    def context(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The encoder's tokens (B, N, D) for a batch's observation, proprio state and goal image."""
        proprio = self._proprio(batch["proprio"]) if self.proprio_input else None
        return self.encoder(batch["obs"], proprio, batch.get("goal"))

    @torch.no_grad()
    def act(self, obs: torch.Tensor, proprio: torch.Tensor, goal: torch.Tensor | None = None) -> torch.Tensor:
        """obs (B, 3, H, W), proprio (B, S) in env units, goal or None -> the next chunk (B, K, A) in env units."""
        centre, half = self._scale()
        normalised = self.action_decoder(self.context({"obs": obs, "proprio": proprio, "goal": goal}))
        return centre + half * normalised.clamp(-1, 1)

    @torch.no_grad()
    def _latent_targets(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The EMA encoder's embeddings (B, K, D) of the future the chunk leads to."""
        if self.latent_target == "frames":
            return self.target.encode_frames(batch["future_obs"])
        return self.target.encode_states(self._proprio(batch["future_states"]), batch["valid"])

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        context, valid = self.context(batch), batch["valid"]
        centre, half = self._scale()
        actions = masked_l1(self.action_decoder(context), (batch["actions"] - centre) / half, valid)
        out = {"actions": actions.detach()}
        loss = actions
        if self.latent_predictor is not None:
            latents = masked_l1(self.latent_predictor(context), self._latent_targets(batch), valid)
            loss, out["latents"] = loss + self.latent_weight * latents, latents.detach()
        return out | {"loss": loss}

    def update_target(self, momentum: float) -> None:
        """EMA step of the target encoder (ACT-JEPA only; ACT and BC have none)."""
        if self.target is not None:
            ema_update(self.target, self.encoder, momentum)

    @torch.no_grad()
    def pooled_embeddings(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean context token (B, D): what the collapse monitors watch."""
        return self.context(batch).mean(1)
