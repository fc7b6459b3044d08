"""Fusion: combine modalities for one prediction, and train several tasks on shared encoders.

Six fusion methods (``xmlab.fusion.methods``) and the fusion and multi-task models built from
them (``xmlab.fusion.models``). Every name is re-exported here:
``xm.fusion.make_fusion("gated", dims, 10)``. What the fusion lesson uses around the models
lives with its step: the audio-visual digit tensors in ``xm.data`` (``av_digits``), their
encoders in ``xm.encoders`` (``digit_encoders``), training in ``xm.train``
(``train_classifier``, ``multitask_loss``) and scoring in ``xm.metrics`` (``model_accuracy``,
``noise_sweep``); those names are reachable from here too, as before.

Explained in: notebooks/07_fusion_and_multitask.ipynb
"""

from xmlab.checks import batch_keys as check_batch
from xmlab.data.av_digits import DIGIT_MEL, av_digits
from xmlab.encoders.digits import DIGIT_MODALITIES as MODALITIES
from xmlab.encoders.digits import digit_encoders
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
    mlp,
    pool,
)
from xmlab.fusion.models import FusionModel, MultiTaskModel, digit_classifier
from xmlab.utils import count_parameters, moved

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
    "MODALITIES",
    "MultiTaskModel",
    "TensorFusion",
    "av_digits",
    "check_batch",
    "check_features",
    "count_parameters",
    "digit_classifier",
    "digit_encoders",
    "make_fusion",
    "mlp",
    "pool",
]

# Training and scoring sit above fusion in the package; they load when first used from here.
__getattr__ = moved(
    {
        "accuracy": "xmlab.metrics.classification:model_accuracy",
        "predict": "xmlab.metrics.classification",
        "noise_sweep": "xmlab.metrics.probes",
        "classification_loss": "xmlab.train.hooks",
        "multitask_loss": "xmlab.train.hooks",
        "fit_tensors": "xmlab.train.recipes",
        "train_classifier": "xmlab.train.recipes",
        "train_and_score": "xmlab.train.recipes",
    },
    __name__,
)
