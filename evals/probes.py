"""Probes on frozen features: linear classifier, weighted kNN, ridge regression and an MLP regressor.

All probes take ``(N, D)`` feature tensors; the classifiers and the MLP are plain torch, the ridge fit and the R²
are scikit-learn's. Hyper-parameters that matter for a fair comparison between encoders (weight decay, ridge
strength) are selected on a held-out slice of the *training* features, never on the validation set.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from sklearn import linear_model, metrics
from torch import nn

WEIGHT_DECAYS = (1e-3, 1e-1, 1.0)
RIDGE_SCALES = (1e-5, 1e-3, 1e-2, 1e-1, 1.0, 10.0)
HOLDOUT_FRACTION = 0.2


def _holdout_split(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded (fit, held-out) index split of ``range(n)`` for hyper-parameter selection."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_held = max(1, int(round(HOLDOUT_FRACTION * n)))
    return perm[n_held:], perm[:n_held]


def _encode_classes(train_y: torch.Tensor, val_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Map arbitrary integer labels to ``0..C-1`` consistently across both splits."""
    classes = torch.unique(torch.cat([train_y, val_y]))
    return torch.searchsorted(classes, train_y), torch.searchsorted(classes, val_y), len(classes)


def _standardise(train_x: torch.Tensor, *others: torch.Tensor) -> list[torch.Tensor]:
    """Z-score every tensor with the train statistics, so one learning rate suits any encoder."""
    mean = train_x.mean(0)
    std = train_x.std(0, correction=0).clamp_min(1e-6)
    return [(t - mean) / std for t in (train_x, *others)]


def _fit_linear(
    x: torch.Tensor,
    y: torch.Tensor,
    num_classes: int,
    weight_decays: Sequence[float],
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> nn.Linear:
    """Softmax regression with AdamW and cosine learning-rate decay, one head per weight decay.

    All heads live in a single ``nn.Linear`` with ``K * C`` outputs: they see
    the same minibatches and have independent gradients, so a weight-decay
    sweep costs one training run. Decay is decoupled (as in AdamW) and applied
    to weights only. Zero initialisation (the problem is convex) plus a seeded
    shuffling generator make the result a pure function of inputs and ``seed``.
    """
    heads = len(weight_decays)
    model = nn.Linear(x.shape[1], heads * num_classes).to(x.device)
    nn.init.zeros_(model.weight)
    nn.init.zeros_(model.bias)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    decay = torch.tensor(weight_decays, device=x.device).repeat_interleave(num_classes)[:, None]
    generator = torch.Generator().manual_seed(seed)
    total_steps = epochs * math.ceil(len(x) / batch_size)
    step = 0
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=generator).to(x.device)
        for start in range(0, len(x), batch_size):
            idx = perm[start : start + batch_size]
            step_lr = 0.5 * lr * (1.0 + math.cos(math.pi * step / total_steps))
            optimizer.param_groups[0]["lr"] = step_lr
            logits = model(x[idx]).view(len(idx) * heads, num_classes)
            loss = F.cross_entropy(logits, y[idx].repeat_interleave(heads)) * heads
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            with torch.no_grad():
                model.weight.mul_(1.0 - step_lr * decay)
            optimizer.step()
            step += 1
    return model


def _head_accuracies(model: nn.Linear, x: torch.Tensor, y: torch.Tensor, num_classes: int) -> list[float]:
    """Accuracy of each of the ``K`` stacked heads of ``model``."""
    with torch.no_grad():
        preds = model(x).view(len(x), -1, num_classes).argmax(2)
    return (preds == y[:, None]).float().mean(0).tolist()


