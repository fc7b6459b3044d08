"""Preprocessing: each modality to tensors the encoders read (pixels, token ids, spectrograms)."""

from xmlab.preprocess.image import SHAPES_MEAN, SHAPES_STD, check_images, normalize_images, to_float
from xmlab.preprocess.text import SPECIALS, WordTokenizer

__all__ = [
    "SHAPES_MEAN",
    "SHAPES_STD",
    "SPECIALS",
    "WordTokenizer",
    "check_images",
    "normalize_images",
    "to_float",
]
