"""V-JEPA's attentive probe: one learned query cross-attends to an encoder's frozen tokens.

Averaging tokens before a linear probe throws away *where* things are; what a video encoder knows about
motion may sit in a few tokens, or in how tokens differ over time. One cross-attention block lets the probe
choose its tokens, so it measures what the tokens hold rather than what survives mean pooling.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from jepa.common.optim import param_groups
from jepa.models.attention import MLP, init_transformer_weights

from .probes import _encode_classes, _standardise, r2_score

TASKS = ("classification", "regression")


class QueryAttention(nn.Module):
    """Pre-norm multi-head attention from one query vector to N tokens: ``(D,), (B, N, D) -> (B, D)``.

    Equal to ``nn.MultiheadAttention(query, LayerNorm(x), LayerNorm(x))``, at O(N·D·heads) per sample instead
    of O(N·D²), and with no gradient flowing through the N tokens: with one query, the key projection and
    the norm's scale fold into it (q·W_k(γ·x̂ + β) = (γ·W_kᵀq)·x̂ + const, and softmax ignores constants) and
    the value projection and the norm's affine move after the weighted sum (Σ a·(γ·x̂ + β) = γ·Σ a·x̂ + β, as
    Σ a = 1). Probing hundreds of wide tokens per clip thus stays cheap on a CPU.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"token width {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.q, self.k, self.v, self.proj = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, query: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        B, N, D = x.shape
        H, d = self.num_heads, D // self.num_heads
        x = F.layer_norm(x, (D,), eps=self.norm.eps)  # the affine is folded in below
        q = self.q(query).view(H, d)
        key_query = torch.einsum("hd,hde->he", q, self.k.weight.view(H, d, D)) * self.norm.weight / math.sqrt(d)
        attn = (x @ key_query.T).transpose(1, 2).softmax(-1)  # (B, H, N)
        pooled = (attn @ x) * self.norm.weight + self.norm.bias  # (B, H, D): per head, a weighted mean token
        values = torch.einsum("bhe,hde->bhd", pooled, self.v.weight.view(H, d, D)) + self.v.bias.view(H, d)
        return self.proj(values.reshape(B, D))


