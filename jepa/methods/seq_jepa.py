"""seq-JEPA (Ghaemi et al.): a transformer aggregates a sequence of views, each paired with the relative action
that leads on to the next view, and predicts the embedding of a held-out next view from the aggregate and the
action leading to it.

Seeing only one view of a scene at a time, the encoder is pushed to keep what changes between views (it must
tell the aggregator where each view sits), while the aggregate, which has to summarise the whole sequence,
becomes invariant: the paper reads equivariance off the encoder and invariance off the aggregate.

One addition to the authors' recipe: the target embedding is standardised per feature over the batch before the
cosine. Their ResNet's batch norm centres its features over the batch; a LayerNorm ViT's mean-pooled embeddings of
similar images (a shape or an agent on a plain background) all point within a few degrees of one direction, so
without it predicting that direction already scores a cosine of 0.99 and nothing is learnt.

For the same reason each view's encoding is standardised per feature over the batch (B * M encodings) before it
enters the aggregator, as the action embedding is: otherwise the encodings of different views, nearly one
vector, vary far less than the standardised actions beside them, and after the aggregator's layer norm the
tokens tell the views apart by their actions alone (on the shapes the encodings made ~3 % of the token variation,
on Two-Rooms frames ~0). The standardisation is a batch norm without affine, so at evaluation its running
statistics standardise a single sequence as the training batches were. It belongs to the aggregator's input: the
aggregate a probe reads passes through it as in training, while :meth:`SeqJEPA.encode`, the encoder's own
embedding that the equivariance probe reads, stays raw.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from jepa.models import ema_update, make_target
from jepa.models.attention import Block, init_transformer_weights
from jepa.models.norm import GlobalBatchNorm1d, standardise

# how a view-change action holds a change of rotation (method.relative_rotation; the recipe makes the actions): the
# difference of the two angles, or the cosine and sine of the angle between the views, which do not wrap
RELATIVE_ROTATIONS = ("difference", "cos_sin")


def pooled(encoder: nn.Module, views: torch.Tensor) -> torch.Tensor:
    """One vector per view: (..., C, H, W) -> (..., D); ViT tokens are mean-pooled, a vector encoder's output kept."""
    lead = views.shape[:-3]
    z = encoder(views.reshape(-1, *views.shape[-3:]))
    return (z.mean(1) if z.dim() == 3 else z).reshape(*lead, -1)


def action_embedding(action_dim: int, width: int) -> nn.Sequential:
    """Linear without bias, then BatchNorm without affine: (N, A) -> (N, width) standardised per feature, so
    actions of any scale enter the tokens at the scale of a normalised feature, and no learnt shift or gain
    lets the action swamp or vanish beside the encoding."""
    return nn.Sequential(nn.Linear(action_dim, width, bias=False), GlobalBatchNorm1d(width, affine=False))


def predictor(in_dim: int, hidden: int, out_dim: int) -> nn.Sequential:
    """The MLP from [aggregate ‖ next action] to the held-out view's embedding: one hidden layer with batch norm
    (so no bias before it, which the norm would cancel)."""
    return nn.Sequential(
        nn.Linear(in_dim, hidden, bias=False), GlobalBatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, out_dim)
    )


