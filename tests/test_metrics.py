import pytest
import torch

import xmlab as xm


def reference_recall(sim, k, groups):
    """For each query: is any of the k most similar gallery items in the same group?"""
    hits = 0
    for i in range(sim.shape[0]):
        order = sorted(range(sim.shape[1]), key=lambda j: -sim[i, j].item())[:k]
        hits += any(groups[j] == groups[i] for j in order)
    return hits / sim.shape[0]


@pytest.mark.parametrize("k", [1, 3, 10])
def test_recall_matches_reference_loop(k):
    sim = torch.randn(30, 30)
    groups = torch.randint(0, 20, (30,))
    got = xm.metrics.recall_at_k(sim, k=k, query_groups=groups, gallery_groups=groups)
    assert got == pytest.approx(reference_recall(sim, k, groups))
    got_plain = xm.metrics.recall_at_k(sim, k=k)
    assert got_plain == pytest.approx(reference_recall(sim, k, torch.arange(30)))


def test_perfect_and_reversed_similarity():
    eye = torch.eye(5)
    assert xm.metrics.recall_at_k(eye, k=1) == 1.0
    assert xm.metrics.recall_at_k(-eye, k=4) == 0.0


def test_identical_captions_count_as_hits():
    texts = ["a", "b", "a"]
    groups = xm.metrics.group_ids(texts)
    assert groups.tolist() == [0, 1, 0]
    sim = torch.tensor([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    assert xm.metrics.recall_at_k(sim, k=1, query_groups=groups, gallery_groups=groups) == 1.0
    assert xm.metrics.recall_at_k(sim, k=1) == pytest.approx(1 / 3)


def test_retrieval_metrics_keys_and_directions():
    img = torch.eye(4)
    txt = torch.eye(4)[[0, 1, 3, 2]]  # texts 2 and 3 swapped
    out = xm.metrics.retrieval_metrics(img, txt, ks=(1, 2))
    assert set(out) == {
        "image_to_text_R@1",
        "text_to_image_R@1",
        "image_to_text_R@2",
        "text_to_image_R@2",
    }
    assert out["image_to_text_R@1"] == 0.5 and out["text_to_image_R@1"] == 0.5
    assert out["image_to_text_R@2"] >= out["image_to_text_R@1"]


def test_directions_differ_when_similarity_is_asymmetric():
    img = torch.tensor([[1.0, 0.0], [0.9, 0.1]])
    txt = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    out = xm.metrics.retrieval_metrics(img, txt, ks=(1,))
    # both images prefer text 0; text 1 prefers image 1
    assert out["image_to_text_R@1"] == 0.5 and out["text_to_image_R@1"] == 1.0


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="between 1 and the gallery size 3"):
        xm.metrics.recall_at_k(torch.zeros(3, 3), k=4)
    with pytest.raises(ValueError, match="NaN"):
        xm.metrics.recall_at_k(torch.full((2, 2), float("nan")), k=1)
    with pytest.raises(ValueError, match="pass groups"):
        xm.metrics.recall_at_k(torch.zeros(2, 3), k=1)
    with pytest.raises(ValueError, match="same shape"):
        xm.metrics.retrieval_metrics(torch.zeros(3, 2), torch.zeros(4, 2))
    with pytest.raises(ValueError, match="empty"):
        xm.metrics.retrieval_metrics(torch.zeros(0, 2), torch.zeros(0, 2))
