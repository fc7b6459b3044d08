"""Encoders: each modality to a vector, then a projection head into one shared space.

One module per modality (``image``, ``text``, ``audio``), the dual and multi-encoders that
join them, the towers of the spoken digits (``digits``), and the optional frozen pretrained text
tower (``xmlab.encoders.pretrained``, imported on demand because it needs the ``pretrained``
extra).
"""

from xmlab.encoders.audio import AudioEncoder
from xmlab.encoders.digits import (
    DIGIT_MODALITIES,
    digit_encoders,
    digit_image_encoder,
    tri_modal_encoder,
)
from xmlab.encoders.dual import (
    LOGIT_SCALE_INIT,
    LOGIT_SCALE_MAX,
    DualEncoder,
    ProjectionHead,
    clamp_temperature,
    shapes_dual_encoder,
)
from xmlab.encoders.image import ImageEncoder, resnet18_small
from xmlab.encoders.multi import MultiEncoder
from xmlab.encoders.text import (
    BagOfWordsEncoder,
    GRUTextEncoder,
    TextEncoder,
    masked_mean,
    sinusoidal_positions,
)

__all__ = [
    "DIGIT_MODALITIES",
    "LOGIT_SCALE_INIT",
    "LOGIT_SCALE_MAX",
    "AudioEncoder",
    "BagOfWordsEncoder",
    "DualEncoder",
    "GRUTextEncoder",
    "ImageEncoder",
    "MultiEncoder",
    "ProjectionHead",
    "TextEncoder",
    "clamp_temperature",
    "digit_encoders",
    "digit_image_encoder",
    "masked_mean",
    "resnet18_small",
    "shapes_dual_encoder",
    "sinusoidal_positions",
    "tri_modal_encoder",
]