def linear_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    *,
    epochs: int = 100,
    lr: float = 1e-2,
    weight_decay: float | Sequence[float] = WEIGHT_DECAYS,
    batch_size: int = 256,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> dict[str, float]:
    """Linear classification accuracy of frozen features.

    Features are standardised with train mean/std (instead of a BatchNorm
    layer, keeping the probe a single ``nn.Linear``) and the probe is trained
    with AdamW + cross-entropy, deterministically given ``seed``. When
    ``weight_decay`` is a sequence, every value is trained on 80% of train and
    scored on the other 20%, and the best is refit on all of train: a small
    sweep keeps encoders with different feature geometry comparable. The
    default grid reaches 1.0 because Adam's normalised steps make decoupled
    decay a weak regulariser over a short run; smaller values all behave
    alike. Returns ``{"acc", "train_acc", "weight_decay"}`` with accuracies in [0, 1].
    """
    device = torch.device(device)
    train_y, val_y, num_classes = _encode_classes(train_y.long().cpu(), val_y.long().cpu())
    train_x, val_x = _standardise(train_x.float().to(device), val_x.float().to(device))
    train_y, val_y = train_y.to(device), val_y.to(device)
    fit = functools.partial(
        _fit_linear, num_classes=num_classes, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed
    )
    candidates = [float(weight_decay)] if isinstance(weight_decay, (int, float)) else list(weight_decay)
    best_wd = candidates[0]
    if len(candidates) > 1:
        fit_idx, held_idx = (i.to(device) for i in _holdout_split(len(train_x), seed))
        sweep = fit(train_x[fit_idx], train_y[fit_idx], weight_decays=candidates)
        scores = _head_accuracies(sweep, train_x[held_idx], train_y[held_idx], num_classes)
        best_wd = candidates[max(range(len(candidates)), key=scores.__getitem__)]
    model = fit(train_x, train_y, weight_decays=[best_wd])
    return {
        "acc": _head_accuracies(model, val_x, val_y, num_classes)[0],
        "train_acc": _head_accuracies(model, train_x, train_y, num_classes)[0],
        "weight_decay": best_wd,
    }


@torch.no_grad()
def knn_predict(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    query_x: torch.Tensor,
    num_classes: int,
    *,
    k: int = 20,
    temperature: float = 0.07,
    chunk_size: int = 1024,
) -> torch.Tensor:
    """Class votes ``(M, C)`` of a cosine kNN with ``exp(sim / T)`` vote weights.

    Queries are processed in chunks so the similarity matrix never holds more
    than ``chunk_size x N`` entries.
    """
    train_x = F.normalize(train_x.float(), dim=1)
    query_x = F.normalize(query_x.float(), dim=1)
    k = min(k, len(train_x))
    votes = []
    for chunk in query_x.split(chunk_size):
        sims, idx = (chunk @ train_x.T).topk(k, dim=1)
        weights = (sims / temperature).exp()
        scores = torch.zeros(len(chunk), num_classes, dtype=weights.dtype, device=weights.device)
        votes.append(scores.scatter_add_(1, train_y[idx], weights))
    return torch.cat(votes)


def knn_probe(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    *,
    k: int = 20,
    temperature: float = 0.07,
) -> dict[str, float]:
    """Weighted kNN accuracy (DINO-style): cosine neighbours vote with ``exp(sim / T)``.

    Needs no training and no hyper-parameter search, so it is a cheap,
    optimisation-free complement to the linear probe.
    """
    train_y, val_y, num_classes = _encode_classes(train_y.long().cpu(), val_y.long().cpu())
    votes = knn_predict(train_x.cpu(), train_y, val_x.cpu(), num_classes, k=k, temperature=temperature)
    return {"acc": (votes.argmax(1) == val_y).float().mean().item()}


def _ridge_solver(x: torch.Tensor, t: torch.Tensor) -> Callable[[float], torch.Tensor]:
    """Return ``ridge -> W`` for centred ``x`` (N, D) and ``t`` (N, K), sharing one Gram matrix.

    Uses the primal (D x D) or dual (N x N) Gram matrix, whichever is smaller,
    and a linear solve per ridge value (much cheaper than an eigendecomposition
    for wide raw-pixel features).
    """
    if x.shape[1] <= x.shape[0]:
        gram, rhs = x.T @ x, x.T @ t
        eye = torch.eye(len(gram), dtype=gram.dtype)
        return lambda ridge: torch.linalg.solve(gram + ridge * eye, rhs)
    gram = x @ x.T
    eye = torch.eye(len(gram), dtype=gram.dtype)
    return lambda ridge: x.T @ torch.linalg.solve(gram + ridge * eye, t)


