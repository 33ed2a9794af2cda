"""Evaluation protocols for frozen encoders: feature extraction, probes, rank metrics, reports."""

from .attentive import AttentiveProbe, attentive_probe
from .features import RawPatches, extract_features, raw_features
from .probes import knn_predict, knn_probe, linear_probe, linear_regression_probe
from .rank import feature_std, lidar, rankme
from .report import evaluate_encoders, format_table, write_eval

__all__ = [
    "AttentiveProbe",
    "RawPatches",
    "attentive_probe",
    "evaluate_encoders",
    "extract_features",
    "feature_std",
    "format_table",
    "knn_predict",
    "knn_probe",
    "lidar",
    "linear_probe",
    "linear_regression_probe",
    "rankme",
    "raw_features",
    "write_eval",
]
