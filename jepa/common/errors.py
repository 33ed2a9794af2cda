"""Errors every layer may raise."""


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the key. Commands exit 2 on it."""
