"""Evaluation protocols for frozen encoders: feature extraction, probes, rank metrics, reports."""

from .attentive import AttentiveProbe, attentive_probe
from .features import RawPatches, extract_features, raw_features
from .intervals import mean_interval, wilson_interval
from .probes import knn_predict, knn_probe, linear_probe, linear_regression_probe
from .rank import feature_std, lidar, rankme
from .report import evaluate_encoders, evaluate_over_seeds, format_table, summarise_seeds, write_eval

__all__ = [
    "AttentiveProbe",
    "RawPatches",
    "attentive_probe",
    "evaluate_encoders",
    "evaluate_over_seeds",
    "extract_features",
    "feature_std",
    "format_table",
    "knn_predict",
    "knn_probe",
    "lidar",
    "linear_probe",
    "linear_regression_probe",
    "mean_interval",
    "rankme",
    "raw_features",
    "summarise_seeds",
    "wilson_interval",
    "write_eval",
]
