"""What each key means, for ``jepa <command> --help``: read from the schemas' own comments, so the help and the code
cannot disagree."""

from __future__ import annotations

import dataclasses
import inspect
import re
from functools import cache

from omegaconf import DictConfig, OmegaConf

_FIELD = re.compile(r"^\s+(\w+): [^=#]+(?:=[^#]*)?(?:#\s*(.*))?$")
_COMMENT = re.compile(r"^\s+#\s?(.*)$")


@cache
def field_comments(schema: type) -> dict[str, str]:
    """``{field: comment}`` of a dataclass and its bases: the comment on the field's line, else the comment lines
    right above it."""
    comments: dict[str, str] = {}
    for cls in reversed(schema.__mro__[:-1]):
        above: list[str] = []
        for line in inspect.getsource(cls).splitlines()[1:]:
            comment, field = _COMMENT.match(line), _FIELD.match(line)
            if comment:
                above.append(comment.group(1).strip())
            elif field:
                text = field.group(2) or " ".join(above)
                if text:
                    comments[field.group(1)] = text
                above = []
            else:
                above = []
    return comments


def key_descriptions(cfg: DictConfig, prefix: str = "") -> dict[str, str]:
    """``{dotted key: meaning}`` for every commented key of a composed config, its sections typed by their schemas."""
    schema = OmegaConf.get_type(cfg)
    out = {}
    if dataclasses.is_dataclass(schema):
        out |= {f"{prefix}{key}": text for key, text in field_comments(schema).items() if key in cfg.keys()}
    for key in cfg.keys():
        node = cfg._get_node(key)
        if isinstance(node, DictConfig):
            out |= key_descriptions(node, f"{prefix}{key}.")
    return out


def annotate(config_yaml: str, descriptions: dict[str, str]) -> str:
    """The YAML of a config with each described key's meaning as a comment at the end of its line."""
    lines, path = [], []
    for line in config_yaml.splitlines():
        key = re.match(r"^(\s*)([\w-]+):", line)
        if key:
            depth = len(key.group(1)) // 2
            path = [*path[:depth], key.group(2)]
            meaning = descriptions.get(".".join(path))
            if meaning:
                line = f"{line}  # {meaning}"
        lines.append(line)
    return "\n".join(lines)
