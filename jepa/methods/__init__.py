"""Training objectives: each turns a batch into a dict of losses."""

from jepa.methods.masked_jepa import MaskedJEPA

__all__ = ["MaskedJEPA"]
