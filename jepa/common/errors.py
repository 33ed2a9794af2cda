"""Errors every layer may raise."""


class ConfigError(ValueError):
    """A configuration value that cannot work; the message names the key. Commands exit 2 on it."""


class CheckpointError(RuntimeError):
    """A weights or checkpoint file that cannot be read safely or does not fit the model."""


class DataError(ValueError):
    """Input data that cannot be used as asked: no readable file, a foreign format, too few shards to hold some
    out. Commands exit 2 on it, as on a bad config."""


class RunDirBusyError(RuntimeError):
    """A run directory another live process holds (``jepa train`` locks its run directory for its life)."""


class NonFiniteLossError(RuntimeError):
    """Training diverged (a loss or weights not finite); the message names the last good checkpoint."""
