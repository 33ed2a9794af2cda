"""Training objectives built from small composable functions."""

from jepa.losses.prediction import PREDICTION_LOSSES, prediction_loss

__all__ = ["PREDICTION_LOSSES", "prediction_loss"]
