"""Probes of what a model learned: the modality gap, hard negatives, robustness to noise.

*Modality gap* (Liang et al., "Mind the Gap", NeurIPS 2022): image and text embeddings of a
contrastive model sit in two separate cones of the unit sphere. The gap is the distance between
the two centroids; shifting both modalities along the gap vector shows how much it matters.

*Hard negatives* (after ARO, Yuksekgonul et al., ICLR 2023): does an image prefer its true
caption over a minimally edited false one? A model that reads captions as a bag of words
cannot tell "a red circle left of a blue square" from "a blue circle left of a red square",
and scores 50% on such attribute swaps.

*Accuracy under noise*: a metric measured at increasing input noise, as a curve; for the
spoken-digit classifiers of the fusion lesson, accuracy at each degradation level.

Explained in: notebooks/05_evaluation.ipynb and notebooks/07_fusion_and_multitask.ipynb
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from xmlab import checks
from xmlab.data.av_digits import av_digits
from xmlab.data.digits import Degradation, SpokenDigits
from xmlab.metrics.classification import model_accuracy
from xmlab.metrics.retrieval import check_embeddings


def gap_vector(image_emb: torch.Tensor, text_emb: torch.Tensor) -> torch.Tensor:
    """``mean(image) - mean(text)`` of the L2-normalised embeddings: ``(D,)``."""
    image_emb = F.normalize(check_embeddings(image_emb, "image"), dim=-1)  # (N, D)
    text_emb = F.normalize(check_embeddings(text_emb, "text"), dim=-1)  # (M, D)
    checks.same_width(image_emb, text_emb, ("image", "text"))
    return image_emb.mean(0) - text_emb.to(image_emb.device).mean(0)  # (D,)


def modality_gap(image_emb: torch.Tensor, text_emb: torch.Tensor) -> float:
    """Euclidean distance between the image and text centroids on the unit sphere.

    0 when both modalities are spread alike; up to 2 when they occupy opposite poles. The two
    sets need not be paired or of equal size.
    """
    return gap_vector(image_emb, text_emb).norm().item()


def shift_embeddings(
    image_emb: torch.Tensor, text_emb: torch.Tensor, *, fraction: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Move images by ``-fraction/2`` and texts by ``+fraction/2`` of the gap vector, then
    normalise again (``fraction=1`` makes the centroids meet before normalising; negative
    values widen the gap). As in "Mind the Gap", section 4.2."""
    delta = gap_vector(image_emb, text_emb)  # (D,)
    image_emb = F.normalize(image_emb.float(), dim=-1) - fraction / 2 * delta  # (N, D)
    text_emb = F.normalize(text_emb.float(), dim=-1) + fraction / 2 * delta.to(text_emb.device)
    return F.normalize(image_emb, dim=-1), F.normalize(text_emb, dim=-1)


def negative_table(
    negatives: Sequence[dict[str, str | None]],
) -> tuple[list[int], list[str], list[str]]:
    """Flatten per-item negatives ``[{"type": caption or None, ...}, ...]`` (as returned by
    ``xm.data.grammar.hard_negatives``) into ``(owners, types, captions)``; ``None`` is skipped.
    ``owners[j]`` is the item whose image negative ``j`` belongs to."""
    owners, types, texts = [], [], []
    for i, by_type in enumerate(negatives):
        for kind, text in by_type.items():
            if text is not None:
                owners.append(i)
                types.append(kind)
                texts.append(text)
    return owners, types, texts


