"""Encoders, predictors and the model registry."""

from jepa.models.ema import ema_update, make_target
from jepa.models.predictor import MaskedPredictor
from jepa.models.registry import MODEL_SIZES, create_model
from jepa.models.vit import VisionTransformer

__all__ = ["MODEL_SIZES", "MaskedPredictor", "VisionTransformer", "create_model", "ema_update", "make_target"]
