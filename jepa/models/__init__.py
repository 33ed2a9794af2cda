"""Encoders, predictors and the model registry."""

from jepa.models.conv_encoder import ConvEncoder
from jepa.models.ema import ema_update, make_target
from jepa.models.predictor import ActionConditionedPredictor, MaskedPredictor, block_causal_mask
from jepa.models.registry import MODEL_SIZES, create_model
from jepa.models.vit import VisionTransformer

__all__ = [
    "MODEL_SIZES",
    "ActionConditionedPredictor",
    "ConvEncoder",
    "MaskedPredictor",
    "VisionTransformer",
    "block_causal_mask",
    "create_model",
    "ema_update",
    "make_target",
]
