"""Run the standard probes over several frozen encoders and report the results."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from .attentive import attentive_probe
from .features import RawPatches, extract_features
from .intervals import mean_interval
from .probes import knn_probe, linear_probe, linear_regression_probe
from .rank import rankme

PROBES = ("linear", "knn")


def _to_json(value: Any) -> Any:
    """Make numpy/torch scalars and arrays JSON-serialisable."""
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_eval(results: dict, path: str | Path) -> None:
    """Write ``results`` as pretty JSON atomically, so readers never see a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, default=_to_json) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the results from everyone else on a shared machine
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _format_cell(column: str, value: Any) -> str:
    """Accuracies as percentages with 1 decimal, other floats with 3 decimals, missing as '-'."""
    if value is None:
        return "-"
    if isinstance(value, (float, np.floating)):
        return f"{100 * value:.1f}" if column.endswith("acc") else f"{value:.3f}"
    return str(value)


def _with_interval(row: dict, column: str) -> str:
    """A cell, followed by ``±half-width`` when the row holds the column's 95 % interval (``<column>_ci``)."""
    cell = _format_cell(column, row.get(column))
    half = row.get(f"{column}_ci")
    if half is None:
        return cell
    return f"{cell} ±{_format_cell(column, half)}"


def format_table(rows: list[dict], columns: list[str]) -> str:
    """Fixed-width text table: first column left-aligned, the rest right-aligned; a column with a ``<column>_ci``
    entry (from :func:`summarise_seeds`) shows it as ``mean ±half-width``."""
    cells = [[_with_interval(row, c) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(columns), rule, *(line(r) for r in cells)])


def _extra_labels(dataset: Dataset, name: str) -> np.ndarray:
    labels = getattr(dataset, "labels", None)
    if not isinstance(labels, dict) or name not in labels:
        raise KeyError(f"dataset {type(dataset).__name__} has no labels[{name!r}]")
    return np.asarray(labels[name])


def _probe_extra_label(
    name: str,
    train_feats: torch.Tensor,
    val_feats: torch.Tensor,
    train_set: Dataset,
    val_set: Dataset,
    device: str | torch.device,
    batch_size: int,
    seed: int,
) -> dict[str, float]:
    """Integer labels get a linear-probe accuracy column, float labels a ridge R² column."""
    train_t, val_t = _extra_labels(train_set, name), _extra_labels(val_set, name)
    if np.issubdtype(train_t.dtype, np.integer) or train_t.dtype == np.bool_:
        result = linear_probe(
            train_feats,
            torch.as_tensor(train_t).long(),
            val_feats,
            torch.as_tensor(val_t).long(),
            batch_size=batch_size,
            seed=seed,
            device=device,
        )
        return {f"{name}_acc": result["acc"]}
    result = linear_regression_probe(
        train_feats,
        torch.as_tensor(train_t, dtype=torch.float64),
        val_feats,
        torch.as_tensor(val_t, dtype=torch.float64),
        seed=seed,
    )
    return {f"{name}_r2": result["r2"]}


def _attentive_columns(
    train_tokens: torch.Tensor,
    val_tokens: torch.Tensor,
    train_t: np.ndarray | torch.Tensor,
    val_t: np.ndarray | torch.Tensor,
    column: str,
    device: str | torch.device,
    seed: int,
) -> dict[str, float]:
    """``{column}_acc`` for integer labels, ``{column}_r2`` for float ones, from the attentive probe."""
    train_t, val_t = torch.as_tensor(np.asarray(train_t)), torch.as_tensor(np.asarray(val_t))
    if train_t.dtype.is_floating_point:
        result = attentive_probe(train_tokens, train_t, val_tokens, val_t, task="regression", seed=seed, device=device)
        return {f"{column}_r2": result["r2"]}
    result = attentive_probe(train_tokens, train_t, val_tokens, val_t, seed=seed, device=device)
    return {f"{column}_acc": result["acc"]}


def _linear_features(tokens: torch.Tensor, raw: bool) -> torch.Tensor:
    """What the linear and kNN probes see: every pixel of a raw input, else the mean token."""
    if raw:
        return tokens.flatten(1)
    return tokens.mean(1) if tokens.ndim == 3 else tokens


EncoderOrFactory = nn.Module | None | Callable[[int], nn.Module]


def evaluate_encoders(
    encoders: dict[str, nn.Module | None],
    train_set: Dataset,
    val_set: Dataset,
    *,
    label_names: Sequence[str] | None = None,
    attentive_labels: Sequence[str] = (),
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    probes: Sequence[str] = PROBES,
    seed: int = 0,
) -> list[dict]:
    """Probe each frozen encoder on the same splits; one result row per encoder.

    Rows hold ``encoder`` (the name), ``linear_acc`` / ``knn_acc`` for the
    dataset's own label (second tuple element), and ``rankme`` of the train
    features (None for raw inputs). Raw inputs are a ``None`` encoder (the
    flattened input) or :class:`RawPatches`; their linear features are all the
    pixels, not a token mean. Each name in ``label_names`` refers to
    ``dataset.labels[name]`` (index-aligned arrays): integer arrays add a
    ``{name}_acc`` linear-probe column, float arrays a ``{name}_r2`` ridge
    column. Each name in ``attentive_labels`` (the main label or a
    ``dataset.labels`` key) adds an attentive probe on the unpooled tokens:
    ``attentive_acc`` for the main label, else ``{name}_attentive_acc`` or
    ``{name}_attentive_r2``.
    """
    return evaluate_over_seeds(
        encoders,
        train_set,
        val_set,
        seeds=[seed],
        label_names=label_names,
        attentive_labels=attentive_labels,
        device=device,
        batch_size=batch_size,
        probes=probes,
    )[0]


