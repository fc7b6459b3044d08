"""Fusion: combine modalities for one prediction, and train several tasks on shared encoders.

Six fusion methods (``xmlab.fusion.methods``), fusion and multi-task models with their losses
and a short training loop (``xmlab.fusion.models``), and the noisy audio-visual digits they are
compared on (``xmlab.fusion.digits``). Every name is re-exported here:
``xm.fusion.make_fusion("gated", dims, 10)``.

Explained in: notebooks/07_fusion_and_multitask.ipynb
"""

from xmlab.fusion.digits import DIGIT_MEL, av_digits, digit_classifier, digit_encoders, noise_sweep
from xmlab.fusion.methods import (
    FUSIONS,
    CrossAttentionFusion,
    EarlyFusion,
    Fusion,
    GatedFusion,
    LateFusion,
    LowRankFusion,
    TensorFusion,
    check_features,
    make_fusion,
    pool,
)
from xmlab.fusion.models import (
    FusionModel,
    MultiTaskModel,
    accuracy,
    check_batch,
    classification_loss,
    count_parameters,
    multitask_loss,
    predict,
    train_and_score,
    train_classifier,
)

__all__ = [
    "DIGIT_MEL",
    "FUSIONS",
    "CrossAttentionFusion",
    "EarlyFusion",
    "Fusion",
    "FusionModel",
    "GatedFusion",
    "LateFusion",
    "LowRankFusion",
    "MultiTaskModel",
    "TensorFusion",
    "accuracy",
    "av_digits",
    "check_batch",
    "check_features",
    "classification_loss",
    "count_parameters",
    "digit_classifier",
    "digit_encoders",
    "make_fusion",
    "multitask_loss",
    "noise_sweep",
    "pool",
    "predict",
    "train_and_score",
    "train_classifier",
]
