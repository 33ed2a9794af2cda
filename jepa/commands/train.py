"""``jepa train``: train the configured method with the engine, then evaluate it on held-out data."""

from __future__ import annotations

from omegaconf import DictConfig

from jepa.recipes import get_recipe, make_trainer


def train(cfg: DictConfig) -> None:
    trainer = make_trainer(cfg)
    trainer.fit()
    if trainer.dist.is_main and cfg.eval.enabled:
        get_recipe(cfg.method.name).evaluate(cfg, trainer.method.eval(), trainer.facts)
