"""Ranks: where a query finds its relevant gallery items, with one rule for ties.

Every retrieval number of the kit (Recall@K, mean and median rank, mAP) comes from
:func:`rank_block`. Its tie rule is the pessimistic one of open_clip's evaluation: a gallery
item that scores *the same* as a relevant item is ranked before it, so a model that gives every
item one score earns nothing (with the optimistic rule it would find everything first).

Nothing is sorted to find a rank: it is one plus the number of irrelevant items scoring at least
as high as the best relevant one -- one comparison and a count per gallery item. Average
precision counts the same way when a query has a few relevant items, and sorts each row once
when it has many.

Explained in: notebooks/05_evaluation.ipynb
"""

from __future__ import annotations

import torch

FEW = 8  # up to this many relevant items per query, average precision counts instead of sorting
SORT_BUDGET = 1 << 22  # scores sorted at once when a query has many relevant items


def rank_block(
    scores: torch.Tensor, relevant: torch.Tensor | None = None, *, start: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank of the first relevant item (1-based) and average precision, for each row.

    Ties are broken against the query: a gallery item scoring *the same* as a relevant one is
    ranked before it. So the rank is one plus the number of irrelevant items scoring at least
    as high as the best relevant one: one comparison and a count per row, no sorting.

    Shapes:
        scores: (c, G); relevant: (c, G) bool, or None when row ``i``'s only relevant item
        is column ``start + i`` -> (c,) long ranks, (c,) float average precisions.
    """
    if relevant is None:
        rows = torch.arange(len(scores), device=scores.device)
        own = scores[rows, rows + start][:, None]  # (c, 1) each query's partner
        ranks = (scores >= own).sum(1)  # (c,) the partner and every item scoring as high
        return ranks, 1.0 / ranks
    best = scores.masked_fill(~relevant, float("-inf")).amax(1, keepdim=True)  # (c, 1)
    ranks = ((scores >= best) & ~relevant).sum(1) + 1  # (c,)
    most = int(relevant.sum(1).max())
    if most == 1:
        return ranks, 1.0 / ranks
    ap = (
        _ap_by_counting(scores, relevant, most) if most <= FEW else _ap_by_sorting(scores, relevant)
    )
    return ranks, ap


def _ap_by_counting(scores: torch.Tensor, relevant: torch.Tensor, most: int) -> torch.Tensor:
    """Average precision when each row has at most ``most`` relevant items: the j-th best of
    them sits at position j + (irrelevant items scoring at least as high)."""
    top = scores.masked_fill(~relevant, float("-inf")).topk(most, dim=1).values  # (c, most)
    n_relevant = relevant.sum(1)  # (c,)
    total = torch.zeros(len(scores), device=scores.device)
    for j in range(most):
        above = ((scores >= top[:, j : j + 1]) & ~relevant).sum(1)  # (c,)
        total += torch.where(j < n_relevant, (j + 1) / (j + 1 + above), 0.0)
    return total / n_relevant


def _ap_by_sorting(scores: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """Average precision with one sort per row, for queries with many relevant items."""
    rows = max(1, SORT_BUDGET // scores.shape[1])
    return torch.cat([_ap_sorted(s, r) for s, r in zip(scores.split(rows), relevant.split(rows))])


def _ap_sorted(scores: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    values, order = scores.sort(dim=1)  # (c, G) ascending
    hits = relevant.gather(1, order).long()  # (c, G)
    below = hits.cumsum(1) - hits  # relevant items before each position
    first = torch.searchsorted(values, values)  # (c, G) where each item's tie group starts
    n_relevant = hits.sum(1, keepdim=True)  # (c, 1)
    i = n_relevant - below  # a relevant item is the i-th best relevant one
    at_or_above = scores.shape[1] - first  # items scoring at least as high ...
    irrelevant_above = at_or_above - (n_relevant - below.gather(1, first))  # ... of them irrelevant
    return (hits * i / (i + irrelevant_above)).sum(1) / n_relevant.squeeze(1)
