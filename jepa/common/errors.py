"""Errors every layer may raise."""


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the key. Commands exit 2 on it."""


class CheckpointError(RuntimeError):
    """A weights or checkpoint file that cannot be read safely or does not fit the model."""
