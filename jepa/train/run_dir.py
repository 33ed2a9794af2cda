"""A run directory belongs to one configuration: a re-run with other values is refused before any work.

``train.resume=auto`` (the default) continues a run only when the config it saved matches this one, apart from
the settings that do not change what a run computes (:data:`RUNTIME_KEYS`). ``train.resume=never`` starts the
run afresh and ``train.resume=force`` continues it with the new values; both are the user's explicit choice, and
``force`` keeps the previous config beside the new one.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from jepa.common.distributed import barrier
from jepa.common.errors import ConfigError
from jepa.config.compose import saved_config

log = logging.getLogger(__name__)

CONFIG_FILE, PREVIOUS_CONFIG_FILE = "config.yaml", "config.previous.yaml"
# how a run is executed or reported, not what it computes
RUNTIME_KEYS = ("name", "run_dir", "train.resume", "train.progress", "train.threads", "train.device", "train.compile")
RUNTIME_KEYS += ("train.log_every", "train.monitor_every", "train.checkpoint_every", "train.keep_checkpoints")
RUNTIME_KEYS += ("data.num_workers", "eval", "bench")


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out |= _flatten(value, f"{prefix}{key}.")
        return out
    return {prefix[:-1]: tree}


def _is_runtime(key: str) -> bool:
    return any(key == k or key.startswith(k + ".") for k in RUNTIME_KEYS)


def config_differences(saved: dict, current: dict) -> dict[str, tuple[Any, Any]]:
    """``{key: (saved value, current value)}`` for every key, outside :data:`RUNTIME_KEYS`, whose value differs."""
    old, new = _flatten(saved), _flatten(current)
    missing = "<unset>"
    return {
        key: (old.get(key, missing), new.get(key, missing))
        for key in sorted(old.keys() | new.keys())
        if not _is_runtime(key) and old.get(key, missing) != new.get(key, missing)
    }


def _saved(path: Path) -> dict:
    """A saved config as today's schema reads it: keys added since it was written take their defaults."""
    return OmegaConf.to_container(saved_config(OmegaConf.to_container(OmegaConf.load(path))), resolve=True)


def clear_run_dir(cfg: DictConfig, is_main: bool = True) -> None:
    """``train.resume=never``: empty the run directory (checkpoints, logs, statistics, results) so the fresh run
    neither resumes from nor mixes with what was there."""
    run_dir = Path(cfg.run_dir)
    if is_main and run_dir.is_dir() and any(run_dir.iterdir()):
        log.warning("train.resume=never: discarding %s", run_dir)
        shutil.rmtree(run_dir)
    barrier()


def check_run_dir(cfg: DictConfig) -> None:
    """Refuse ``cfg`` when its run directory holds a run with another config, unless ``train.resume`` says
    ``never`` or ``force``; the ConfigError names every key that differs."""
    saved_path = Path(cfg.run_dir) / CONFIG_FILE
    if cfg.train.resume in ("never", "force") or not saved_path.exists():
        return
    differences = config_differences(_saved(saved_path), OmegaConf.to_container(cfg, resolve=True))
    if differences:
        listed = "; ".join(f"{key}: {old!r} there, {new!r} now" for key, (old, new) in differences.items())
        raise ConfigError(
            f"{cfg.run_dir} holds a run with another config ({listed}). Use name=<another name> for a new run, "
            "train.resume=never to start this one afresh (its checkpoints are discarded), or train.resume=force "
            "to continue it with the new values"
        )


def save_run_config(cfg: DictConfig, is_main: bool = True) -> None:
    """Write ``config.yaml`` (main rank); with ``train.resume=force`` a different saved config is kept as
    ``config.previous.yaml`` first."""
    run_dir = Path(cfg.run_dir)
    saved_path = run_dir / CONFIG_FILE
    current = OmegaConf.to_container(cfg, resolve=True)
    if is_main:
        if cfg.train.resume == "force" and saved_path.exists():
            differences = config_differences(_saved(saved_path), current)
            if differences:
                log.warning("train.resume=force: continuing %s with changed %s", run_dir, ", ".join(differences))
                saved_path.replace(run_dir / PREVIOUS_CONFIG_FILE)
        run_dir.mkdir(parents=True, exist_ok=True)
        saved_path.write_text(OmegaConf.to_yaml(current))
    barrier()
