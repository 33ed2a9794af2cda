"""Generic value checks shared by the command and method checks; each error names its key."""

from __future__ import annotations

import importlib
from collections.abc import Iterable

from omegaconf import DictConfig, OmegaConf

from jepa.common.errors import ConfigError


def check_choice(key: str, value: object, choices: Iterable) -> None:
    if value not in choices:
        raise ConfigError(f"{key}={value!r} is not valid; choose from {sorted(choices)}")


def check_positive(cfg: DictConfig, *keys: str) -> None:
    for key in keys:
        value = OmegaConf.select(cfg, key)
        if value is not None and value <= 0:
            raise ConfigError(f"{key}={value} must be positive")


def check_pairs(cfg: DictConfig, *keys: str) -> None:
    """Each key a [low, high] pair; keys the composed options do not have (mask.stripe_scale of a multiblock
    mask) are skipped."""
    for key in keys:
        value = OmegaConf.select(cfg, key)
        if value is not None and len(value) != 2:
            raise ConfigError(f"{key} must be a pair [low, high]")


def check_installed(module: str, extra: str, needed_by: str) -> None:
    """Stop before any work when an optional dependency is missing, naming the extra that installs it."""
    try:
        importlib.import_module(module)
    except ImportError as err:
        raise ConfigError(f"{needed_by} needs {module}, from the '{extra}' extra: pip install 'jepa[{extra}]'") from err


def check_threads(key: str, threads: int | None) -> None:
    if threads is not None and threads < 1:
        raise ConfigError(f"{key}={threads} must be >= 1 or null (torch's default)")


# ---- jepa train / bench --------------------------------------------------------------------------------------
