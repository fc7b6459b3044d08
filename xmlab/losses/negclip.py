"""NegCLIP: CLIP's contrastive loss with hard-negative captions.

A dual encoder trained with CLIP's loss can read captions as bags of words: the other captions
of a batch almost never differ from the right one only in *which* object is red, so nothing in
the loss asks for word order. NegCLIP gives every image, beside the batch's captions, K false
captions written for the images of the batch -- "a blue circle left of a red square" for a red
circle left of a blue square -- and the image must beat those too.

Explained in: notebooks/06_compositionality.ipynb
"""

from __future__ import annotations

import torch

from xmlab import checks
from xmlab.losses.contrastive import _finite, clip_logits, info_nce


def negclip_loss(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    *,
    logit_scale: torch.Tensor | float,
    text_negatives: torch.Tensor,
    positives: torch.Tensor | None = None,
) -> torch.Tensor:
    """CLIP's loss with hard-negative captions (NegCLIP): images must also beat near-misses.

    Each image picks its own caption among the B captions of the batch *and* the K false
    captions written for every image of the batch (B + B*K candidates: rectangular logits for
    :func:`info_nce`). A false caption that only trades the colours of two objects costs the
    model as much as a wrong scene, so reading the caption as a bag of words no longer pays.
    The text -> image direction is CLIP's, unchanged: a false caption describes no image, so it
    has none to pick. With K = 0 this is :func:`clip_loss` exactly.

    Shapes:
        image_emb: (B, D), text_emb: (B, D), text_negatives: (B, K, D), logit_scale: scalar,
        positives: (B, B) bool or None (same-caption pairs, see :func:`positives_from_labels`)
        -> scalar.

    Paper: Yuksekgonul et al., "When and Why Vision-Language Models Behave like Bags-of-Words,
    and What to Do About It?" (NegCLIP), ICLR 2023.

    Explained in: notebooks/06_compositionality.ipynb
    """
    logits_per_image, logits_per_text = clip_logits(image_emb, text_emb, logit_scale=logit_scale)
    checks.enough_pairs(len(image_emb), "negclip_loss")
    negatives = flat_negatives(text_negatives, image_emb)  # (B*K, D)
    extra = logit_scale * image_emb @ negatives.T  # (B, B*K)
    positives = checks.positives(positives, logits_per_image.shape)  # (B, B) or None
    mask, mask_t = None, None
    if positives is not None:  # a false caption is never a positive: pad the mask with False
        mask = torch.cat([positives, torch.zeros_like(extra, dtype=torch.bool)], 1)  # (B, B+B*K)
        mask_t = positives.T
    image_to_text = info_nce(torch.cat([logits_per_image, extra], 1), positives=mask)
    loss = (image_to_text + info_nce(logits_per_text, positives=mask_t)) / 2
    return _finite(loss, "negclip_loss", image_emb, text_emb, logit_scale=logit_scale)


def flat_negatives(text_negatives: torch.Tensor, image_emb: torch.Tensor) -> torch.Tensor:
    """``(B, K, D)`` negative captions of a ``(B, D)`` image batch, checked and flattened to
    ``(B*K, D)``: the negatives of image ``i`` are rows ``i*K .. i*K + K - 1``."""
    n, d = image_emb.shape
    if not isinstance(text_negatives, torch.Tensor) or text_negatives.ndim != 3:
        got = getattr(text_negatives, "shape", type(text_negatives).__name__)
        raise ValueError(
            f"text_negatives must be shaped (B, K, D): K false captions for each image, got "
            f"{got}; for one per image use negatives[:, None]"
        )
    if text_negatives.shape[0] != n or text_negatives.shape[2] != d:
        raise ValueError(
            f"text_negatives {tuple(text_negatives.shape)} do not fit a batch of {n} images with "
            f"{d} dimensions: expected ({n}, K, {d}), the negatives of each image in its row"
        )
    checks.finite(text_negatives, "text_negatives")
    return text_negatives.flatten(0, 1)  # (B*K, D)
