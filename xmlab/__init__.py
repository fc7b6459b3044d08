"""xmlab: a kit for teaching and experimenting with cross-modal learning.

Notebooks use it as ``import xmlab as xm`` and call ``xm.losses.clip_loss(...)``,
``xm.data.make_shapes(...)``, and so on: one module per concept.
"""

from xmlab import (
    binding,
    classroom,
    compositional,
    data,
    distributed,
    encoders,
    fusion,
    losses,
    metrics,
    modalities,
    preprocess,
    train,
    utils,
    viz,
    widgets,
)
from xmlab.record import record, recorded

__version__ = "0.1.0"

__all__ = [
    "binding",
    "classroom",
    "compositional",
    "data",
    "distributed",
    "encoders",
    "fusion",
    "losses",
    "metrics",
    "modalities",
    "preprocess",
    "record",
    "recorded",
    "train",
    "utils",
    "viz",
    "widgets",
]
