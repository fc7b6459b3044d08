"""Figures of the first lessons: images, similarity heatmaps, retrieval results.

Every function takes ``ax=None`` (draws into a new figure when not given) and returns what it
drew on; none calls ``plt.show()``.

Explained in: notebooks/00_welcome.ipynb and notebooks/05_evaluation.ipynb
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.offsetbox import AnnotationBbox, OffsetImage


def as_hwc(image: torch.Tensor):
    """A (C, H, W) uint8 or [0, 1] float image as an (H, W, C) array for ``imshow``."""
    image = image.detach().cpu()
    image = image.float() / 255 if image.dtype == torch.uint8 else image.float().clamp(0, 1)
    return image.permute(1, 2, 0).squeeze(-1).numpy()


_as_hwc = as_hwc  # the name the first lessons used


def figure_to_png(fig, *, dpi: int = 80) -> bytes:
    """The figure as PNG bytes (for an ``ipywidgets.Image``); the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def _thumbnails(ax, images: torch.Tensor, *, axis: str, zoom: float) -> None:
    """Draw a small image beside every row (``axis="y"``) or column (``"x"``) of a heatmap."""
    for i, image in enumerate(images):
        box = OffsetImage(as_hwc(image), zoom=zoom)
        xy, coords = ((-0.5, i), ("data", "data")) if axis == "y" else ((i, -0.5), "data")
        offset = (-14, 0) if axis == "y" else (0, 14)
        ax.add_artist(
            AnnotationBbox(
                box,
                xy,
                xycoords=coords,
                xybox=offset,
                boxcoords="offset points",
                frameon=False,
                annotation_clip=False,
            )
        )


def show_similarity(
    similarity: torch.Tensor,
    ax=None,
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    row_images: torch.Tensor | None = None,
    col_images: torch.Tensor | None = None,
    title: str = "cosine similarity",
):
    """A heatmap of a (Q, G) similarity matrix with text labels or image thumbnails on its
    rows and columns; returns the axes."""
    sim = similarity.detach().float().cpu()
    if sim.ndim != 2:
        raise ValueError(f"expected a (Q, G) similarity matrix, got shape {tuple(sim.shape)}")
    for name, items, n in (("row", row_images, sim.shape[0]), ("column", col_images, sim.shape[1])):
        if items is not None and len(items) != n:
            raise ValueError(f"{len(items)} {name} images for {n} {name}s: one image per {name}")
    if ax is None:
        _, ax = plt.subplots(figsize=(1 + 0.45 * sim.shape[1], 1 + 0.45 * sim.shape[0]))
    im = ax.imshow(sim.numpy(), cmap="viridis")
    ax.figure.colorbar(im, ax=ax, fraction=0.046)
    if row_labels is not None:
        ax.set_yticks(range(len(row_labels)), row_labels, fontsize=7)
    if col_labels is not None:
        ax.set_xticks(range(len(col_labels)), col_labels, fontsize=7, rotation=60, ha="right")
    if row_images is not None:
        ax.set_yticks([])
        _thumbnails(ax, row_images, axis="y", zoom=0.5)
    if col_images is not None:
        ax.set_xticks([])
        _thumbnails(ax, col_images, axis="x", zoom=0.5)
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
            ax.imshow(as_hwc(images[i]), cmap="gray")
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
    ax.imshow(as_hwc(image), extent=(0, 1, 0, 1), cmap="gray")
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
