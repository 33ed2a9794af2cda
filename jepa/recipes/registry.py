"""The registry of trainable methods: how each is built from a config, rebuilt from a checkpoint, and evaluated.

Adding a method is a ``jepa/methods`` module (the objective) and a recipe module in ``jepa/recipes`` that declares
the method's config section and checks and calls :func:`register`, plus a preset in ``configs/experiment``
(docs/adding_a_method.md); the engine, the checkpoints, resumption, DDP, logging and the command line come for
free.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from torch import nn

from jepa.common.errors import CheckpointError
from jepa.config import saved_config
from jepa.config.methods import load_methods, register_method
from jepa.recipes.parts import initialise_from
from jepa.train import checkpoint as ckpt
from jepa.train.engine import Trainer, TrainingSetup

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recipe:
    """``config``: the dataclass of the ``method`` section, whose ``name`` default names the method; ``reads``: the
    optional sections (model, mask, regularizer, views) it reads, any other's keys being refused;
    ``check(cfg)``: the checks of values the types cannot express, each error naming its key;
    ``build(cfg, run_dir)``: the method with its training set and collate function (:class:`TrainingSetup`);
    ``rebuild(cfg, facts)``: the same architecture, randomly initialised, to load a checkpoint into;
    ``evaluate(cfg, method, facts)``: held-out figures of a trained method, written to the run directory and
    printed."""

    config: type
    reads: tuple[str, ...]
    check: Callable[[DictConfig], None]
    build: Callable[[DictConfig, Path], TrainingSetup]
    rebuild: Callable[[DictConfig, dict[str, Any]], nn.Module]
    evaluate: Callable[[DictConfig, nn.Module, dict[str, Any]], dict]


RECIPES: dict[str, Recipe] = {}


def register(recipe: Recipe) -> None:
    """Make the method trainable: ``method=<name>`` composes its section, checked by its ``check``."""
    register_method(recipe.config, recipe.reads, recipe.check)
    RECIPES[recipe.config.name] = recipe


def get_recipe(name: str) -> Recipe:
    load_methods()
    if name not in RECIPES:
        raise KeyError(f"no method named {name!r}; registered: {sorted(RECIPES)}")
    return RECIPES[name]


def make_trainer(cfg: DictConfig) -> Trainer:
    """The engine, set up to train the method ``cfg.method.name``."""
    recipe = get_recipe(cfg.method.name)

    def build() -> TrainingSetup:
        setup = recipe.build(cfg, Path(cfg.run_dir))
        init_from = OmegaConf.select(cfg, "model.init_from")
        if init_from:  # a resumed run then loads its own checkpoint over these
            log.info("model.init_from=%s: %s", init_from, ", ".join(initialise_from(setup.method, init_from)))
        return setup

    return Trainer(cfg, build)


def load_run(run_dir: str | Path) -> tuple[DictConfig, nn.Module, dict[str, Any]]:
    """(config, method, facts) of a ``jepa train`` run: its latest checkpoint's weights in the architecture its own
    saved config and facts describe, in eval mode. Only safetensors and JSON are read."""
    path = ckpt.latest_checkpoint(Path(run_dir).expanduser() / "checkpoints")
    if path is None:
        raise CheckpointError(f"no checkpoint in {run_dir}/checkpoints; train it first (jepa train ...)")
    _, weights, state = ckpt.load_checkpoint(path)
    cfg = saved_config(state["config"])
    cfg.run_dir = str(run_dir)
    facts = state.get("facts") or {}
    method = get_recipe(cfg.method.name).rebuild(cfg, facts)
    method.load_state_dict(weights, strict=True)
    log.info("loaded %s", path)
    return cfg, method.eval(), facts
