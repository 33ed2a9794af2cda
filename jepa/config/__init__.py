"""Typed configuration for every command: schemas, Hydra config groups, and checks that name the bad key."""

from jepa.config.compose import load_config, saved_config
from jepa.config.schema import Config

__all__ = ["Config", "load_config", "saved_config"]
