"""Action-conditioned JEPA world model: encode frames, predict the next latents given actions, plan in latent space.

Losses (targets are the encoder's own outputs behind a stop-gradient, no EMA copy):

- teacher forcing: one block-causal forward predicts every z_{t+1} from the true z_{<=t} and a_{<=t};
- rollout: from z_0 alone the predictor feeds its own predictions back for ``rollout_steps`` steps, which is
  how planning uses it, so compounding errors are trained against;
- the proprio state (when the predictor takes it) is read and predicted standardised by the training states' mean
  and std: raw velocities are tens of times larger than the latent's entries and would outweigh them in the loss;
- with a trainable encoder, a regulariser (:class:`jepa.losses.VCR` or :class:`jepa.losses.SIGReg`) on all
  encodings keeps the latent from collapsing to a constant, which the prediction losses alone would reward;
- optionally (``smooth_weight``, PLDM's temporal smoothness) the mean squared change between consecutive latents:
  the regulariser spreads the frames over every latent dimension, and a state of fewer dimensions (a ball's
  position) can only fill them by folding, which makes far-apart states nearly equal in the latent; paying for
  each step's length unfolds it, so latent distances track how far states are apart, as planning needs.
"""

from __future__ import annotations

import torch
from torch import nn

from jepa.losses import prediction_loss
from jepa.models.predictor import ActionConditionedPredictor


