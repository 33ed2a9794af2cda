"""``jepa export run=DIR out=FILE``: the encoder a run evaluates, alone, for other code to load in one line
(``jepa.load_encoder(FILE)``, or ``torch.hub.load(<checkout>, "load_encoder", FILE, source="local")``)."""

from __future__ import annotations

from omegaconf import DictConfig

from jepa.common.errors import ConfigError
from jepa.models import VisionTransformer, save_encoder
from jepa.recipes import load_run


def export(cfg: DictConfig) -> str:
    _, method, _ = load_run(cfg.run)
    encoder = method.eval_encoder() if hasattr(method, "eval_encoder") else getattr(method, "encoder", None)
    if not isinstance(encoder, VisionTransformer):
        raise ConfigError(f"run={cfg.run}: its encoder is a {type(encoder).__name__}; jepa export writes ViT encoders")
    path = save_encoder(encoder, cfg.out)
    print(f"wrote {path}: {type(method).__name__}'s encoder, {encoder.architecture}")
    return str(path)
