"""Training objectives built from small composable functions."""

from jepa.losses.prediction import PREDICTION_LOSSES, prediction_loss
from jepa.losses.sigreg import SIGReg, epps_pulley
from jepa.losses.vcr import VCR, covariance_penalty, variance_hinge

REGULARIZERS = ("none", "vcr", "sigreg")  # anti-collapse terms a method may add

__all__ = [
    "PREDICTION_LOSSES",
    "REGULARIZERS",
    "SIGReg",
    "VCR",
    "covariance_penalty",
    "epps_pulley",
    "prediction_loss",
    "variance_hinge",
]
