"""Retrieval metrics: does each query find its partners among all items of the other modality?

A query ranks every gallery item by cosine similarity. The *rank* of a query is the position of
its first relevant item (1 = found first); Recall@K is the fraction of queries with rank <= K;
mean and median rank summarise the ranks; average precision also rewards finding *all* the
relevant items early, when a query has many (every image of the same digit, say).

One tie rule holds everywhere (``xmlab/metrics/ranks.py``), the pessimistic one of open_clip's
evaluation: a gallery item that scores *the same* as a relevant item is ranked before it, so a
model that gives every item one score earns nothing.

Relevance is the identity by default (query ``i`` matches gallery item ``i``), or label-level:
gallery items whose label equals the query's label are all correct. Similarities are computed
in chunks of queries, so a 50,000-item gallery never needs a 50,000 x 50,000 matrix; the results
equal those of the full matrix.

Keys follow open_clip: ``image_to_text_R@1``, ``text_to_image_mean_rank``, ...

Explained in: notebooks/00_welcome.ipynb and notebooks/05_evaluation.ipynb
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from xmlab import checks
from xmlab.metrics.ranks import rank_block

CHUNK_SIZE = 1024  # queries scored at once: memory is CHUNK_SIZE x gallery size floats


def group_ids(texts: Sequence[str]) -> torch.Tensor:
    """An id per text such that identical texts share an id: ``["a", "b", "a"]`` -> ``[0, 1, 0]``.

    Two items whose captions are the same text are equivalent answers for retrieval.
    """
    index: dict[str, int] = {}
    return torch.tensor([index.setdefault(t, len(index)) for t in texts])


def check_embeddings(emb: torch.Tensor, name: str) -> torch.Tensor:
    """``emb`` as float32 without gradients, after checking it is a non-empty, finite ``(N, D)``
    tensor (``xmlab.checks.embeddings``)."""
    return checks.embeddings(emb, name).detach().float()


def relevance_labels(
    n_queries: int,
    n_gallery: int,
    query_labels: torch.Tensor | Sequence[int] | None,
    gallery_labels: torch.Tensor | Sequence[int] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels that say which gallery items answer which query (equal label = relevant).

    Without labels, query ``i`` is answered by gallery item ``i`` only, which needs as many
    queries as gallery items.
    """
    if (query_labels is None) != (gallery_labels is None):
        given = "query" if gallery_labels is None else "gallery"
        raise ValueError(
            f"got {given} labels only, expected both query_labels and gallery_labels, or "
            "neither: pass the other one too"
        )
    if query_labels is None:
        if n_queries != n_gallery:
            raise ValueError(
                f"{n_queries} queries but {n_gallery} gallery items, and no labels: pass "
                "query_labels and gallery_labels to say which items are relevant to which query"
            )
        return torch.arange(n_queries), torch.arange(n_gallery)
    q, g = (
        checks.label_ids(query_labels, "query labels"),
        checks.label_ids(gallery_labels, "gallery labels"),
    )
    if len(q) != n_queries or len(g) != n_gallery:
        raise ValueError(
            f"got {len(q)} query labels for {n_queries} queries and {len(g)} gallery labels "
            f"for {n_gallery} gallery items: give every item exactly one label"
        )
    return q, g


