"""Chunked policies learned from demonstrations: ACT-JEPA, ACT and single-step behaviour cloning, one module.

The context encoder reads [proprio, observation, goal image]; learned action queries decode the next ``chunk``
actions (L1 to the demonstrated ones). ACT-JEPA (Vujinovic & Kovacevic) adds a narrow predictor whose queries
predict, from the same context, the embeddings an EMA copy of the encoder gives the future proprio states (or,
as an option, the future frames) over the chunk: a world-model term that shapes the encoder beyond what the
actions alone demand. ACT is the same model without that term, optionally with the paper's CVAE (a style latent
inferred from the demonstrated chunk, KL-regularised, zero at inference); behaviour cloning is ACT with a chunk of
one.

Every method reads its inputs on the same footing: frames standardised by the training frames' mean and std like
the proprio state by its own, and optional proprio dropout, so that a privileged state input cannot make the
images redundant before they are read.
"""

from __future__ import annotations

import torch
from torch import nn

from jepa.models import ContextEncoder, QueryDecoder, ema_update, make_target
from jepa.models.style_encoder import StyleEncoder, gaussian_kl

LATENT_TARGETS = ("states", "frames")


def masked_l1(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean |pred - target| over each sample's valid steps, then over the samples: pred, target (B, K, X), valid
    (B, K) bool. Every sample weighs the same whatever its number of valid steps, so the mean over DDP ranks' equal
    shares of a batch is the whole batch's loss."""
    error = ((pred - target).abs().mean(-1) * valid).sum(1) / valid.sum(1).clamp(min=1)
    return error.mean()


class ChunkPolicy(nn.Module):
    """``forward(batch) -> {"loss", "actions", "latents" | "kl"}``, ``act(obs, proprio, goal) -> (B, K, A)``.

    Batch (see :class:`jepa.data.DemonstrationChunks`): ``obs`` (B, 3, H, W), ``proprio`` (B, S), ``goal``
    (B, 3, H, W) for goal-conditioned envs, ``actions`` (B, K, A) and ``future_states`` (B, K, S) in env units,
    ``valid`` (B, K); ``future_obs`` (B, K, 3, H, W) when the latent targets are frames. Actions are learned in
    [-1, 1] (the action space's bounds), proprio states standardised, and frames (observation and goal) have the
    training frames' mean frame removed and are divided by their std; the bounds and statistics are buffers, saved
    with the weights, so a loaded policy acts in env units without its training data. A ``goal_conditioned``
    policy needs ``goal`` in every batch and call; without ``proprio_input`` the policy acts from pixels alone (the
    true states still make ACT-JEPA's targets). ``proprio_dropout``: the share of training samples whose proprio
    token carries no state. ``style_encoder``: ACT's CVAE, its KL weighted by ``kl_weight``.
    """

    def __init__(
        self,
        encoder: ContextEncoder,
        action_decoder: QueryDecoder,
        latent_predictor: QueryDecoder | None = None,
        style_encoder: StyleEncoder | None = None,
        *,
        action_low: torch.Tensor,
        action_high: torch.Tensor,
        proprio_mean: torch.Tensor,
        proprio_std: torch.Tensor,
        frame_mean: torch.Tensor | float = 0.0,
        frame_std: torch.Tensor | float = 1.0,
        goal_conditioned: bool = False,
        proprio_input: bool = True,
        proprio_dropout: float = 0.0,
        latent_target: str = "states",
        latent_weight: float = 1.0,
        kl_weight: float = 10.0,
    ):
        super().__init__()
        if latent_target not in LATENT_TARGETS:
            raise ValueError(f"latent_target must be one of {LATENT_TARGETS}, got {latent_target!r}")
        if not 0 <= proprio_dropout < 1:
            raise ValueError(f"proprio_dropout must lie in [0, 1), got {proprio_dropout}")
        self.encoder, self.action_decoder, self.latent_predictor = encoder, action_decoder, latent_predictor
        self.style_encoder = style_encoder
        self.chunk, self.goal_conditioned = action_decoder.queries.shape[0], goal_conditioned
        self.proprio_input, self.proprio_dropout = proprio_input, proprio_dropout
        self.latent_target, self.latent_weight, self.kl_weight = latent_target, latent_weight, kl_weight
        self.target = None if latent_predictor is None else make_target(encoder)
        self.register_buffer("action_low", action_low.float())
        self.register_buffer("action_high", action_high.float())
        self.register_buffer("proprio_mean", proprio_mean.float())
        self.register_buffer("proprio_std", proprio_std.float().clamp(min=1e-6))
        self.register_buffer("frame_mean", torch.as_tensor(frame_mean).float())
        self.register_buffer("frame_std", torch.as_tensor(frame_std).float().clamp(min=1e-6))

    def _proprio(self, states: torch.Tensor) -> torch.Tensor:
        return (states - self.proprio_mean) / self.proprio_std

    def _proprio_input(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """The standardised state (B, S) the encoders read, or None for a policy from pixels alone."""
        return self._proprio(batch["proprio"]) if self.proprio_input else None

    def _frames(self, images: torch.Tensor | None) -> torch.Tensor | None:
        return None if images is None else (images - self.frame_mean) / self.frame_std

    def _scale(self) -> tuple[torch.Tensor, torch.Tensor]:
        return (self.action_high + self.action_low) / 2, (self.action_high - self.action_low) / 2

    def _encode(
        self,
        batch: dict[str, torch.Tensor],
        proprio_keep: torch.Tensor | None = None,
        style: torch.Tensor | None = None,
    ) -> torch.Tensor:
        proprio = self._proprio_input(batch)
        if style is None and self.style_encoder is not None:  # inference: the prior's mean
            style = self.style_encoder.token(batch["obs"].new_zeros(len(batch["obs"]), self.style_encoder.latent_dim))
        obs, goal = self._frames(batch["obs"]), self._frames(batch.get("goal"))
        return self.encoder(obs, proprio, goal, proprio_keep=proprio_keep, style=style)

    def context(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The encoder's tokens (B, N, D) for a batch's observation, proprio state and goal image, as at inference."""
        return self._encode(batch)

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
            return self.target.encode_frames(self._frames(batch["future_obs"]))
        return self.target.encode_states(self._proprio(batch["future_states"]), batch["valid"])

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        valid, (centre, half) = batch["valid"], self._scale()
        actions = (batch["actions"] - centre) / half
        keep = style = None
        if self.training and self.proprio_dropout and self.proprio_input:
            keep = (torch.rand(len(valid), device=valid.device) >= self.proprio_dropout).float()
        out: dict[str, torch.Tensor] = {}
        if self.style_encoder is not None:
            mu, logvar = self.style_encoder(actions, valid, self._proprio_input(batch))
            style = self.style_encoder.token(mu + (0.5 * logvar).exp() * torch.randn_like(mu))
            out["kl"] = gaussian_kl(mu, logvar)
        context = self._encode(batch, keep, style)
        action_loss = masked_l1(self.action_decoder(context), actions, valid)
        loss, out["actions"] = action_loss, action_loss.detach()
        if "kl" in out:
            loss, out["kl"] = loss + self.kl_weight * out["kl"], out["kl"].detach()
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
