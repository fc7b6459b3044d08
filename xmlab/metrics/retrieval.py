"""Retrieval metrics: does each query find its partners among all items of the other modality?

A query ranks every gallery item by cosine similarity. The *rank* of a query is the position of
its first relevant item (1 = found first); Recall@K is the fraction of queries with rank <= K;
mean and median rank summarise the ranks; average precision also rewards finding *all* the
relevant items early, when a query has many (every image of the same digit, say).

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
        raise ValueError("pass both query_labels and gallery_labels, or neither")
    if query_labels is None:
        if n_queries != n_gallery:
            raise ValueError(
                f"{n_queries} queries but {n_gallery} gallery items, and no labels: pass "
                "query_labels and gallery_labels to say which items are relevant to which query"
            )
        return torch.arange(n_queries), torch.arange(n_gallery)
    q, g = torch.as_tensor(query_labels).flatten(), torch.as_tensor(gallery_labels).flatten()
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
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    checks.same_width(queries, gallery, ("query", "gallery"))
    for start in range(0, queries.shape[0], chunk_size):
        yield start, queries[start : start + chunk_size] @ gallery.T  # (c, G)


def _rank_block(block: torch.Tensor, relevant: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """First-relevant rank (1-based) and average precision of each row of a scored block.

    Ties are broken against the query: an irrelevant item scoring *equal* to a relevant one is
    ranked before it, so a model that scores everything the same earns nothing.
    """
    by_relevance = relevant.int().argsort(dim=1, stable=True)  # (c, G) irrelevant first
    scores = block.gather(1, by_relevance)  # (c, G)
    order = scores.argsort(dim=1, descending=True, stable=True)  # (c, G)
    hits = relevant.gather(1, by_relevance.gather(1, order)).float()  # (c, G) in ranked order
    first = hits.argmax(dim=1) + 1  # (c,)
    precision = hits.cumsum(1) / torch.arange(1, hits.shape[1] + 1, device=hits.device)
    return first, (precision * hits).sum(1) / hits.sum(1)  # (c,), (c,)


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
    q_lab, g_lab = relevance_labels(len(queries), len(gallery), query_labels, gallery_labels)
    q_lab, g_lab = q_lab.to(queries.device), g_lab.to(queries.device)
    ranks, aps = [], []
    for start, block in similarity_chunks(
        queries, gallery.to(queries.device), chunk_size=chunk_size
    ):
        relevant = q_lab[start : start + len(block), None] == g_lab[None, :]  # (c, G)
        if not relevant.any(1).all():
            row = start + int((~relevant.any(1)).nonzero()[0])
            raise ValueError(
                f"query {row} (label {int(q_lab[row])}) has no relevant item in the gallery: "
                "every query label must appear among the gallery labels"
            )
        first, ap = _rank_block(block, relevant)
        ranks.append(first.cpu())
        aps.append(ap.cpu())
    return torch.cat(ranks), torch.cat(aps)


def summarize_ranks(
    ranks: torch.Tensor, *, ks: Sequence[int], n_gallery: int, prefix: str = ""
) -> dict[str, float]:
    """``{prefix}R@K`` for every K, ``{prefix}mean_rank`` and ``{prefix}median_rank``."""
    out = {}
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
    if similarity.ndim != 2 or 0 in similarity.shape:
        raise ValueError(f"expected a non-empty (Q, G) similarity, got {tuple(similarity.shape)}")
    q, g = similarity.shape
    if not 1 <= k <= g:
        raise ValueError(f"k must be between 1 and the gallery size {g}, got {k}")
    if torch.isnan(similarity).any():
        raise ValueError("similarity contains NaN: check the embeddings")
    if query_groups is None and gallery_groups is None and q != g:
        raise ValueError(f"{q} queries and {g} gallery items: pass groups to say which match")
    query_groups, gallery_groups = relevance_labels(q, g, query_groups, gallery_groups)
    top = similarity.topk(k, dim=1).indices  # (Q, k)
    hits = gallery_groups.to(top.device)[top] == query_groups.to(top.device)[:, None]  # (Q, k)
    return hits.any(dim=1).float().mean().item()


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
    ranks, aps = query_ranks(
        queries,
        gallery,
        query_labels=query_labels,
        gallery_labels=gallery_labels,
        chunk_size=chunk_size,
    )
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
        raise ValueError("mean average precision needs query_labels and gallery_labels")
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
        out.update(
            rank_metrics(
                q,
                g,
                ks=ks,
                query_labels=groups,
                gallery_labels=groups,
                prefix=name,
                chunk_size=chunk_size,
            )
        )
    return out