def similarity_chunks(
    queries: torch.Tensor, gallery: torch.Tensor, *, chunk_size: int = CHUNK_SIZE
) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield ``(start, block)`` with ``block = queries[start:start + c] @ gallery.T``.

    Shapes:
        queries: (Q, D), gallery: (G, D) -> blocks (c, G) with c <= chunk_size.
    """
    checks.number(chunk_size, "chunk_size", integer=True, at_least=1, fix="e.g. 1024 queries")
    checks.same_width(queries, gallery, ("query", "gallery"))
    for start in range(0, queries.shape[0], chunk_size):
        yield start, queries[start : start + chunk_size] @ gallery.T  # (c, G)


def query_ranks(
    queries: torch.Tensor,
    gallery: torch.Tensor,
    *,
    query_labels: torch.Tensor | Sequence[int] | None = None,
    gallery_labels: torch.Tensor | Sequence[int] | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank of the first relevant gallery item and average precision, for every query.

    Shapes:
        queries: (Q, D), gallery: (G, D), labels: (Q,) and (G,) -> (Q,) long, (Q,) float.
    """
    queries, gallery = check_embeddings(queries, "query"), check_embeddings(gallery, "gallery")
    return _query_ranks(queries, gallery, query_labels, gallery_labels, chunk_size)


def _query_ranks(queries, gallery, query_labels, gallery_labels, chunk_size: int):
    """:func:`query_ranks` of checked embeddings."""
    labels = relevance_labels(len(queries), len(gallery), query_labels, gallery_labels)
    q_lab, g_lab = (x.to(queries.device) for x in labels)
    identity = query_labels is None  # query i matches gallery item i: no mask needed
    ranks, aps = [], []
    for start, block in similarity_chunks(
        queries, gallery.to(queries.device), chunk_size=chunk_size
    ):
        relevant = None if identity else q_lab[start : start + len(block), None] == g_lab[None, :]
        if relevant is not None and not relevant.any(1).all():
            row = start + int((~relevant.any(1)).nonzero()[0])
            raise ValueError(
                f"query {row} (label {int(q_lab[row])}) has no relevant item in the gallery: "
                "every query label must appear among the gallery labels"
            )
        first, ap = rank_block(block, relevant, start=start)
        ranks.append(first.cpu())
        aps.append(ap.cpu())
    return torch.cat(ranks), torch.cat(aps)


def summarize_ranks(
    ranks: torch.Tensor, *, ks: Sequence[int], n_gallery: int, prefix: str = ""
) -> dict[str, float]:
    """``{prefix}R@K`` for every K, ``{prefix}mean_rank`` and ``{prefix}median_rank``."""
    out = {}
    if isinstance(ks, (int, str)) or not ks:
        raise TypeError(
            f"ks must be a list of cut-offs such as (1, 5, 10), got {ks!r}: e.g. ks=(1,)"
        )
    for k in ks:
        if not 1 <= k <= n_gallery:
            raise ValueError(
                f"K={k} but the gallery has {n_gallery} items: choose K between 1 and {n_gallery}"
            )
        out[f"{prefix}R@{k}"] = (ranks <= k).float().mean().item()
    out[f"{prefix}mean_rank"] = ranks.float().mean().item()
    out[f"{prefix}median_rank"] = ranks.float().median().item()
    return out


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
    if not isinstance(similarity, torch.Tensor) or similarity.ndim != 2 or 0 in similarity.shape:
        raise ValueError(
            f"expected a non-empty (Q, G) similarity, got {checks._shape(similarity)}: pass "
            "queries @ gallery.T"
        )
    q, g = similarity.shape
    if not 1 <= k <= g:
        raise ValueError(f"k must be between 1 and the gallery size {g}, got {k}: pick such a k")
    checks.finite(similarity, "similarity", fix="check the embeddings")
    if query_groups is None and gallery_groups is None and q != g:
        raise ValueError(
            f"{q} queries but {g} gallery items and no groups (expected one gallery item per "
            "query): pass groups to say which match"
        )
    labels = relevance_labels(q, g, query_groups, gallery_groups)
    q_lab, g_lab = (x.to(similarity.device) for x in labels)
    relevant = None if query_groups is None else q_lab[:, None] == g_lab[None, :]  # (Q, G)
    ranks, _ = rank_block(similarity.detach(), relevant)
    return (ranks <= k).float().mean().item()


