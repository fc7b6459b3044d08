"""Retrieval metrics: does each query find its partner among all items of the other modality?

Keys follow open_clip: ``image_to_text_R@1``, ``text_to_image_R@5``, ...

Explained in: notebooks/00_welcome.ipynb and notebooks/05_evaluation.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def group_ids(texts: Sequence[str]) -> torch.Tensor:
    """An id per text such that identical texts share an id: ``["a", "b", "a"]`` -> ``[0, 1, 0]``.

    Two items whose captions are the same text are equivalent answers for retrieval.
    """
    index: dict[str, int] = {}
    return torch.tensor([index.setdefault(t, len(index)) for t in texts])


def recall_at_k(
    similarity: torch.Tensor,
    *,
    k: int,
    query_groups: torch.Tensor | None = None,
    gallery_groups: torch.Tensor | None = None,
) -> float:
    """Fraction of queries whose top ``k`` gallery items contain a correct one.

    Without groups, query ``i``'s only correct item is gallery item ``i``. With groups, any
    gallery item in the query's group is correct (e.g. images whose caption is the same text).

    Shapes:
        similarity: (Q, G); query_groups: (Q,); gallery_groups: (G,) -> float in [0, 1].
    """
    q, g = similarity.shape
    if not 1 <= k <= g:
        raise ValueError(f"k must be between 1 and the gallery size {g}, got {k}")
    if torch.isnan(similarity).any():
        raise ValueError("similarity contains NaN: check the embeddings")
    if (query_groups is None) != (gallery_groups is None):
        raise ValueError("pass both query_groups and gallery_groups, or neither")
    if query_groups is None:
        if q != g:
            raise ValueError(f"{q} queries and {g} gallery items: pass groups to say which match")
        query_groups = gallery_groups = torch.arange(q)
    top = similarity.topk(k, dim=1).indices  # (Q, k)
    hits = gallery_groups.to(top.device)[top] == query_groups.to(top.device)[:, None]  # (Q, k)
    return hits.any(dim=1).float().mean().item()


def retrieval_metrics(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    *,
    ks: Sequence[int] = (1, 5, 10),
    groups: torch.Tensor | None = None,
) -> dict[str, float]:
    """Recall@K in both directions for paired embeddings (row ``i`` of each is one pair).

    Args:
        image_emb: (N, D) image embeddings.
        text_emb: (N, D) text embeddings.
        ks: the cut-offs K to report.
        groups: (N,) optional ids (see :func:`group_ids`); pairs in one group are equivalent.

    Returns:
        ``{"image_to_text_R@1": ..., "text_to_image_R@1": ..., ...}``
    """
    if image_emb.shape != text_emb.shape or image_emb.ndim != 2:
        raise ValueError(
            f"expected two (N, D) embeddings of the same shape, got "
            f"{tuple(image_emb.shape)} and {tuple(text_emb.shape)}"
        )
    if image_emb.shape[0] == 0:
        raise ValueError("no embeddings to evaluate: the evaluation set is empty")
    sim = image_emb.float() @ text_emb.float().T  # (N, N)
    out = {}
    for k in ks:
        k_eff = min(k, sim.shape[0])
        out[f"image_to_text_R@{k}"] = recall_at_k(
            sim, k=k_eff, query_groups=groups, gallery_groups=groups
        )
        out[f"text_to_image_R@{k}"] = recall_at_k(
            sim.T, k=k_eff, query_groups=groups, gallery_groups=groups
        )
    return out
