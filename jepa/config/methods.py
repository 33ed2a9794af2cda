"""The methods ``jepa train`` can train, as their recipe modules register them: each one's ``method`` schema, the
sections of the config it reads and the checks of its values. The config layer keeps the registry and knows no
method; composing a training config loads the recipe packages, whose modules register themselves on import."""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from jepa.common.errors import ConfigError

# sections every method reads through the engine (optimiser, schedule, data loading, evaluation) or that name the run
ALWAYS_READ = frozenset({"name", "run_dir", "method", "data", "optim", "train", "eval", "bench"})
# packages whose modules register methods; JEPA_METHODS adds a user's own (comma-separated module paths)
METHOD_PACKAGES = ("jepa.recipes",)


@dataclass(frozen=True)
class MethodConfig:
    """``schema``: the dataclass of the ``method`` section (its ``name`` field is the method's name); ``reads``:
    the optional sections it reads besides :data:`ALWAYS_READ` (model, mask, regularizer, views); ``check``: the
    checks of the values the types cannot express, raising a ConfigError naming the key."""

    schema: type
    reads: frozenset[str]
    check: Callable[[DictConfig], None]


METHODS: dict[str, MethodConfig] = {}


def register_method(schema: type, reads: tuple[str, ...], check: Callable[[DictConfig], None]) -> None:
    """Register a method's config under its schema's default ``name``: ``method=<name>`` then picks it."""
    name = next(f.default for f in dataclasses.fields(schema) if f.name == "name")
    METHODS[name] = MethodConfig(schema, frozenset(reads), check)
    ConfigStore.instance().store(group="method", name=name, node=schema)


def load_methods() -> dict[str, MethodConfig]:
    """Import the recipe packages (ours and those named in ``JEPA_METHODS``) so their methods register; each
    package's ``__init__`` imports its modules."""
    extra = [p.strip() for p in os.environ.get("JEPA_METHODS", "").split(",") if p.strip()]
    for package in METHOD_PACKAGES:
        importlib.import_module(package)
    for module in extra:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ConfigError(f"JEPA_METHODS names {module}, which cannot be imported: {err}") from err
    return METHODS


def check_reads(cfg: DictConfig) -> None:
    """Refuse a value, set by a preset or an override, in a section the chosen method does not read: it would
    change nothing (``model.depth`` for ACT, whose encoder is ``method.depth``)."""
    name = cfg.method.name
    read = ALWAYS_READ | METHODS[name].reads
    defaults = OmegaConf.structured(OmegaConf.get_type(cfg))
    for section in cfg.keys():
        if section in read or not isinstance(cfg[section], DictConfig):
            continue
        # the option's defaults, under those of the section's schema: choosing another option (mask=multiblock3d)
        # changes the key that names it
        default = OmegaConf.to_container(OmegaConf.structured(OmegaConf.get_type(cfg[section])))
        default |= OmegaConf.to_container(defaults[section])
        for key in cfg[section].keys():
            if cfg[section][key] != default[key]:
                reads = ", ".join(sorted(read - {"name", "run_dir"}))
                raise ConfigError(
                    f"{section}.{key}={cfg[section][key]}: method={name} does not read {section} (it reads {reads}); "
                    "remove the key"
                )
