"""Training objectives: each turns a batch into a dict of losses."""

from jepa.methods.masked_jepa import MaskedJEPA
from jepa.methods.world_model import WorldModel

__all__ = ["MaskedJEPA", "WorldModel"]
