"""Figures of compositional understanding: hard-negative accuracy of several models side by
side, and one scene with its caption, its hard negatives and every model's scores.

Each function takes ``ax=None`` (or ``axes=None``) and returns the figure.

Explained in: notebooks/06_compositionality.ipynb
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch

from xmlab.viz.core import as_hwc


def plot_kind_accuracy(
    results: Mapping[str, Mapping[str, float]],
    ax=None,
    *,
    kinds: Sequence[str] | None = None,
    chance: float = 0.5,
    title: str = "",
):
    """Grouped bars: for each kind of hard negative, the accuracy of every model.

    Args:
        results: model name -> ``{kind: accuracy}`` (as ``xm.metrics.hard_negative_accuracy``
            returns it; other keys are ignored unless listed in ``kinds``).
        kinds: the kinds to show, in order (default: those of the first model, without "all"
            and retrieval keys).
        chance: where to draw the chance line (0.5: a coin flip between two captions).
    """
    if not results:
        raise ValueError("pass at least one model's accuracies, e.g. {'plain': accuracy}")
    first = next(iter(results.values()))
    kinds = list(kinds or [k for k in first if k != "all" and "R@" not in k])
    if ax is None:
        _, ax = plt.subplots(figsize=(1.3 * len(kinds) + 1.5, 3.2))
    width = 0.8 / len(results)
    for m, (name, acc) in enumerate(results.items()):
        xs = [i + (m - (len(results) - 1) / 2) * width for i in range(len(kinds))]
        bars = ax.bar(xs, [acc[k] for k in kinds], width, label=name, color=f"C{m}")
        ax.bar_label(bars, fmt="%.2f", fontsize=6, padding=1)
    ax.axhline(chance, color="k", ls="--", lw=1, label=f"chance ({chance:g})")
    ax.set_xticks(range(len(kinds)), [k.replace("_", "\n") for k in kinds], fontsize=8)
    ax.set(ylim=(0, 1.08), ylabel="true caption preferred", title=title)
    ax.legend(fontsize=7, loc="lower right")
    return ax.figure


def show_caption_scores(
    image: torch.Tensor,
    texts: Sequence[str],
    scores: Mapping[str, Sequence[float]],
    axes=None,
    *,
    labels: Sequence[str] | None = None,
):
    """A scene beside horizontal bars of every model's similarity to each text.

    The first text is the true caption; each of the others is marked ✓ for a model that scores
    it below the true caption (the model is not fooled) and ✗ otherwise.

    Args:
        image: ``(C, H, W)`` uint8 or float image.
        texts: the true caption first, then the false ones.
        scores: model name -> one similarity per text.
        axes: two axes (image, bars), or ``None`` for a new figure.
        labels: a short label per text (e.g. the kind of negative), shown before it.
    """
    if not scores or any(len(s) != len(texts) for s in scores.values()):
        raise ValueError(f"every model needs one score per text ({len(texts)} texts)")
    if axes is None:
        _, axes = plt.subplots(
            1, 2, figsize=(9, 0.5 * len(texts) + 1.2), gridspec_kw={"width_ratios": [1, 4]}
        )
    axes[0].imshow(as_hwc(image))
    axes[0].set_axis_off()
    labels = labels or [""] * len(texts)
    names = [f"{lab}: {t}" if lab else t for lab, t in zip(labels, texts)]
    height = 0.8 / len(scores)
    for m, (name, values) in enumerate(scores.items()):
        values = [float(v) for v in values]
        ys = [len(texts) - 1 - i + (m - (len(scores) - 1) / 2) * height for i in range(len(texts))]
        axes[1].barh(ys, values, height, color=f"C{m}", label=name)
        for y, v, i in zip(ys, values, range(len(texts))):
            mark = "" if i == 0 else (" ✓" if v < values[0] else " ✗")
            axes[1].text(v, y, f" {v:.2f}{mark}", va="center", fontsize=7)
    axes[1].set_yticks(range(len(texts) - 1, -1, -1), names, fontsize=7)
    axes[1].set_xlabel("cosine similarity to the image")
    axes[1].legend(fontsize=7, loc="lower right")
    return axes[1].figure
