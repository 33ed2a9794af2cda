"""Encoders, predictors and the model registry."""

from jepa.models.context_encoder import ContextEncoder
from jepa.models.conv_encoder import ConvEncoder
from jepa.models.ema import ema_update, make_target
from jepa.models.export import load_encoder, save_encoder
from jepa.models.official import convert_official_state_dict, load_official_weights, load_pretrained
from jepa.models.predictor import ActionConditionedPredictor, MaskedPredictor, block_causal_mask
from jepa.models.query_decoder import QueryDecoder
from jepa.models.registry import MODEL_SIZES, create_model
from jepa.models.vit import VisionTransformer

__all__ = [
    "MODEL_SIZES",
    "ActionConditionedPredictor",
    "ContextEncoder",
    "ConvEncoder",
    "MaskedPredictor",
    "QueryDecoder",
    "VisionTransformer",
    "block_causal_mask",
    "convert_official_state_dict",
    "create_model",
    "ema_update",
    "load_encoder",
    "load_official_weights",
    "load_pretrained",
    "save_encoder",
    "make_target",
]
