"""``jepa train``: train the configured method with the engine, then evaluate it on held-out data."""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path

from omegaconf import DictConfig

from jepa.common.distributed import barrier, shutdown
from jepa.recipes import get_recipe, load_run, make_trainer
from jepa.recipes.views_preview import write_views
from jepa.train.run_dir import hold_run_dir


def train(cfg: DictConfig) -> None:
    """Train, then evaluate on the main process alone: the other ranks leave the process group first, so nothing
    in the evaluation (SIGReg's all-reduce, say) waits for them. The main process holds the run directory
    throughout, so no other run can write into it meanwhile."""
    with hold_run_dir(cfg.run_dir) if os.environ.get("RANK", "0") == "0" else nullcontext():
        _train(cfg)


def _train(cfg: DictConfig) -> None:
    trainer = make_trainer(cfg)
    if trainer.dist.is_main and trainer.step == 0:
        shown = write_views(cfg, trainer.dataset, trainer.collate, cfg.run_dir)
        if shown:
            print(f"wrote {shown}: the views this run trains on")
    trainer.fit()
    barrier()
    shutdown()
    if trainer.dist.is_main and cfg.eval.enabled:
        # a sharded method cannot run on one rank: evaluate the consolidated weights of the final checkpoint
        method = load_run(cfg.run_dir)[1] if trainer.sharded else trainer.method.eval()
        get_recipe(cfg.method.name).evaluate(cfg, method, trainer.facts)
    if trainer.dist.is_main:
        print(where_it_went(cfg))


def where_it_went(cfg: DictConfig) -> str:
    """The closing lines of a run: where its files and its data are."""
    run_dir = Path(cfg.run_dir).resolve()
    files = (
        f"run directory {run_dir}: config.yaml, metrics.jsonl, checkpoints/ (the latest in checkpoints/latest), "
        f"tb/ (tensorboard --logdir {run_dir / 'tb'}){', eval.json' if cfg.eval.enabled else ''}"
    )
    if cfg.data.name == "digits":  # scikit-learn's, in memory
        return files
    return f"{files}\ndata read from {Path(cfg.data.root).expanduser().resolve()}"
