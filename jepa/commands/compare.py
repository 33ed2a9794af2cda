"""``jepa compare runs=[a,b]``: the loss and collapse-monitor curves of several runs in one PNG."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from jepa.common.errors import ConfigError
from jepa.train.plots import plot_runs


def compare(cfg: DictConfig) -> None:
    for run in cfg.runs:
        if not (Path(run) / "metrics.jsonl").is_file():
            raise ConfigError(f"runs: {run} has no metrics.jsonl (not a jepa train run directory)")
    print(f"wrote {plot_runs(cfg.runs, cfg.out)}")