def evaluate_over_seeds(
    encoders: dict[str, EncoderOrFactory],
    train_set: Dataset,
    val_set: Dataset,
    *,
    seeds: Sequence[int],
    label_names: Sequence[str] | None = None,
    attentive_labels: Sequence[str] = (),
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    probes: Sequence[str] = PROBES,
) -> list[list[dict]]:
    """:func:`evaluate_encoders` once per seed -> one list of rows per seed.

    An encoder given as a factory ``seed -> nn.Module`` (a random-init encoder) is drawn anew for every seed; the
    features of a fixed encoder are extracted once. Every seed retrains the main label's linear and kNN probes.
    The attentive probes (each costs as much as all the linear ones) and the other labels' probes run with the
    first seed only: the seeds are for the comparison of the encoders on the main label.
    """
    unknown = set(probes) - set(PROBES)
    if unknown:
        raise ValueError(f"unknown probes {sorted(unknown)}; choose from {PROBES}")
    main = getattr(train_set, "main_label", None)
    rows_per_seed: list[list[dict]] = [[] for _ in seeds]
    for name, encoder in encoders.items():
        fixed = encoder is None or isinstance(encoder, nn.Module)
        features = _features(encoder, train_set, val_set, attentive_labels, device, batch_size) if fixed else None
        for i, seed in enumerate(seeds):
            train_tokens, train_y, val_tokens, val_y, raw = features or _features(
                encoder(seed), train_set, val_set, attentive_labels, device, batch_size
            )
            train_x, val_x = (_linear_features(t, raw) for t in (train_tokens, val_tokens))
            row: dict[str, Any] = {"encoder": name}
            if "linear" in probes:
                row["linear_acc"] = linear_probe(
                    train_x, train_y, val_x, val_y, batch_size=batch_size, seed=seed, device=device
                )["acc"]
            if "knn" in probes:
                row["knn_acc"] = knn_probe(train_x, train_y, val_x, val_y)["acc"]
            if main in attentive_labels and i == 0:
                row.update(_attentive_columns(train_tokens, val_tokens, train_y, val_y, "attentive", device, seed))
            # RankMe of raw pixels says nothing about a representation and costs seconds on wide inputs
            row["rankme"] = rankme(train_x) if not raw else None
            if i == 0:
                for label in label_names or ():
                    row.update(_probe_extra_label(label, train_x, val_x, train_set, val_set, device, batch_size, seed))
                for label in attentive_labels:
                    if label != main:
                        train_t, val_t = _extra_labels(train_set, label), _extra_labels(val_set, label)
                        column = f"{label}_attentive"
                        row.update(_attentive_columns(train_tokens, val_tokens, train_t, val_t, column, device, seed))
            rows_per_seed[i].append(row)
    return rows_per_seed


def _features(
    encoder: nn.Module | None,
    train_set: Dataset,
    val_set: Dataset,
    attentive_labels: Sequence[str],
    device: str | torch.device,
    batch_size: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, bool]:
    """(train tokens, train labels, val tokens, val labels, whether raw) of one frozen encoder (None: raw input)."""
    raw = encoder is None or isinstance(encoder, RawPatches)
    encoder = RawPatches() if encoder is None else encoder
    pool = "none" if raw or attentive_labels else "mean"
    kwargs = {"batch_size": batch_size, "device": device if not raw else "cpu", "pool": pool}
    train_tokens, train_y = extract_features(encoder, train_set, **kwargs)
    val_tokens, val_y = extract_features(encoder, val_set, **kwargs)
    return train_tokens, train_y, val_tokens, val_y, raw


def summarise_seeds(rows_per_seed: list[list[dict]]) -> list[dict]:
    """One row per encoder from the rows of several probe seeds: each figure's mean over the seeds that have it
    and, as ``<column>_ci``, the half-width of its 95 % Student-t interval (None from one seed)."""
    summary = []
    for rows in zip(*rows_per_seed, strict=True):
        row: dict[str, Any] = {"encoder": rows[0]["encoder"], "seeds": len(rows)}
        for column in rows[0]:
            values = [r[column] for r in rows if r.get(column) is not None]
            if column == "encoder" or not values:
                row.setdefault(column, None)
                continue
            mean, interval = mean_interval([float(v) for v in values])
            row[column], row[f"{column}_ci"] = mean, None if interval is None else (interval[1] - interval[0]) / 2
        summary.append(row)
    return summary


def summarise_runs(rows_per_run: list[list[dict]]) -> list[dict]:
    """One row per encoder over several trainings: each training's figures (already means over its probe seeds)
    become one sample, and each figure gets its mean and 95 % Student-t interval over the trainings, as
    :func:`summarise_seeds` does over probe seeds. The trainings must report the same encoders in the same order."""
    encoders = [[row["encoder"] for row in rows] for rows in rows_per_run]
    if any(names != encoders[0] for names in encoders):
        raise ValueError(f"the runs report different encoders: {encoders}")
    stripped = [
        [{k: v for k, v in row.items() if k != "seeds" and not k.endswith("_ci")} for row in rows]
        for rows in rows_per_run
    ]
    return summarise_seeds(stripped)
