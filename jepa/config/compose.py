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
    """A run's saved (resolved) ``jepa train`` config as a typed config again: its method, data and mask sections
    typed by their options' schemas. Keys a section's schema no longer has (those of other options, which runs
    saved before each option had its own schema carry) are dropped; runs saved before methods had a section are
    masked-JEPA runs."""
    from omegaconf import OmegaConf

    from jepa.config.schema import DATA_OPTIONS, MASK_OPTIONS, Config

    saved = dict(saved)
    saved.setdefault("method", {"name": "masked_jepa"})
    cfg = OmegaConf.structured(Config)
    schemas = {
        "method": load_methods()[saved["method"]["name"]].schema,
        "data": DATA_OPTIONS[saved.get("data", {}).get("name", "shapes")],
        "mask": MASK_OPTIONS[saved.get("mask", {}).get("kind", "multiblock")],
    }
    for section, schema in schemas.items():
        cfg[section] = OmegaConf.structured(schema)
        if section in saved:
            saved[section] = {k: v for k, v in saved[section].items() if k in cfg[section]}
    return OmegaConf.merge(cfg, saved)