def hard_negative_accuracy(
    image_emb: torch.Tensor,
    true_emb: torch.Tensor,
    negative_emb: torch.Tensor,
    negative_types: Sequence[str],
    *,
    owners: Sequence[int] | torch.Tensor | None = None,
) -> dict[str, float]:
    """How often an image is more similar to its true caption than to a hard negative.

    Args:
        image_emb: (N, D) image embeddings.
        true_emb: (N, D) embeddings of each image's true caption.
        negative_emb: (M, D) embeddings of false captions.
        negative_types: M names of the edit that made each negative ("relation_swap", ...).
        owners: (M,) the image each negative belongs to; default ``range(N)`` when M == N.

    Returns:
        ``{type: accuracy, ..., "all": accuracy over every negative}``; 0.5 is chance, and a
        tie (a model that cannot tell the two captions apart) counts as half right.
    """
    image_emb = check_embeddings(image_emb, "image")
    true_emb = check_embeddings(true_emb, "true caption").to(image_emb.device)
    negative_emb = check_embeddings(negative_emb, "negative caption").to(image_emb.device)
    checks.same_count(len(image_emb), len(true_emb), ("image", "true caption"))
    checks.same_width(image_emb, true_emb, ("image", "true caption"))
    checks.same_width(image_emb, negative_emb, ("image", "negative caption"))
    if owners is None:
        if len(negative_emb) != len(image_emb):
            raise ValueError(
                f"{len(negative_emb)} negatives for {len(image_emb)} images: pass owners, "
                "the image index of every negative"
            )
        owners = range(len(image_emb))
    owners = torch.as_tensor(list(owners), dtype=torch.long, device=image_emb.device)
    if len(owners) != len(negative_emb) or len(negative_types) != len(negative_emb):
        raise ValueError(
            f"{len(negative_emb)} negatives but {len(owners)} owners and "
            f"{len(negative_types)} types: one owner and one type per negative"
        )
    if owners.min() < 0 or owners.max() >= len(image_emb):
        raise ValueError(f"owners must index the {len(image_emb)} images, got {owners.tolist()}")
    positive = (image_emb * true_emb).sum(1)[owners]  # (M,)
    negative = (image_emb[owners] * negative_emb).sum(1)  # (M,)
    correct = ((positive > negative).float() + 0.5 * (positive == negative).float()).cpu()  # (M,)
    types = list(negative_types)
    out = {
        t: correct[[j for j, u in enumerate(types) if u == t]].mean().item()
        for t in dict.fromkeys(types)
    }
    out["all"] = correct.mean().item()
    return out


def add_noise(images: torch.Tensor, std: float, *, seed: int = 0) -> torch.Tensor:
    """Gaussian pixel noise of standard deviation ``std`` on images in [0, 1] (uint8 images
    are scaled first); the result is clipped back to [0, 1]."""
    if std < 0:
        raise ValueError(f"noise std must be >= 0, got {std}")
    images = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(images.shape, generator=g).to(images.device) * std  # (N, C, H, W)
    return (images + noise).clamp(0, 1)


def accuracy_under_noise(
    score: Callable[[float], float], levels: Sequence[float]
) -> dict[str, list[float]]:
    """Evaluate ``score(level)`` at every noise level: ``{"noise": levels, "score": values}``.

    ``score`` spoils the inputs with that much noise (e.g. with :func:`add_noise`), embeds them
    and returns a metric such as zero-shot accuracy or R@1.
    """
    levels = [float(x) for x in levels]
    if not levels:
        raise ValueError("pass at least one noise level, e.g. levels=[0, 0.1, 0.2]")
    if any(b < a for a, b in zip(levels, levels[1:])) or levels[0] < 0:
        raise ValueError(f"noise levels must be non-negative and increasing, got {levels}")
    values = [float(score(level)) for level in levels]
    return {"noise": levels, "score": values}


def noise_sweep(
    models: dict[str, nn.Module],
    levels: list[Degradation],
    *,
    split: str = "test",
    seed: int = 0,
) -> list[dict]:
    """Accuracy of every spoken-digit classifier on ``split`` spoiled at each degradation level.

    Returns one row per level: ``{"level": i, "energy_removed": ..., "snr_db": ..., <model
    name>: accuracy}``.
    """
    dataset, rows = SpokenDigits(split, seed=seed), []
    for i, level in enumerate(levels):
        data = av_digits(split, degradation=level, dataset=dataset)
        row = {"level": i, "energy_removed": level.energy_removed, "snr_db": level.snr_db}
        row.update({name: model_accuracy(model, data) for name, model in models.items()})
        rows.append(row)
    return rows
