"""torch.hub entry points of a checkout of this repository:

encoder = torch.hub.load("path/to/checkout", "load_encoder", "encoder.safetensors", source="local")
vit = torch.hub.load("path/to/checkout", "create_model", "vit_small", input_size=224, source="local")
"""

dependencies = ["torch", "safetensors"]

from jepa.models import create_model, load_encoder  # noqa: E402, F401