def rank_metrics(
    queries: torch.Tensor,
    gallery: torch.Tensor,
    *,
    ks: Sequence[int] = (1, 5, 10),
    query_labels: torch.Tensor | Sequence[int] | None = None,
    gallery_labels: torch.Tensor | Sequence[int] | None = None,
    prefix: str = "",
    chunk_size: int = CHUNK_SIZE,
) -> dict[str, float]:
    """R@K, mean rank, median rank and mAP of one retrieval direction.

    Args:
        queries: (Q, D) query embeddings (unit length: the dot product is the cosine).
        gallery: (G, D) embeddings searched.
        ks: the cut-offs K to report, each between 1 and G.
        query_labels, gallery_labels: (Q,), (G,) labels for label-level relevance; without
            them query ``i`` matches gallery item ``i``.
        prefix: put before every key, e.g. ``"image_to_text_"``.
        chunk_size: queries scored at once.

    Returns:
        ``{"{prefix}R@1": ..., "{prefix}mean_rank": ..., "{prefix}median_rank": ...,
        "{prefix}mAP": ...}``
    """
    queries, gallery = check_embeddings(queries, "query"), check_embeddings(gallery, "gallery")
    return _rank_metrics(queries, gallery, ks, (query_labels, gallery_labels), prefix, chunk_size)


def _rank_metrics(queries, gallery, ks, labels, prefix: str, chunk_size: int) -> dict:
    """:func:`rank_metrics` of checked embeddings."""
    ranks, aps = _query_ranks(queries, gallery, *labels, chunk_size)
    out = summarize_ranks(ranks, ks=ks, n_gallery=len(gallery), prefix=prefix)
    out[f"{prefix}mAP"] = aps.mean().item()
    return out


def mean_average_precision(
    queries: torch.Tensor,
    gallery: torch.Tensor,
    *,
    query_labels: torch.Tensor | Sequence[int],
    gallery_labels: torch.Tensor | Sequence[int],
    chunk_size: int = CHUNK_SIZE,
) -> float:
    """Mean over queries of the average precision: for each relevant item, the fraction of
    relevant items among those ranked up to it, averaged. 1 when every relevant item comes
    before every irrelevant one."""
    if query_labels is None or gallery_labels is None:
        raise ValueError(
            "mean average precision needs query_labels and gallery_labels (got None): pass "
            "both, or use rank_metrics for one relevant item per query"
        )
    _, aps = query_ranks(
        queries,
        gallery,
        query_labels=query_labels,
        gallery_labels=gallery_labels,
        chunk_size=chunk_size,
    )
    return aps.mean().item()


def retrieval_metrics(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    *,
    ks: Sequence[int] = (1, 5, 10),
    groups: torch.Tensor | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> dict[str, float]:
    """Retrieval in both directions for paired embeddings (row ``i`` of each is one pair).

    Args:
        image_emb: (N, D) image embeddings.
        text_emb: (N, D) text embeddings.
        ks: the cut-offs K to report, each between 1 and N.
        groups: (N,) optional ids (see :func:`group_ids`, or class labels); pairs in one group
            are equivalent, so a query may have many correct answers.
        chunk_size: queries scored at once.

    Returns:
        ``{"image_to_text_R@1", "text_to_image_R@1", ..., "image_to_text_mean_rank",
        "image_to_text_median_rank", "image_to_text_mAP", and the same for text_to_image}``
    """
    image_emb = check_embeddings(image_emb, "image")
    text_emb = check_embeddings(text_emb, "text")
    if image_emb.shape != text_emb.shape:
        raise ValueError(
            f"expected two (N, D) embeddings of the same shape, got "
            f"{tuple(image_emb.shape)} and {tuple(text_emb.shape)}: row i of each must be a pair"
        )
    out = {}
    for name, q, g in (
        ("image_to_text_", image_emb, text_emb),
        ("text_to_image_", text_emb, image_emb),
    ):
        out.update(_rank_metrics(q, g, ks, (groups, groups), name, chunk_size))
    return out
