"""xmlab: a kit for teaching and experimenting with cross-modal learning.

Notebooks use it as ``import xmlab as xm`` and call ``xm.losses.clip_loss(...)``,
``xm.data.make_shapes(...)``, and so on: one module per concept.
"""

from xmlab import (
    binding,
    classroom,
    data,
    distributed,
    encoders,
    fusion,
    losses,
    metrics,
    modalities,
    needs,
    preprocess,
    speech,
    train,
    utils,
    viz,
    widgets,
    zeroshot,
)
from xmlab.record import record, recorded

__version__ = "0.1.0"

__all__ = [
    "binding",
    "classroom",
    "data",
    "distributed",
    "encoders",
    "fusion",
    "losses",
    "metrics",
    "modalities",
    "needs",
    "preprocess",
    "record",
    "recorded",
    "speech",
    "train",
    "utils",
    "viz",
    "widgets",
    "zeroshot",
]
