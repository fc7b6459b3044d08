"""Figures of evaluation: the embedding map, retrieval galleries, confusion matrices, probes.

Each function takes ``ax=None`` and returns the figure.

Explained in: notebooks/05_evaluation.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

from xmlab.metrics import check_embeddings, modality_gap
from xmlab.viz.core import as_hwc


def project_2d(points: torch.Tensor, *, method: str = "pca", seed: int = 0) -> torch.Tensor:
    """``(N, D)`` points to ``(N, 2)``: PCA (the two directions of largest variance, linear)
    or t-SNE (keeps neighbours together, distorts distances; scikit-learn)."""
    points = check_embeddings(points, "input").cpu()
    if method == "pca":
        centred = points - points.mean(0)  # (N, D)
        _, _, v = torch.linalg.svd(centred, full_matrices=False)
        return centred @ v[:2].T  # (N, 2)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = min(30.0, (len(points) - 1) / 3)
        tsne = TSNE(2, perplexity=perplexity, init="pca", random_state=seed)
        return torch.from_numpy(tsne.fit_transform(points.numpy())).float()
    raise ValueError(f"method must be 'pca' or 'tsne', got {method!r}")


def show_embeddings_2d(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    ax=None,
    *,
    labels: Sequence[int] | torch.Tensor | None = None,
    class_names: Sequence[str] | None = None,
    method: str = "pca",
    seed: int = 0,
):
    """Images (dots) and texts (triangles) in one 2-D map, coloured by class, with the two
    modality centroids joined by an arrow: the modality gap."""
    image_emb = F.normalize(check_embeddings(image_emb, "image"), dim=-1).cpu()
    text_emb = F.normalize(check_embeddings(text_emb, "text"), dim=-1).cpu()
    n = len(image_emb)
    xy = project_2d(torch.cat([image_emb, text_emb]), method=method, seed=seed)  # (N + M, 2)
    colours = "C0" if labels is None else torch.as_tensor(labels).cpu().tolist()
    if labels is not None and not len(colours) == n == len(text_emb):
        raise ValueError("labels colour paired embeddings: pass as many texts and labels as images")
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 4.5))
    kw = dict(c=colours, cmap="tab10", vmin=0, vmax=9, s=14, alpha=0.7)
    ax.scatter(*xy[:n].T, marker="o", label="image", **(kw if labels is not None else {"s": 14}))
    ax.scatter(*xy[n:].T, marker="^", label="text", **(kw if labels is not None else {"s": 14}))
    centre_i, centre_t = xy[:n].mean(0), xy[n:].mean(0)
    ax.annotate("", centre_t.tolist(), centre_i.tolist(), arrowprops=dict(arrowstyle="<->", lw=2))
    gap = modality_gap(image_emb, text_emb)
    ax.set_title(f"{method.upper()} of both modalities; gap = {gap:.2f}", fontsize=9)
    if class_names is not None and labels is not None:
        for c in sorted(set(colours)):
            ax.scatter([], [], color=plt.get_cmap("tab10")(c % 10), label=class_names[c], s=14)
    ax.legend(fontsize=7, loc="best", ncols=2)
    return ax.figure


def _draw_item(ax, *, image=None, text=None, spectrogram=None, title: str = "") -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    if image is not None:
        ax.imshow(as_hwc(image), cmap="gray")
    elif spectrogram is not None:
        ax.imshow(spectrogram.detach().cpu().numpy(), origin="lower", aspect="auto")
    elif text is not None:
        ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, fontsize=7)
    ax.set_title(title, fontsize=7)


def show_retrieval(
    scores: torch.Tensor,
    *,
    query: str | torch.Tensor,
    images: torch.Tensor | None = None,
    texts: Sequence[str] | None = None,
    spectrograms: Sequence[torch.Tensor] | None = None,
    relevant: torch.Tensor | None = None,
    k: int = 5,
    query_kind: str = "text",
):
    """A query and its top ``k`` gallery items (images, captions or spectrograms of spoken
    clips), best first, with their scores and ✓/✗ when ``relevant`` (G,) is given."""
    scores = scores.detach().float().cpu().flatten()  # (G,)
    galleries = [g for g in (images, texts, spectrograms) if g is not None]
    if len(galleries) != 1 or len(galleries[0]) != len(scores):
        raise ValueError(
            f"pass exactly one gallery (images, texts or spectrograms) with one item per score "
            f"({len(scores)} scores)"
        )
    if not 1 <= k <= len(scores):
        raise ValueError(f"k={k} but the gallery has {len(scores)} items")
    fig, axes = plt.subplots(1, k + 1, figsize=(1.7 * (k + 1), 2.0))
    _draw_item(axes[0], **{query_kind: query}, title="query")
    top = scores.topk(k)
    for ax, score, j in zip(axes[1:], top.values.tolist(), top.indices.tolist()):
        mark = "" if relevant is None else (" ✓" if bool(relevant[j]) else " ✗")
        _draw_item(
            ax,
            image=None if images is None else images[j],
            text=None if texts is None else texts[j],
            spectrogram=None if spectrograms is None else spectrograms[j],
            title=f"{score:.2f}{mark}",
        )
    return fig


def show_confusion(
    matrix: torch.Tensor,
    ax=None,
    *,
    class_names: Sequence[str] | None = None,
    normalize: bool = True,
):
    """A confusion matrix (rows: true class, columns: predicted), by row fractions or counts."""
    m = torch.as_tensor(matrix).float().cpu()
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"expected a square (C, C) confusion matrix, got {tuple(m.shape)}")
    if normalize:
        m = m / m.sum(1, keepdim=True).clamp(min=1)
    if ax is None:
        _, ax = plt.subplots(figsize=(1 + 0.4 * len(m), 0.8 + 0.4 * len(m)))
    im = ax.imshow(m.numpy(), cmap="Blues", vmin=0)
    ax.figure.colorbar(im, ax=ax, fraction=0.046)
    names = class_names or [str(c) for c in range(len(m))]
    ax.set_xticks(range(len(m)), names, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(len(m)), names, fontsize=7)
    ax.set(xlabel="predicted", ylabel="true")
    return ax.figure


def plot_noise_curve(curve: dict, ax=None, *, label: str | None = None, ylabel: str = "score"):
    """A curve of :func:`xm.metrics.accuracy_under_noise`; call again with the same ``ax`` to
    compare models."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 3))
    ax.plot(curve["noise"], curve["score"], "o-", label=label)
    ax.set(xlabel="noise std", ylabel=ylabel, ylim=(0, 1.02))
    if label is not None:
        ax.legend(fontsize=8)
    return ax.figure


def plot_hard_negatives(accuracy: dict[str, float], ax=None, *, title: str = ""):
    """Bars of hard-negative accuracy per negative type, with the 50% chance line."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    names = list(accuracy)
    ax.bar(range(len(names)), [accuracy[n] for n in names], color="C0")
    ax.axhline(0.5, color="k", ls="--", lw=1, label="chance (bag of words)")
    ax.set_xticks(range(len(names)), [n.replace("_", "\n") for n in names], fontsize=8)
    ax.set(ylim=(0, 1), ylabel="true caption preferred", title=title)
    ax.legend(fontsize=8)
    return ax.figure