def r2_columns(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Coefficient of determination of each target column, (N, K) -> (K,) (constant targets score 1 if fit
    exactly, else 0): scikit-learn's, in float64."""
    target, pred = target.reshape(len(target), -1), pred.reshape(len(pred), -1)
    r2 = metrics.r2_score(target.double().cpu().numpy(), pred.double().cpu().numpy(), multioutput="raw_values")
    return torch.from_numpy(r2)


def r2_score(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Coefficient of determination averaged over target columns (constant targets score 1 if fit exactly, else 0)."""
    return r2_columns(pred, target).mean().item()


def _select_ridge(x: torch.Tensor, t: torch.Tensor, seed: int) -> float:
    """Pick the ridge with the best held-out R² from a grid scaled to the feature variance. One Gram matrix serves
    the whole grid, where scikit-learn's Ridge would form it once per strength (its RidgeCV selects by
    leave-one-out error instead, not on a held-out slice as every other probe here does)."""
    fit_idx, held_idx = _holdout_split(len(x), seed)
    x_fit, t_fit = x[fit_idx], t[fit_idx]
    x_mean, t_mean = x_fit.mean(0), t_fit.mean(0)
    centred = x_fit - x_mean
    solve = _ridge_solver(centred, t_fit - t_mean)
    scale = (centred**2).sum().item() / x.shape[1]
    ridges = [s * (scale if scale > 0 else 1.0) for s in RIDGE_SCALES]

    def held_r2(ridge: float) -> float:
        weights = solve(ridge)
        return r2_score((x[held_idx] - x_mean) @ weights + t_mean, t[held_idx])

    return max(ridges, key=held_r2)


def linear_regression_probe(
    train_x: torch.Tensor,
    train_t: torch.Tensor,
    val_x: torch.Tensor,
    val_t: torch.Tensor,
    *,
    ridge: float | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """Closed-form ridge regression R² on val (mean over targets), for continuous labels.

    Targets may be ``(N,)`` or ``(N, K)``; the fit is scikit-learn's ``Ridge(alpha=ridge)`` (the intercept not
    penalised). With ``ridge=None`` the strength is chosen on a held-out 20% slice of train from a grid scaled by
    the mean per-feature sum of squares. Computed in float64 because the Gram matrix squares the condition number.
    """
    x = train_x.detach().double().cpu()
    t = train_t.detach().double().cpu().reshape(len(x), -1)
    vx = val_x.detach().double().cpu()
    vt = val_t.detach().double().cpu().reshape(len(vx), -1)
    if ridge is None:
        ridge = _select_ridge(x, t, seed)
    fitted = linear_model.Ridge(alpha=ridge).fit(x.numpy(), t.numpy())
    return {"r2": r2_score(torch.from_numpy(fitted.predict(vx.numpy())), vt), "ridge": float(ridge)}


@torch.no_grad()
def neighbour_state_error(
    train_x: torch.Tensor, train_t: torch.Tensor, val_x: torch.Tensor, val_t: torch.Tensor, *, chunk_size: int = 1024
) -> dict[str, float]:
    """How far (L2, in state units) each val sample's true state lies from that of the train sample whose features
    are nearest in mean absolute difference, the distance a planner scores latents with: median and mean.

    A linear probe can read a state from features whose distances mean nothing; a planner needs near features to
    be near states. ``train_t``, ``val_t``: (N, K) states."""
    train_x, query = train_x.float().cpu(), val_x.float().cpu()
    nearest = torch.cat([torch.cdist(chunk, train_x, p=1).argmin(1) for chunk in query.split(chunk_size)])
    errors = (train_t.double().cpu()[nearest] - val_t.double().cpu()).reshape(len(query), -1).norm(dim=1)
    return {"nn_state_error": errors.median().item(), "nn_state_error_mean": errors.mean().item()}


def _mlp(in_dim: int, hidden: int, out_dim: int, seed: int) -> nn.Sequential:
    """One hidden ReLU layer, (N, in_dim) -> (N, out_dim), initialised from ``seed`` without touching the
    caller's random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))


