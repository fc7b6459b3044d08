"""Ranks against a slow, obviously correct loop, ties included: one tie rule everywhere."""

import math

import pytest
import torch

import xmlab as xm
from xmlab.metrics import ranks


def slow_ranks(scores, relevant):
    """Sort each row by score, best first, an irrelevant item before a relevant one of the same
    score (pessimistic ties); read off the first relevant position and the average precision."""
    first, aps = [], []
    for row, rel in zip(scores.tolist(), relevant.tolist()):
        order = sorted(range(len(row)), key=lambda j: (-row[j], rel[j]))
        hits = [rel[j] for j in order]
        first.append(hits.index(True) + 1)
        found, precisions = 0, []
        for position, hit in enumerate(hits, start=1):
            if hit:
                found += 1
                precisions.append(found / position)
        aps.append(sum(precisions) / len(precisions))
    return torch.tensor(first), torch.tensor(aps)


@pytest.mark.parametrize("classes", [40, 12, 3])  # one, a few and many relevant items a query
def test_rank_block_equals_the_slow_loop_with_many_ties(classes):
    g = torch.Generator().manual_seed(classes)
    scores = torch.randint(0, 5, (30, 40), generator=g).float()  # five values: ties everywhere
    labels = torch.arange(40) % classes
    relevant = labels[:30, None] == labels[None, :]
    got_ranks, got_ap = ranks.rank_block(scores, relevant)
    want_ranks, want_ap = slow_ranks(scores, relevant)
    assert torch.equal(got_ranks, want_ranks)
    torch.testing.assert_close(got_ap.float(), want_ap.float())


def test_the_sorting_path_splits_rows_and_still_agrees(monkeypatch):
    monkeypatch.setattr(ranks, "SORT_BUDGET", 7)  # one row at a time
    g = torch.Generator().manual_seed(1)
    scores = torch.randint(0, 3, (9, 20), generator=g).float()
    relevant = (torch.arange(9)[:, None] % 2) == (torch.arange(20)[None, :] % 2)  # 10 relevant
    torch.testing.assert_close(
        ranks.rank_block(scores, relevant)[1], slow_ranks(scores, relevant)[1]
    )


def test_identity_relevance_without_a_mask_equals_the_slow_loop():
    g = torch.Generator().manual_seed(2)
    scores = torch.randint(0, 4, (6, 9), generator=g).float()
    relevant = torch.zeros(6, 9, dtype=torch.bool)
    relevant[torch.arange(6), torch.arange(6) + 3] = True  # row i's partner is column 3 + i
    got_ranks, got_ap = ranks.rank_block(scores, None, start=3)
    want_ranks, want_ap = slow_ranks(scores, relevant)
    assert torch.equal(got_ranks, want_ranks)
    torch.testing.assert_close(got_ap, want_ap)


def unit(n, d, seed):
    return torch.nn.functional.normalize(
        torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=1
    )


def test_every_metric_follows_the_same_pessimistic_tie_rule():
    same = torch.ones(4, 2) / math.sqrt(2)  # every item scores the same against every query
    assert xm.metrics.recall_at_k(same @ same.T, k=1) == 0.0  # was 0.25: ties counted as hits
    assert xm.metrics.recall_at_k(same @ same.T, k=4) == 1.0
    metrics = xm.metrics.retrieval_metrics(same, same, ks=(1, 4))
    assert metrics["image_to_text_R@1"] == 0.0 and metrics["image_to_text_mean_rank"] == 4.0
    assert metrics["text_to_image_mAP"] == 0.25
    groups = torch.tensor([0, 0, 1, 1])
    assert (
        xm.metrics.recall_at_k(same @ same.T, k=2, query_groups=groups, gallery_groups=groups)
        == 0.0
    )
    assert xm.metrics.mean_average_precision(
        same, same, query_labels=groups, gallery_labels=groups
    ) == pytest.approx((1 / 3 + 2 / 4) / 2)


def test_recall_at_k_agrees_with_rank_metrics_on_random_and_tied_scores():
    img, txt = unit(50, 8, 0), unit(50, 8, 1)
    txt[10:20] = img[10:20]  # exact matches
    txt[30] = txt[31]  # a tie between two captions
    full = xm.metrics.rank_metrics(img, txt, ks=(1, 5, 10))
    for k in (1, 5, 10):
        assert xm.metrics.recall_at_k(img @ txt.T, k=k) == pytest.approx(full[f"R@{k}"])


def test_chunks_do_not_change_any_metric():
    img, txt = unit(37, 6, 3), unit(37, 6, 4)
    groups = torch.arange(37) % 5
    whole = xm.metrics.retrieval_metrics(img, txt, groups=groups, chunk_size=1024)
    assert xm.metrics.retrieval_metrics(img, txt, groups=groups, chunk_size=4) == pytest.approx(
        whole
    )
