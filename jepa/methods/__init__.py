"""Training objectives: each turns a batch into a dict of losses (:class:`Method`)."""

from jepa.methods.lejepa import LeJEPA
from jepa.methods.masked_jepa import MaskedJEPA
from jepa.methods.policy import ChunkPolicy
from jepa.methods.protocol import Method
from jepa.methods.seq_jepa import SeqJEPA
from jepa.methods.world_model import WorldModel

__all__ = ["ChunkPolicy", "LeJEPA", "MaskedJEPA", "Method", "SeqJEPA", "WorldModel"]
