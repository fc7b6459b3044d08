"""Encoders: each modality to a vector, then a projection head into one shared space."""

from xmlab.encoders.dual import (
    LOGIT_SCALE_INIT,
    LOGIT_SCALE_MAX,
    DualEncoder,
    ProjectionHead,
    shapes_dual_encoder,
)
from xmlab.encoders.image import ImageEncoder
from xmlab.encoders.text import TextEncoder

__all__ = [
    "LOGIT_SCALE_INIT",
    "LOGIT_SCALE_MAX",
    "DualEncoder",
    "ImageEncoder",
    "ProjectionHead",
    "TextEncoder",
    "shapes_dual_encoder",
]
