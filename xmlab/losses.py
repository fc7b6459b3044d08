"""Contrastive objectives: pure functions first, thin ``nn.Module`` wrappers after.

Every function takes embeddings (rows are items, row ``i`` of one modality pairs with row ``i``
of the other) and returns a scalar tensor.

Explained in: notebooks/00_welcome.ipynb and notebooks/03_joint_learning.ipynb
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def check_pair(
    a: torch.Tensor, b: torch.Tensor, names: tuple[str, str] = ("image", "text")
) -> None:
    """Raise a clear error unless ``a`` and ``b`` are two ``(B, D)`` batches paired by row."""
    for name, t in zip(names, (a, b)):
        if not isinstance(t, torch.Tensor) or t.ndim != 2:
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise ValueError(f"expected {name} embeddings shaped (B, D), got {shape}")
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{names[0]} batch has {a.shape[0]} items but {names[1]} batch has {b.shape[0]}: "
            f"every {names[0]} needs exactly one {names[1]}"
        )
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"{names[0]} embeddings have {a.shape[1]} dimensions but {names[1]} embeddings have "
            f"{b.shape[1]}: project both into the same space first"
        )
    if not (torch.isfinite(a).all() and torch.isfinite(b).all()):
        raise ValueError(
            "embeddings contain NaN or infinite values: check the learning rate and the inputs"
        )


def _check_scale(logit_scale) -> torch.Tensor | float:
    if isinstance(logit_scale, torch.Tensor) and logit_scale.numel() != 1:
        raise ValueError(f"logit_scale must be a scalar, got shape {tuple(logit_scale.shape)}")
    return logit_scale


def clip_logits(
    image_emb: torch.Tensor, text_emb: torch.Tensor, *, logit_scale: torch.Tensor | float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled similarities of every image with every text, in both directions.

    ``logits_per_image[i, j] = logit_scale * <image_i, text_j>``; the text logits are its
    transpose. With unit-length embeddings the dot product is the cosine similarity.

    Shapes:
        image_emb: (B, D), text_emb: (B, D), logit_scale: scalar (the multiplier, e.g.
        ``model.logit_scale.exp()``) -> two (B, B) tensors.
    """
    check_pair(image_emb, text_emb)
    logits_per_image = _check_scale(logit_scale) * image_emb @ text_emb.T  # (B, B)
    return logits_per_image, logits_per_image.T


def clip_loss(
    image_emb: torch.Tensor, text_emb: torch.Tensor, *, logit_scale: torch.Tensor | float
) -> torch.Tensor:
    """The symmetric InfoNCE loss of CLIP.

    Each image must pick its own caption among the B captions of the batch (a B-way
    classification, cross-entropy with the diagonal as targets), and each caption its own image;
    the loss is the mean of the two cross-entropies. It is about ln B for random embeddings and
    falls towards 0 as matching pairs become much more similar than the others.

    Shapes:
        image_emb: (B, D), text_emb: (B, D), logit_scale: scalar -> scalar.

    Paper: Radford et al., "Learning Transferable Visual Models From Natural Language
    Supervision" (CLIP), 2021; van den Oord et al., "Representation Learning with Contrastive
    Predictive Coding" (InfoNCE), 2018.

    Explained in: notebooks/03_joint_learning.ipynb
    """
    logits_per_image, logits_per_text = clip_logits(image_emb, text_emb, logit_scale=logit_scale)
    targets = torch.arange(image_emb.shape[0], device=image_emb.device)  # (B,) pair i <-> i
    return (
        F.cross_entropy(logits_per_image, targets) + F.cross_entropy(logits_per_text, targets)
    ) / 2


class ClipLoss(nn.Module):
    """:func:`clip_loss` as a module, called on a model's output dict or on tensors."""

    def forward(
        self, image_emb: torch.Tensor, text_emb: torch.Tensor, logit_scale: torch.Tensor | float
    ) -> torch.Tensor:
        return clip_loss(image_emb, text_emb, logit_scale=logit_scale)
