"""Compose a command's config in Python, as the command line does: the same files, schemas and checks."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig

from jepa.config.methods import load_methods
from jepa.config.store import register_configs
from jepa.config.validate import validate


def compose_config(
    overrides: Sequence[str] = (), command: str = "train", config_dir: str | Path | None = None
) -> DictConfig:
    """``configs/<command>.yaml`` (installed as ``jepa.configs``) composed with Hydra ``overrides`` (and a user's
    ``config_dir`` on the search path, e.g. for ``experiment=mine``), unchecked. Raises Hydra's errors for unknown keys
    or types."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    register_configs()
    if command == "train":
        load_methods()
    GlobalHydra.instance().clear()
    extra = [f"hydra.searchpath=[file://{Path(config_dir).resolve()}]"] if config_dir else []
    with initialize_config_module(config_module="jepa.configs", version_base=None):
        return compose(config_name=command, overrides=[*extra, *overrides])


def load_config(
    overrides: Sequence[str] = (), command: str = "train", config_dir: str | Path | None = None
) -> DictConfig:
    """:func:`compose_config`, then checked: also raises :class:`jepa.common.errors.ConfigError` for bad values,
    each naming the key."""
    cfg = compose_config(overrides, command, config_dir)
    validate(command, cfg)
    return cfg


def saved_config(saved: dict) -> DictConfig:
    """A run's saved (resolved) ``jepa train`` config as a typed config again, its method section typed by the
    method's schema; runs saved before methods had a section are masked-JEPA runs."""
    from omegaconf import OmegaConf

    from jepa.config.schema import Config

    method = (saved.get("method") or {}).get("name", "masked_jepa")
    cfg = OmegaConf.structured(Config)
    cfg.method = OmegaConf.structured(load_methods()[method].schema)
    return OmegaConf.merge(cfg, saved)
