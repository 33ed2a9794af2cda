"""Label-free representation-quality metrics: effective ranks and a collapse monitor.

These need no labels, so they can be tracked during pre-training to detect
dimensional collapse long before a probe would reveal it.
"""

from __future__ import annotations

import torch


def _effective_rank(spectrum: torch.Tensor, eps: float) -> float:
    """``exp`` of the Shannon entropy of ``spectrum / sum(spectrum) + eps``.

    A spectrum that sums to zero has no direction carrying signal and scores 0.
    """
    spectrum = spectrum.clamp_min(0)
    total = spectrum.sum()
    if not total > 0:
        return 0.0
    p = spectrum / total + eps
    return torch.exp(-(p * p.log()).sum()).item()


def _singular_values(z: torch.Tensor) -> torch.Tensor:
    """Singular values from the eigenvalues of the smaller Gram matrix.

    Several times faster than an SVD for wide inputs such as raw pixels. In
    float64 the noise floor is ~1e-8 of the largest singular value, which
    changes RankMe by far less than its own ``eps`` smoothing does.
    """
    gram = z.T @ z if z.shape[1] <= z.shape[0] else z @ z.T
    return torch.linalg.eigvalsh(gram).clamp_min(0).sqrt()


def rankme(z: torch.Tensor, eps: float = 1e-7) -> float:
    """RankMe (Garrido et al., 2023): smooth effective rank of embeddings ``z`` (N, D).

    Uses the singular values of the uncentred matrix, as in the paper; the
    result lies in ``[1, min(N, D)]`` (0 for an all-zero ``z``) and drops as
    representations collapse onto fewer dimensions.
    """
    return _effective_rank(_singular_values(z.detach().double().reshape(len(z), -1)), eps)


def _inverse_sqrt_psd(matrix: torch.Tensor) -> torch.Tensor:
    """``matrix^-1/2`` of a symmetric positive-definite matrix, via its eigenbasis."""
    evals, evecs = torch.linalg.eigh(matrix)
    return evecs @ torch.diag(evals.rsqrt()) @ evecs.T


def lidar(z_views: torch.Tensor, delta: float = 1e-4, eps: float = 1e-7) -> float:
    """LiDAR (Thilak et al., 2023): effective rank of the linear-discriminant spectrum.

    ``z_views`` is ``(N, V, D)``: V augmented views of N samples, each sample
    acting as its own surrogate class. With between-class scatter ``Sb`` of
    the class means and within-class scatter ``Sw + delta*I``, LiDAR is the
    entropy effective rank of the eigenvalues of ``Sw^-1/2 Sb Sw^-1/2``. Unlike
    RankMe it only counts directions that separate samples relative to their
    augmentation noise, and it is invariant to invertible affine maps of the
    features (up to the ``delta`` regulariser). Computed in float64. Returns 0
    when between-class spread is below ``eps`` times the within-class spread.
    """
    if z_views.ndim != 3 or z_views.shape[0] < 2 or z_views.shape[1] < 2:
        raise ValueError(f"z_views must be (N>=2, V>=2, D), got shape {tuple(z_views.shape)}")
    z = z_views.detach().double()
    n, v, d = z.shape
    class_means = z.mean(1)
    between = class_means - class_means.mean(0)
    within = (z - class_means[:, None]).reshape(n * v, d)
    scatter_b = between.T @ between / (n - 1)
    scatter_w = within.T @ within / (n * (v - 1)) + delta * torch.eye(d, dtype=z.dtype)
    whiten = _inverse_sqrt_psd(scatter_w)
    spectrum = torch.linalg.eigvalsh(whiten @ scatter_b @ whiten)
    if spectrum.clamp_min(0).sum() < eps:
        return 0.0
    return _effective_rank(spectrum, eps)


def feature_std(z: torch.Tensor) -> float:
    """Per-dimension standard deviation of raw (unnormalised) ``z`` (N, D), averaged over dimensions.

    A collapse monitor: it tends to 0 when all samples map to the same point.
    Being scale-dependent, compare it across training steps of one model, not
    across models.
    """
    return z.detach().float().reshape(len(z), -1).std(0).mean().item()
