"""A run directory belongs to one configuration: a re-run with other values is refused before any work.

``train.resume=auto`` (the default) continues a run only when the config it saved matches this one, apart from
the settings that do not change what a run computes (:data:`RUNTIME_KEYS`). ``train.resume=never`` starts the
run afresh and ``train.resume=force`` continues it with the new values; both are the user's explicit choice, and
``force`` keeps the previous config beside the new one.

One process at a time: :func:`hold_run_dir` locks the directory for the life of a run, so a second run into it is
refused instead of mixing its checkpoints and metrics with the first's.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from jepa.common.distributed import barrier
from jepa.common.errors import ConfigError, RunDirBusyError
from jepa.config.compose import saved_config

log = logging.getLogger(__name__)

CONFIG_FILE, PREVIOUS_CONFIG_FILE, LOCK_FILE = "config.yaml", "config.previous.yaml", ".lock"
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


@contextmanager
def hold_run_dir(run_dir: str | Path) -> Iterator[None]:
    """Lock ``run_dir`` (created if needed) while the block runs; a second holder is refused with a
    :class:`RunDirBusyError` naming the first. The lock is the kernel's, a POSIX record lock (``lockf``): it goes
    when its process exits or dies, so a crashed run leaves nothing stale behind, and unlike ``flock`` it is not
    inherited by forked children (data-loader workers), which may outlive a killed run by a moment. Holding it,
    what a killed run was writing (the checkpoint directories ``checkpoints/.tmp-*`` and the pointers
    ``checkpoints/.latest.*.tmp``) is removed: nothing else can be writing them."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOCK_FILE, "a+") as handle:
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # EACCES or EAGAIN: held by another process
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunDirBusyError(
                f"{run_dir} is in use by {holder}; wait for that run to end, or give this one another name=..."
            ) from None
        handle.truncate(0)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        handle.write(f"jepa train, pid {os.getpid()} on {socket.gethostname()}, since {stamp}\n")
        handle.flush()
        checkpoints = run_dir / "checkpoints"
        for partial in [*checkpoints.glob(".tmp-*"), *checkpoints.glob(".*.tmp")]:
            log.warning("removing %s, which a killed run did not finish writing", partial)
            if partial.is_dir():
                shutil.rmtree(partial, ignore_errors=True)
            else:
                partial.unlink(missing_ok=True)
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.lockf(handle, fcntl.LOCK_UN)


def clear_run_dir(cfg: DictConfig, is_main: bool = True) -> None:
    """``train.resume=never``: empty the run directory (checkpoints, logs, statistics, results) so the fresh run
    neither resumes from nor mixes with what was there; its lock stays, held by this run."""
    run_dir = Path(cfg.run_dir)
    if is_main and run_dir.is_dir() and any(p.name != LOCK_FILE for p in run_dir.iterdir()):
        log.warning("train.resume=never: discarding %s", run_dir)
        for path in run_dir.iterdir():
            if path.name == LOCK_FILE:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
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
