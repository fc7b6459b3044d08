"""Figures: training curves, similarity heatmaps, retrieval results.

Every function takes ``ax=None`` (draws into a new figure when not given) and returns what it
drew on; none calls ``plt.show()``.

Explained in: notebooks/00_welcome.ipynb and notebooks/05_evaluation.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch


def _as_hwc(image: torch.Tensor):
    """A (C, H, W) uint8 or [0, 1] float image as an (H, W, C) array for ``imshow``."""
    image = image.detach().cpu()
    image = image.float() / 255 if image.dtype == torch.uint8 else image.float().clamp(0, 1)
    return image.permute(1, 2, 0).squeeze(-1).numpy()


def plot_history(history, ax=None, *, key: str = "loss"):
    """The training curve of a ``xm.train.History``; returns the axes."""
    return history.plot(ax=ax, key=key)


def show_similarity(
    similarity: torch.Tensor,
    ax=None,
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    title: str = "cosine similarity",
):
    """A heatmap of a (Q, G) similarity matrix, optionally labelled; returns the axes."""
    sim = similarity.detach().float().cpu()
    if sim.ndim != 2:
        raise ValueError(f"expected a (Q, G) similarity matrix, got shape {tuple(sim.shape)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(1 + 0.45 * sim.shape[1], 1 + 0.45 * sim.shape[0]))
    im = ax.imshow(sim.numpy(), cmap="viridis")
    ax.figure.colorbar(im, ax=ax, fraction=0.046)
    if row_labels is not None:
        ax.set_yticks(range(len(row_labels)), row_labels, fontsize=7)
    if col_labels is not None:
        ax.set_xticks(range(len(col_labels)), col_labels, fontsize=7, rotation=60, ha="right")
    ax.set_title(title)
    return ax


def show_images(
    images: torch.Tensor, titles: Sequence[str] | None = None, *, ncols: int = 8, axes=None
):
    """A grid of (N, C, H, W) images with optional titles; returns the figure."""
    n = images.shape[0]
    if axes is None:
        nrows = -(-n // ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.8 * nrows), squeeze=False)
    axes = list(getattr(axes, "flat", axes))
    for i, ax in enumerate(axes):
        ax.axis("off")
        if i < n:
            ax.imshow(_as_hwc(images[i]))
            if titles is not None:
                ax.set_title(titles[i], fontsize=7, wrap=True)
    return axes[0].figure


def show_text_to_images(
    query: str,
    images: torch.Tensor,
    scores: torch.Tensor,
    hits: Sequence[bool] | None = None,
    *,
    axes=None,
):
    """A caption query and its top retrieved images, best first, with their scores."""
    titles = [
        f"{s:.2f}" + ("" if hits is None else (" ✓" if h else " ✗"))
        for s, h in zip(scores.tolist(), hits or [None] * len(scores))
    ]
    fig = show_images(images, titles, ncols=len(images), axes=axes)
    fig.suptitle(f"query: {query!r}", fontsize=9)
    return fig


def show_image_to_texts(
    image: torch.Tensor,
    texts: Sequence[str],
    scores: torch.Tensor,
    hits: Sequence[bool] | None = None,
    ax=None,
):
    """An image query beside its top retrieved captions and their scores."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 1.8))
    ax.axis("off")
    ax.imshow(_as_hwc(image), extent=(0, 1, 0, 1))
    ax.set_xlim(0, 5)
    for rank, (text, score) in enumerate(zip(texts, scores.tolist())):
        mark = "" if hits is None else (" ✓" if hits[rank] else " ✗")
        ax.text(
            1.15,
            0.85 - 0.2 * rank,
            f"{rank + 1}. {score:.2f}  {text}{mark}",
            fontsize=8,
            va="center",
        )
    return ax
