"""Training objectives built from small composable functions."""

from jepa.losses.prediction import PREDICTION_LOSSES, prediction_loss
from jepa.losses.sigreg import SIGReg, epps_pulley

__all__ = ["PREDICTION_LOSSES", "SIGReg", "epps_pulley", "prediction_loss"]
