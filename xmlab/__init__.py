"""xmlab: a kit for teaching and experimenting with cross-modal learning.

Notebooks use it as ``import xmlab as xm`` and call ``xm.losses.clip_loss(...)``,
``xm.data.make_shapes(...)``, and so on: one module per concept.
"""

from xmlab import data, encoders, losses, metrics, preprocess, train, utils, viz
from xmlab.record import record, recorded

__version__ = "0.1.0"

__all__ = [
    "data",
    "encoders",
    "losses",
    "metrics",
    "preprocess",
    "record",
    "recorded",
    "train",
    "utils",
    "viz",
]
