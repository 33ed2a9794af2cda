"""``jepa train``: train the configured method with the engine, then evaluate it on held-out data."""

from __future__ import annotations

from omegaconf import DictConfig

from jepa.common.distributed import barrier, shutdown
from jepa.recipes import get_recipe, make_trainer


def train(cfg: DictConfig) -> None:
    """Train, then evaluate on the main process alone: the other ranks leave the process group first, so nothing
    in the evaluation (SIGReg's all-reduce, say) waits for them."""
    trainer = make_trainer(cfg)
    trainer.fit()
    barrier()
    shutdown()
    if trainer.dist.is_main and cfg.eval.enabled:
        get_recipe(cfg.method.name).evaluate(cfg, trainer.method.eval(), trainer.facts)
