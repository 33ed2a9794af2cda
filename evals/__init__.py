"""Evaluation protocols for frozen encoders: feature extraction, probes, rank metrics, reports."""

from .attentive import AttentiveProbe, attentive_probe, attentive_regression
from .features import RawPatches, extract_features, raw_features
from .future_states import future_state_errors, future_state_probe
from .intervals import mean_interval, wilson_interval
from .probes import (
    knn_predict,
    knn_probe,
    linear_probe,
    linear_regression_probe,
    mlp_regression_probe,
    neighbour_state_error,
)
from .rank import feature_std, lidar, rankme
from .report import evaluate_encoders, evaluate_over_seeds, format_table, summarise_runs, summarise_seeds, write_eval

__all__ = [
    "AttentiveProbe",
    "RawPatches",
    "attentive_probe",
    "attentive_regression",
    "evaluate_encoders",
    "evaluate_over_seeds",
    "extract_features",
    "feature_std",
    "format_table",
    "future_state_errors",
    "future_state_probe",
    "knn_predict",
    "knn_probe",
    "lidar",
    "linear_probe",
    "linear_regression_probe",
    "mean_interval",
    "mlp_regression_probe",
    "neighbour_state_error",
    "rankme",
    "raw_features",
    "summarise_runs",
    "summarise_seeds",
    "wilson_interval",
    "write_eval",
]
