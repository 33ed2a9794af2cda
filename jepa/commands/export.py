"""``jepa export run=DIR out=FILE``: the encoder a run evaluates, alone, for other code to load in one line
(``jepa.load_encoder(FILE)``, or ``torch.hub.load(<checkout>, "load_encoder", FILE, source="local")``)."""

from __future__ import annotations

from omegaconf import DictConfig

from jepa.commands.checks import check_export
from jepa.common.errors import ConfigError
from jepa.data.inputs import Preprocessing
from jepa.models import VisionTransformer, save_encoder
from jepa.recipes import load_run
from jepa.recipes.parts import input_preprocessing


def run_encoder(run: str) -> tuple[VisionTransformer, Preprocessing | None]:
    """The encoder a run evaluates (an EMA method's target) and how the run read a file."""
    run_cfg, method, _ = load_run(run)
    encoder = method.eval_encoder() if hasattr(method, "eval_encoder") else getattr(method, "encoder", None)
    if not isinstance(encoder, VisionTransformer):
        raise ConfigError(f"run={run}: its encoder is a {type(encoder).__name__}; jepa export writes ViT encoders")
    return encoder, input_preprocessing(run_cfg.data, run)


def export(cfg: DictConfig) -> str:
    check_export(cfg)
    encoder, preprocessing = run_encoder(cfg.run)
    path = save_encoder(encoder, cfg.out, preprocessing)
    print(f"wrote {path}: the encoder of {cfg.run}, {encoder.architecture}")
    if preprocessing is not None:
        print(f"it embeds {preprocessing.modality} files as the run read them: jepa.load_encoder({path}).embed(...)")
    return str(path)