class WorldModel(nn.Module):
    """``encode(frames)``, ``predict(z, actions)`` (teacher forcing), ``rollout(z, actions)`` (autoregressive),
    ``forward(batch) -> {"loss", "teacher", "rollout", "reg", "smooth"}`` (the terms it has).

    encoder: any module mapping frames (B, C, H, W) to tokens (B, N, D) or a vector (B, D); with
    ``freeze_encoder`` (a pretrained encoder) it gets no gradient and no regulariser.
    Batch: ``obs`` (B, T, C, H, W) or, for a frozen encoder, its latents ``z`` (B, T, N, D) computed beforehand;
    ``actions`` (B, T-1, A), ``proprio`` (B, T, P) in env units when the predictor takes it, and the training
    ``step`` (from which SIGReg draws its directions). ``proprio_mean`` / ``proprio_std`` (P,): the statistics that
    standardise it (rebuilt from the run's facts, so not saved with the weights); None reads it as it is.
    """

    def __init__(
        self,
        encoder: nn.Module,
        predictor: ActionConditionedPredictor,
        *,
        loss: str = "l1",
        rollout_steps: int = 2,
        regularizer: nn.Module | None = None,
        freeze_encoder: bool = False,
        proprio_mean: torch.Tensor | None = None,
        proprio_std: torch.Tensor | None = None,
        smooth_weight: float = 0.0,
    ):
        super().__init__()
        if rollout_steps < 0 or smooth_weight < 0:
            raise ValueError(f"rollout_steps and smooth_weight must be >= 0, got {rollout_steps} and {smooth_weight}")
        self.encoder, self.predictor = encoder, predictor
        self.loss_kind, self.rollout_steps = loss, rollout_steps
        self.regularizer = None if freeze_encoder else regularizer
        self.freeze_encoder = freeze_encoder
        self.smooth_weight = 0.0 if freeze_encoder else smooth_weight
        if freeze_encoder:
            encoder.requires_grad_(False).eval()
        prediction_loss(torch.zeros(1), torch.zeros(1), loss)  # fail at construction on an unknown loss
        p = predictor.proprio_dim
        mean = torch.zeros(p) if proprio_mean is None else torch.as_tensor(proprio_mean).float()
        std = torch.ones(p) if proprio_std is None else torch.as_tensor(proprio_std).float()
        if mean.shape != (p,) or std.shape != (p,):
            raise ValueError(f"proprio_mean and proprio_std must be ({p},) vectors, got {mean.shape} and {std.shape}")
        self.register_buffer("proprio_mean", mean, persistent=False)
        self.register_buffer("proprio_std", std.clamp_min(1e-6), persistent=False)

    def train(self, mode: bool = True) -> WorldModel:
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()
        return self

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (..., C, H, W) -> latents (..., N, D) for any leading batch/time dims."""
        lead = frames.shape[:-3]
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_encoder):
            z = self.encoder(frames.reshape(-1, *frames.shape[-3:]))
        if z.dim() == 2:
            z = z.unsqueeze(1)
        return z.reshape(*lead, *z.shape[1:])

    def standardise(self, proprio: torch.Tensor | None) -> torch.Tensor | None:
        """Proprio states in env units (..., P) -> what the predictor reads and predicts."""
        return None if proprio is None else (proprio - self.proprio_mean) / self.proprio_std

    def predict(
        self, z: torch.Tensor, actions: torch.Tensor, proprio: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher forcing: z (B, T, N, D), actions (B, T, A), proprio (B, T, P) in env units -> predicted
        z_{1..T} (B, T, N, D) and, with proprio, p_{1..T} (B, T, P) standardised."""
        return self.predictor(z, actions, self.standardise(proprio))

    def rollout(self, z: torch.Tensor, actions: torch.Tensor, proprio: torch.Tensor | None = None) -> torch.Tensor:
        """Autoregressive prediction after C observed steps: z (B, C, N, D), actions (B, C - 1 + H, A) (the C - 1
        between the observed steps, then the H to imagine), proprio (B, C, P) in env units or None -> (B, H, N, D).
        A key-value cache feeds the predictor one new step per call, so H steps cost H step-forwards."""
        observed = z.shape[1]
        horizon = actions.shape[1] - observed + 1
        if horizon < 1:
            raise ValueError(f"{actions.shape[1]} actions after {observed} observed steps leave nothing to roll out")
        cache = self.predictor.new_cache()
        z_next, p_next = self.predictor(z, actions[:, :observed], self.standardise(proprio), cache)
        steps = [z_next[:, -1:]]
        p_next = None if p_next is None else p_next[:, -1:]
        for t in range(observed, observed + horizon - 1):
            z_next, p_next = self.predictor(steps[-1], actions[:, t : t + 1], p_next, cache)
            steps.append(z_next)
        return torch.cat(steps, dim=1)

    def latents(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The window's latents (B, T, N, D): encoded from ``obs``, or a frozen encoder's ``z`` computed beforehand."""
        return batch["z"] if "z" in batch else self.encode(batch["obs"])

    @torch.no_grad()
    def pooled_embeddings(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Every frame's latent flattened, (B * T, N * D): what the collapse monitors watch."""
        return self.latents(batch).flatten(2).flatten(0, 1)

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        actions, proprio = batch["actions"], batch.get("proprio")
        z = self.latents(batch)
        target = z[:, 1:].detach()
        context_p = None if proprio is None else proprio[:, :-1]
        pred, p_pred = self.predict(z[:, :-1], actions, context_p)
        teacher = prediction_loss(pred, target, self.loss_kind)
        if p_pred is not None:
            teacher = teacher + prediction_loss(p_pred, self.standardise(proprio[:, 1:]), self.loss_kind)
        out = {"teacher": teacher.detach()}
        loss = teacher
        steps = min(self.rollout_steps, actions.shape[1])
        if steps:
            rolled = self.rollout(z[:, :1], actions[:, :steps], None if proprio is None else proprio[:, :1])
            rollout = prediction_loss(rolled, target[:, :steps], self.loss_kind)
            loss, out["rollout"] = loss + rollout, rollout.detach()
        if self.regularizer is not None:
            reg = self.regularizer(z, step=int(batch.get("step", 0)))
            loss, out["reg"] = loss + reg, reg.detach()
        if self.smooth_weight:
            smooth = (z[:, 1:] - z[:, :-1]).pow(2).mean()
            loss, out["smooth"] = loss + self.smooth_weight * smooth, smooth.detach()
        return out | {"loss": loss}
