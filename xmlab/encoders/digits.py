"""Encoders for the spoken digits: 8 x 8 handwritten images, log-mel speech and number words.

The fusion, binding and evaluation lessons all encode the same small inputs, so the towers are
built here once: a two-stage CNN for the 8 x 8 images, the audio CNN over log-mel frames, and
(for binding) a small text tower, joined in one space by a ``MultiEncoder``.

Explained in: notebooks/05_evaluation.ipynb and notebooks/07_fusion_and_multitask.ipynb
"""

from __future__ import annotations

from torch import nn

from xmlab.data.av_digits import DIGIT_MEL
from xmlab.encoders.audio import AudioEncoder
from xmlab.encoders.image import ImageEncoder
from xmlab.encoders.multi import MultiEncoder
from xmlab.encoders.text import TextEncoder

DIGIT_MODALITIES = ("image", "audio")  # what the fusion lesson fuses


def digit_image_encoder(dim: int = 64) -> ImageEncoder:
    """A two-stage CNN for one-channel 8 x 8 digit images: ``(B, 1, 8, 8) -> (B, dim)``."""
    return ImageEncoder(dim, image_size=8, in_channels=1, channels=(32, 64))


def digit_encoders(
    modalities: tuple[str, ...] = DIGIT_MODALITIES, *, dim: int = 64, n_mels: int = DIGIT_MEL.n_mels
) -> dict[str, nn.Module]:
    """Small encoders for 8 x 8 digit images (a CNN vector) and log-mel audio (frame tokens)."""
    builders = {
        "image": lambda: digit_image_encoder(dim),
        "audio": lambda: AudioEncoder(dim, n_mels=n_mels, pool=False),  # (B, T', dim) tokens
    }
    unknown = [m for m in modalities if m not in builders]
    if unknown:
        raise ValueError(
            f"no digit encoder for modality {unknown[0]!r}: expected some of {sorted(builders)}"
        )
    return {m: builders[m]() for m in modalities}


def tri_modal_encoder(vocab_size: int, *, dim: int = 64, embed_dim: int = 64) -> MultiEncoder:
    """Image, text and audio towers for the spoken digits, projected into one space."""
    encoders = {
        "image": digit_image_encoder(dim),
        "text": TextEncoder(vocab_size, dim, max_length=8),
        "audio": AudioEncoder(dim, n_mels=DIGIT_MEL.n_mels),
    }
    return MultiEncoder(encoders, {m: dim for m in encoders}, embed_dim=embed_dim)
