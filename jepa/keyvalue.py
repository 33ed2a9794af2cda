"""``key=value`` command arguments parsed into a typed dataclass, for the commands that do not use Hydra.

Each value is converted to its field's annotated type (str, int, float, bool, optionally ``| None``), so a
misspelt key or a malformed value stops the command before any work, naming the key.
"""

from __future__ import annotations

import types
import typing
from dataclasses import fields
from typing import Any, TypeVar

from jepa.common.errors import ConfigError

T = TypeVar("T")
_NAMES = {int: "an integer", float: "a number", bool: "true or false"}


def _convert(key: str, raw: str, kind: Any) -> Any:
    options = typing.get_args(kind) if typing.get_origin(kind) in (typing.Union, types.UnionType) else (kind,)
    base = next(t for t in options if t is not type(None))
    if base is not str and raw.lower() in ("none", "null"):
        if type(None) in options:
            return None
        raise ConfigError(f"{key} cannot be none")
    try:
        if base is bool:
            return {"true": True, "false": False}[raw.lower()]
        return base(raw)
    except (KeyError, ValueError):
        raise ConfigError(f"{key} must be {_NAMES.get(base, base.__name__)}, got {raw!r}") from None


def parse_key_values(cls: type[T], args: list[str], command: str) -> T:
    """``["episodes=3", ...]`` -> ``cls(episodes=3, ...)``; ``cls`` checks value ranges in ``__post_init__``."""
    kinds = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    values = {}
    for arg in args:
        key, sep, raw = arg.partition("=")
        if not sep:
            raise ConfigError(f"expected key=value, got {arg!r}")
        if key not in kinds:
            raise ConfigError(f"unknown key {key!r} for {command}; keys: {', '.join(names)}")
        values[key] = _convert(key, raw, kinds[key])
    return cls(**values)