def _fit_mlp(
    model: nn.Sequential,
    fit: tuple[torch.Tensor, torch.Tensor],
    held: tuple[torch.Tensor, torch.Tensor],
    *,
    epochs: int,
    patience: int,
    lr: float,
    weight_decay: float,
    batch_size: int,
    seed: int,
) -> int:
    """Train ``model`` on the ``fit`` (features, targets) with AdamW and an MSE loss, for up to ``epochs`` epochs,
    stopping once ``patience`` epochs have not lowered the MSE on ``held``; the model is left with the weights of
    its best held-out epoch, whose number (1-based) is returned. Shuffled by a generator of ``seed``."""
    (x, t), (held_x, held_t) = fit, held
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    best, best_epoch, best_state = math.inf, 0, None
    for epoch in range(1, epochs + 1):
        for idx in torch.randperm(len(x), generator=generator).to(x.device).split(batch_size):
            loss = F.mse_loss(model(x[idx]), t[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            held_loss = F.mse_loss(model(held_x), held_t).item()
        if held_loss < best:
            best, best_epoch = held_loss, epoch
            best_state = {key: value.clone() for key, value in model.state_dict().items()}
        elif epoch - best_epoch >= patience:
            break
    model.load_state_dict(best_state)
    return best_epoch


def mlp_regression_probe(
    train_x: torch.Tensor,
    train_t: torch.Tensor,
    val_x: torch.Tensor,
    val_t: torch.Tensor,
    *,
    hidden: int = 256,
    epochs: int = 100,
    patience: int = 10,
    lr: float = 1e-3,
    weight_decay: float = 1e-2,
    batch_size: int = 128,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> dict:
    """R² on val of an MLP with one hidden layer of ``hidden`` ReLU units, for what a ridge cannot read: a
    quantity that lies in the features non-linearly (an angle between two views from their two encodings).

    Features and targets ((N,) or (N, K)) are standardised with the train statistics, so one learning rate suits
    any encoder and every target column weighs alike in the MSE. The probe trains on 80 % of train and stops early
    on the MSE of the other 20 % (the seeded split of the other probes), keeping its best epoch's weights; the
    result is a pure function of the inputs and ``seed``. Returns ``{"r2"`` (mean over target columns),
    ``"r2_per_column"`` (K floats), ``"epochs"`` (the epoch kept)``}``.
    """
    device = torch.device(device)
    train_x, val_x = _standardise(train_x.float().to(device), val_x.float().to(device))
    train_t, val_t = _standardise(
        train_t.float().reshape(len(train_x), -1).to(device), val_t.float().reshape(len(val_x), -1).to(device)
    )
    fit_idx, held_idx = (i.to(device) for i in _holdout_split(len(train_x), seed))
    model = _mlp(train_x.shape[1], hidden, train_t.shape[1], seed).to(device)
    best_epoch = _fit_mlp(
        model, (train_x[fit_idx], train_t[fit_idx]), (train_x[held_idx], train_t[held_idx]), epochs=epochs,
        patience=patience, lr=lr, weight_decay=weight_decay, batch_size=batch_size, seed=seed,
    )  # fmt: skip
    with torch.no_grad():
        per_column = r2_columns(model(val_x).double().cpu(), val_t.double().cpu())
    return {"r2": per_column.mean().item(), "r2_per_column": per_column.tolist(), "epochs": best_epoch}