class SeqJEPA(nn.Module):
    """loss = 1 - cos(predictor([aggregate ‖ e(a_M)]), target embedding of view M), averaged over the batch.

    Batch: ``views`` (B, M+1, C, H, W), the first M observed and the last held out; ``actions`` (B, M, A), action
    i leading from view i to view i+1 (the last from the last observed view to the held-out one). Token i of
    the aggregator is [encoding of view i ‖ e(action i)], after a learnt [AGG] token and without positions (the
    actions say how the views relate); the last token's action slot is zero, as in the authors' code, so the
    action to the held-out view reaches the predictor alone and the aggregate summarises only what was observed.
    ``action_conditioning=False`` is the paper's ablation: tokens are the encodings alone and the predictor sees
    the aggregate alone.

    The target embedding comes from an EMA copy of the encoder only (:meth:`update_target`), without gradient,
    standardised per feature over the batch unless ``standardise_target=False`` (:meth:`target`). With
    ``normalise_encodings`` the encodings entering the aggregator are standardised per feature too, by a batch norm
    without affine (:meth:`_aggregate`). The online encoder, whose embeddings the aggregator is trained on, is the
    one that is probed (:meth:`eval_encoder`).

    An optional ``regularizer(encodings, step)`` (:class:`jepa.losses.SIGReg` or :class:`jepa.losses.VCR`, from
    the ``regularizer`` section) is added on the observed views' raw encodings (B * M, D). It is not the paper's:
    where one feature of the views (the shapes' colour) is shared by every view of a sequence, copying it
    predicts the held-out view and the encoder settles for it; a term that asks the encodings to spread over many
    directions makes it keep what differs between views too.
    """

    def __init__(
        self,
        encoder: nn.Module,
        action_dim: int,
        *,
        action_conditioning: bool = True,
        action_embed_dim: int = 32,
        depth: int = 3,
        num_heads: int = 4,
        predictor_hidden: int = 512,
        standardise_target: bool = True,
        normalise_encodings: bool = True,
        regularizer: nn.Module | None = None,
    ):
        super().__init__()
        self.regularizer = regularizer
        embed_dim = encoder.embed_dim
        self.encoder = encoder
        self.target_encoder = make_target(encoder)
        self.standardise_target, self.action_conditioning = standardise_target, action_conditioning
        self.action_embed = action_embedding(action_dim, action_embed_dim) if action_conditioning else None
        self.encoding_norm = GlobalBatchNorm1d(embed_dim, affine=False) if normalise_encodings else nn.Identity()
        width = embed_dim + action_embed_dim if action_conditioning else embed_dim
        if width % num_heads:
            raise ValueError(f"the aggregator's token width {width} is not divisible by its {num_heads} heads")
        self.agg_token = nn.Parameter(torch.zeros(1, 1, width))
        self.aggregator = nn.ModuleList(Block(width, num_heads) for _ in range(depth))
        self.norm = nn.LayerNorm(width, eps=1e-6)
        next_action = action_embed_dim if action_conditioning else 0
        self.predictor = predictor(width + next_action, predictor_hidden, embed_dim)
        init_transformer_weights(self.aggregator)
        nn.init.trunc_normal_(self.agg_token, std=0.02)

    @property
    def embed_dim(self) -> int:
        """Width of the aggregate: the encoding, plus the action embedding with action conditioning."""
        return self.agg_token.shape[-1]

    def embed_actions(self, actions: torch.Tensor) -> torch.Tensor:
        """(B, M, A) -> (B, M, action_embed_dim); batch norm over every action of the batch."""
        return self.action_embed(actions.flatten(0, 1)).view(*actions.shape[:2], -1)

    def _aggregate(self, z: torch.Tensor, actions: torch.Tensor | None) -> torch.Tensor:
        """Encodings (B, M, D) and embedded actions (B, M, E) or None -> the [AGG] output (B, width). The encodings
        are standardised with ``normalise_encodings``; the last view's action, the one leading out of the
        sequence, is replaced by zeros."""
        z = self.encoding_norm(z.flatten(0, 1)).view_as(z)  # (B * M, D): every view of the batch, as the actions
        if actions is not None:
            between = F.pad(actions[:, :-1], (0, 0, 0, 1))  # (B, M, E): the M - 1 actions between views, then 0
            z = torch.cat([z, between], dim=-1)
        x = torch.cat([self.agg_token.expand(len(z), -1, -1), z], dim=1)
        for block in self.aggregator:
            x = block(x)
        return self.norm(x[:, 0])

    def encode(self, views: torch.Tensor) -> torch.Tensor:
        """The online encoder's embedding of each view: (B, M, C, H, W) -> (B, M, D)."""
        return pooled(self.encoder, views)

    def aggregate_encodings(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """:meth:`aggregate` from the views' encodings (B, M, D), so a probe can reuse them for several prefixes."""
        return self._aggregate(z, self.embed_actions(actions) if self.action_conditioning else None)

    def aggregate(self, views: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The representation that is probed: views (B, M, C, H, W) and the actions leading on from each
        (B, M, A) -> (B, width). The last action, out of the sequence, is not read; without action conditioning
        none is."""
        return self.aggregate_encodings(self.encode(views), actions)

    def _predict(self, z: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The predicted embedding of the held-out view, (B, D), from the observed views' encodings (B, M, D) and
        the actions (B, M, A): the aggregate, with action conditioning beside the embedded last action."""
        if not self.action_conditioning:
            return self.predictor(self._aggregate(z, None))
        embedded = self.embed_actions(actions)  # (B, M, E)
        return self.predictor(torch.cat([self._aggregate(z, embedded), embedded[:, -1]], dim=-1))

    def cosines(self, z: torch.Tensor, actions: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per sequence, the cosine between the prediction from encodings (B, M, D) and actions (B, M, A) and the
        target embedding (B, D) -> (B,). The loss is 1 - their mean; the evaluation also scores predictions from
        other sequences' encodings, to see whether the model reads the views at all."""
        return F.cosine_similarity(self._predict(z, actions), target, dim=-1)

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        views, actions = batch["views"], batch["actions"]
        observed = views.shape[1] - 1
        if actions.shape[1] != observed:
            raise ValueError(f"{observed} observed views need {observed} actions, got {actions.shape[1]}")
        target = self.target(views[:, -1])  # (B, D)
        z = self.encode(views[:, :observed])  # (B, M, D)
        similarity = self.cosines(z, actions, target).mean()
        out = {"loss": 1 - similarity, "cosine": similarity.detach()}
        if self.regularizer is not None:
            reg = self.regularizer(z.flatten(0, 1), step=batch["step"])
            out.update(loss=out["loss"] + reg, regularizer=reg.detach())
        return out

    @torch.no_grad()
    def target(self, views: torch.Tensor) -> torch.Tensor:
        """The EMA encoder's embedding of each held-out view, (B, C, H, W) -> (B, D), standardised per feature over
        the batch with ``standardise_target`` so that the cosine compares what tells the views apart."""
        z = pooled(self.target_encoder, views)
        return standardise(z) if self.standardise_target else z

    def update_target(self, momentum: float) -> None:
        ema_update(self.target_encoder, self.encoder, momentum)

    @torch.no_grad()
    def pooled_embeddings(self, batch: dict) -> torch.Tensor:
        """The encoder's embedding of each sequence's first view, (B, D). The encoder, not the aggregate: the
        actions alone would keep the aggregate's rank up while the encoder collapsed."""
        return self.encode(batch["views"][:, 0])

    def eval_encoder(self) -> nn.Module:
        """The online encoder: the aggregator reads its embeddings, so the equivariance probe reads them too."""
        return self.encoder
