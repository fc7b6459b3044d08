"""Preprocessing: each modality to tensors the encoders read (pixels, token ids, spectrograms)."""

from xmlab.preprocess import audio, augment
from xmlab.preprocess.audio import MelConfig, log_mel, mel_filterbank, prepare_audio, resample
from xmlab.preprocess.image import (
    SHAPES_MEAN,
    SHAPES_STD,
    ImageTransform,
    check_images,
    normalize_images,
    to_float,
)
from xmlab.preprocess.text import SPECIALS, CharTokenizer, WordTokenizer, pad_ids

__all__ = [
    "SHAPES_MEAN",
    "SHAPES_STD",
    "SPECIALS",
    "CharTokenizer",
    "ImageTransform",
    "MelConfig",
    "WordTokenizer",
    "audio",
    "augment",
    "check_images",
    "log_mel",
    "mel_filterbank",
    "normalize_images",
    "pad_ids",
    "prepare_audio",
    "resample",
    "to_float",
]