class AttentiveProbe(nn.Module):
    """Learned query -> pre-norm cross-attention block (attention + MLP, residual on the query) -> linear head.

    tokens: (B, N, D) -> (B, out_dim).
    """

    def __init__(self, dim: int, out_dim: int, num_heads: int = 4, mlp_ratio: float = 4.0):
        super().__init__()
        self.query = nn.Parameter(torch.zeros(dim))
        self.attn = QueryAttention(dim, num_heads)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLP(dim, int(dim * mlp_ratio))
        self.head = nn.Linear(dim, out_dim)
        init_transformer_weights(self)
        nn.init.trunc_normal_(self.query, std=0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        z = self.query + self.attn(self.query, tokens)
        z = z + self.mlp(self.norm(z))
        return self.head(z)


@torch.no_grad()
def _predict(probe: nn.Module, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    probe.eval()
    return torch.cat([probe(chunk) for chunk in x.split(batch_size)])


def _fit_and_predict(
    train_x: torch.Tensor,
    train_t: torch.Tensor,
    val_x: torch.Tensor,
    loss_fn,
    out_dim: int,
    *,
    epochs: int,
    lr: float,
    weight_decay: float,
    batch_size: int,
    num_heads: int,
    seed: int,
    device: torch.device,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Train an :class:`AttentiveProbe` on tokens (N, T, D) for targets ``train_t`` (on ``device``) -> its
    predictions (train, val). Tokens are standardised per feature with the train statistics."""
    (n, t, d) = train_x.shape
    train_x, val_x = (
        x.view(len(x) // t, t, d) for x in _standardise(train_x.float().flatten(0, 1), val_x.float().flatten(0, 1))
    )
    train_x, val_x = train_x.to(device), val_x.to(device)
    with torch.random.fork_rng(devices=[]):  # seeded initialisation without touching the caller's RNG
        torch.manual_seed(seed)
        probe = AttentiveProbe(d, out_dim, num_heads).to(device)
    optimizer = torch.optim.AdamW(param_groups(probe, weight_decay), lr=lr, fused=device.type in ("cpu", "cuda"))
    generator = torch.Generator().manual_seed(seed)
    total_steps, step = epochs * math.ceil(n / batch_size), 0
    for _ in range(epochs):
        probe.train()
        for idx in torch.randperm(n, generator=generator).to(device).split(batch_size):
            for group in optimizer.param_groups:
                group["lr"] = 0.5 * lr * (1.0 + math.cos(math.pi * step / total_steps))
            loss = loss_fn(probe(train_x[idx]), train_t[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
    return _predict(probe, train_x, 4 * batch_size), _predict(probe, val_x, 4 * batch_size)


def _standardised_targets(train_y: torch.Tensor, *others: torch.Tensor):
    """Regression targets flattened to (N, K) and standardised with the train statistics -> (mean, std, *targets)."""
    train_t = train_y.float().reshape(len(train_y), -1)
    mean, std = train_t.mean(0), train_t.std(0, correction=0).clamp_min(1e-8)
    return mean, std, (train_t - mean) / std, *((y.float().reshape(len(y), -1) - mean) / std for y in others)


def attentive_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    *,
    task: str = "classification",
    epochs: int = 50,
    lr: float = 5e-3,
    weight_decay: float = 0.01,
    batch_size: int = 32,
    num_heads: int = 4,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """Train an :class:`AttentiveProbe` on frozen tokens ``(N, T, D)`` (``extract_features(..., pool='none')``).

    ``task="classification"``: integer labels ``(N,)``, cross-entropy; returns ``{"acc", "train_acc"}``.
    ``task="regression"``: targets ``(N,)`` or ``(N, K)``, standardised with the train statistics, MSE;
    returns ``{"r2", "train_r2"}`` (R² averaged over targets). Tokens are standardised per feature with the
    train statistics so one learning rate suits any encoder; training is AdamW (no decay on biases and
    norms) with cosine learning-rate decay, and a pure function of the inputs and ``seed``. The learning rate
    is higher than V-JEPA's 1e-3 because CPU-sized datasets give the probe only hundreds of steps, and the
    attention, a product of small initial weights, starts to focus slowly.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    device = torch.device(device)
    if task == "classification":
        train_t, val_t, out_dim = _encode_classes(train_y.long().cpu(), val_y.long().cpu())
        loss_fn = F.cross_entropy
    else:
        _, _, train_t, val_t = _standardised_targets(train_y, val_y)
        out_dim, loss_fn = train_t.shape[1], F.mse_loss
    train_t, val_t = train_t.to(device), val_t.to(device)
    train_pred, val_pred = _fit_and_predict(
        train_x, train_t, val_x, loss_fn, out_dim, epochs=epochs, lr=lr, weight_decay=weight_decay,
        batch_size=batch_size, num_heads=num_heads, seed=seed, device=device,
    )  # fmt: skip
    if task == "classification":
        return {
            "acc": (val_pred.argmax(1) == val_t).float().mean().item(),
            "train_acc": (train_pred.argmax(1) == train_t).float().mean().item(),
        }
    return {
        "r2": r2_score(val_pred.double(), val_t.double()),
        "train_r2": r2_score(train_pred.double(), train_t.double()),
    }


def attentive_regression(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    *,
    epochs: int = 50,
    lr: float = 5e-3,
    weight_decay: float = 0.01,
    batch_size: int = 32,
    num_heads: int = 4,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """An attentive probe's predictions (M, *train_y.shape[1:]) for ``val_x`` in the targets' own units, trained
    as :func:`attentive_probe`'s regression: for figures that are errors in physical units rather than R²."""
    device = torch.device(device)
    mean, std, train_t = _standardised_targets(train_y)
    _, val_pred = _fit_and_predict(
        train_x, train_t.to(device), val_x, F.mse_loss, train_t.shape[1], epochs=epochs, lr=lr,
        weight_decay=weight_decay, batch_size=batch_size, num_heads=num_heads, seed=seed, device=device,
    )  # fmt: skip
    return (val_pred.cpu() * std + mean).reshape(len(val_x), *train_y.shape[1:])
