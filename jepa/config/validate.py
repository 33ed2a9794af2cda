"""Value checks the type system cannot express, per command (each method's own come with its recipe); each error
names its key.

They run right after composition, before any data is read or written, so a bad config costs nothing.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterator
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from jepa.common.errors import ConfigError
from jepa.config.checks import check_choice, check_pairs, check_positive, check_threads
from jepa.config.methods import METHODS, check_reads
from jepa.config.schema import DATA_OPTIONS, MASK_OPTIONS


def validate_train(cfg: DictConfig) -> None:
    """The sections every method shares, no value in a section the method does not read, then the method's own
    checks."""
    check_choice("method", cfg.method.name, METHODS)
    for section, key, options in (("data", "name", DATA_OPTIONS), ("mask", "kind", MASK_OPTIONS)):
        value = cfg[section][key]
        check_choice(f"{section}.{key}", value, options)
        if OmegaConf.get_type(cfg[section]) is not options[value]:  # e.g. data.name=sounds over the keys of images
            raise ConfigError(f"{section}.{key}={value} needs its own keys: pick it with {section}={value}")
    check_reads(cfg)
    check_choice("train.precision", cfg.train.precision, {"auto", "fp32", "bf16"})
    check_choice("train.strategy", cfg.train.strategy, ("ddp", "fsdp"))
    check_positive(cfg, "train.steps", "data.batch_size", "train.log_every", "train.checkpoint_every")
    check_positive(cfg, "train.monitor_every", "train.keep_checkpoints", "bench.clips", "bench.rounds")
    check_positive(cfg, "data.num_train", "data.num_val", "data.val_shards", "eval.seeds")
    check_pairs(cfg, "optim.betas", "optim.ema_momentum")
    check_choice("optim.ema_schedule", cfg.optim.ema_schedule, ("linear", "cosine"))
    check_threads("train.threads", cfg.train.threads)
    resume = cfg.train.resume
    if resume not in ("auto", "never", "force") and not Path(resume).expanduser().exists():
        raise ConfigError(
            f"train.resume={resume!r}: choose auto, never or force, or give an existing checkpoint, checkpoints "
            "directory or run directory"
        )
    if cfg.bench.reference_masks and not cfg.bench.reference:
        raise ConfigError("bench.reference_masks=true needs bench.reference=<a checkout of facebookresearch/ijepa>")
    METHODS[cfg.method.name].check(cfg)


def _keys(cfg: DictConfig, prefix: str = "") -> Iterator[tuple[str, bool]]:
    """(dotted key, declared) for every key below the typed sections of ``cfg``: declared when the section's
    schema has the field. Hydra's ``+key=value`` adds keys to a typed section without asking its schema."""
    fields = {f.name for f in dataclasses.fields(OmegaConf.get_type(cfg))}
    for key in cfg.keys():
        node, path, declared = cfg._get_node(key), f"{prefix}{key}", key in fields
        if not declared:
            while isinstance(node, DictConfig) and len(node):  # what was added: name its first leaf, trian.steps
                key = next(iter(node.keys()))
                node, path = node._get_node(key), f"{path}.{key}"
        yield path, declared
        if isinstance(node, DictConfig) and dataclasses.is_dataclass(OmegaConf.get_type(node)):
            yield from _keys(node, f"{path}.")


def nearest_key(key: str, command: str) -> str | None:
    """The declared key of ``command``'s config (any method's, for train) nearest to ``key``, or None."""
    from jepa.config.methods import load_methods
    from jepa.config.store import SCHEMAS

    declared = [path for path, _ in _keys(OmegaConf.structured(SCHEMAS[command]))]
    if command == "train":
        declared += [f"method.{f.name}" for m in load_methods().values() for f in dataclasses.fields(m.schema)]
        options = {"data": DATA_OPTIONS, "mask": MASK_OPTIONS}
        declared += [
            f"{g}.{f.name}" for g, o in options.items() for s in set(o.values()) for f in dataclasses.fields(s)
        ]
    return _nearest(key, declared)


def options_with_key(key: str) -> str | None:
    """``data=a|b`` for a data or mask key that only some options declare (``data.clip_frames``: the audio
    datasets'), or None."""
    section, _, name = key.partition(".")
    options = {"data": DATA_OPTIONS, "mask": MASK_OPTIONS}.get(section, {})
    having = [option for option, schema in options.items() if name in {f.name for f in dataclasses.fields(schema)}]
    return f"{section}={'|'.join(having)}" if having else None


def _nearest(key: str, declared: list[str]) -> str | None:
    near = difflib.get_close_matches(key, declared, n=1, cutoff=0.75)
    return near[0] if near else None


def check_declared(cfg: DictConfig) -> None:
    """Refuse a key no schema declares (added with ``+key=value``, which Hydra itself suggests for a misspelt key),
    naming it and the nearest declared key."""
    keys = dict(_keys(cfg))
    unknown = [key for key, declared in keys.items() if not declared]
    if unknown:
        near = _nearest(unknown[0], [key for key, declared in keys.items() if declared])
        hint = f"; did you mean {near}?" if near else ""
        raise ConfigError(f"{unknown[0]} is not a key of this command's config (a + cannot add one){hint}")


def validate(command: str, cfg: DictConfig) -> None:
    """Every key of ``command``'s config is declared and every key that must be given is set; a training config's
    values pass their checks (the other commands check theirs when they start)."""
    check_declared(cfg)
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"{', '.join(missing)} must be set, e.g. jepa {command} {missing[0]}=...")
    if command == "train":
        validate_train(cfg)
