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
        f"{d}_{m}"
        for d in ("image_to_text", "text_to_image")
        for m in ("R@1", "R@2", "mean_rank", "median_rank", "mAP")
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
    with pytest.raises(ValueError, match="K=5 but the gallery has 3 items"):
        xm.metrics.retrieval_metrics(torch.eye(3), torch.eye(3), ks=(1, 5))
    with pytest.raises(ValueError, match="NaN"):
        xm.metrics.retrieval_metrics(torch.full((2, 2), float("nan")), torch.eye(2))
    with pytest.raises(ValueError, match="empty"):
        xm.metrics.recall_at_k(torch.zeros(0, 3), k=1)


# ---- ranks, mean / median rank, mAP, label-level relevance, chunks ----


def reference_ranks_and_ap(sim, q_lab, g_lab):
    """Sort each row by hand; rank of the first relevant item and average precision."""
    ranks, aps = [], []
    for i in range(sim.shape[0]):
        order = sorted(range(sim.shape[1]), key=lambda j: -sim[i, j].item())
        relevant = [g_lab[j] == q_lab[i] for j in order]
        ranks.append(relevant.index(True) + 1)
        found, precisions = 0, []
        for pos, rel in enumerate(relevant, start=1):
            if rel:
                found += 1
                precisions.append(found / pos)
        aps.append(sum(precisions) / len(precisions))
    return ranks, aps


def unit(n, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=-1)


@pytest.mark.parametrize("chunk_size", [1, 7, 1024])
def test_ranks_and_ap_match_reference_loop_in_any_chunking(chunk_size):
    q, g = unit(23, seed=1), unit(31, seed=2)
    q_lab, g_lab = torch.randint(0, 4, (23,)), torch.arange(31) % 4
    ranks, aps = xm.metrics.query_ranks(
        q, g, query_labels=q_lab, gallery_labels=g_lab, chunk_size=chunk_size
    )
    ref_ranks, ref_aps = reference_ranks_and_ap(q @ g.T, q_lab.tolist(), g_lab.tolist())
    assert ranks.tolist() == ref_ranks
    assert aps.tolist() == pytest.approx(ref_aps, abs=1e-6)


def test_chunked_metrics_equal_full_matrix_metrics():
    img, txt = unit(50, seed=3), unit(50, seed=4)
    groups = torch.randint(0, 30, (50,))
    full = xm.metrics.retrieval_metrics(img, txt, ks=(1, 5), groups=groups, chunk_size=10_000)
    chunked = xm.metrics.retrieval_metrics(img, txt, ks=(1, 5), groups=groups, chunk_size=6)
    assert chunked == pytest.approx(full)
    # and R@K agrees with recall_at_k on the full similarity matrix
    sim = img @ txt.T
    assert full["image_to_text_R@5"] == pytest.approx(
        xm.metrics.recall_at_k(sim, k=5, query_groups=groups, gallery_groups=groups)
    )


def test_mean_median_rank_and_recall_from_known_ranks():
    # query i's partner is placed at rank i + 1 by construction
    n = 5
    sim = torch.zeros(n, n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        order = others[:i] + [i] + others[i:]
        for pos, j in enumerate(order):
            sim[i, j] = 1.0 - 0.1 * pos
    ranks, _ = xm.metrics.query_ranks(sim, torch.eye(n))
    assert ranks.tolist() == [1, 2, 3, 4, 5]
    out = xm.metrics.summarize_ranks(ranks, ks=(1, 3), n_gallery=n, prefix="x_")
    expected = {"x_R@1": 0.2, "x_R@3": 0.6, "x_mean_rank": 3.0, "x_median_rank": 3.0}
    assert out == pytest.approx(expected)


def test_map_is_one_when_all_relevant_items_come_first_and_lower_otherwise():
    labels = torch.tensor([0, 0, 1, 1])
    emb = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    kw = dict(query_labels=labels, gallery_labels=labels)
    assert xm.metrics.mean_average_precision(emb, emb, **kw) == 1.0
    mixed = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1], [0.1, 0.9]])
    # query 0 ranks: relevant, irrelevant, irrelevant, relevant -> AP (1/1 + 2/4) / 2
    _, ref_aps = reference_ranks_and_ap(emb @ mixed.T, labels.tolist(), labels.tolist())
    assert ref_aps[0] == 0.75
    got = xm.metrics.mean_average_precision(emb, mixed, **kw)
    assert got == pytest.approx(sum(ref_aps) / 4) and got < 1.0


def test_ties_count_against_the_query():
    out = xm.metrics.rank_metrics(torch.ones(4, 2), torch.ones(4, 2), ks=(1,))
    assert out["R@1"] == 0.0 and out["mean_rank"] == 4.0


def test_label_level_retrieval_with_different_sizes_needs_labels():
    q, g = unit(3), unit(6, seed=9)
    with pytest.raises(ValueError, match="pass query_labels and gallery_labels"):
        xm.metrics.rank_metrics(q, g, ks=(1,))
    with pytest.raises(ValueError, match="needs query_labels and gallery_labels"):
        xm.metrics.mean_average_precision(q, g, query_labels=None, gallery_labels=None)
    with pytest.raises(ValueError, match="2 query labels for 3 queries"):
        xm.metrics.rank_metrics(q, g, query_labels=[0, 1], gallery_labels=[0] * 6)
    with pytest.raises(ValueError, match="query 2 \\(label 7\\) has no relevant item"):
        xm.metrics.rank_metrics(q, g, query_labels=[0, 1, 7], gallery_labels=[0, 1] * 3)
    with pytest.raises(
        ValueError, match="query embeddings have 8 dimensions but gallery embeddings have 4"
    ):
        xm.metrics.rank_metrics(q, unit(3, d=4))
    out = xm.metrics.rank_metrics(q, g, ks=(6,), query_labels=[0, 1, 0], gallery_labels=[0, 1] * 3)
    assert out["R@6"] == 1.0


# ---- zero-shot, linear probe, confusion matrix ----


def fake_text_encoder(table):
    """Each prompt is embedded as the fixed vector of its text (a lookup table)."""
    return lambda texts: torch.stack([table[t] for t in texts])


def test_zero_shot_classifier_averages_normalised_prompts():
    table = {
        "a cat": torch.tensor([2.0, 0.0]),
        "the cat": torch.tensor([0.0, 1.0]),
        "a dog": torch.tensor([-1.0, 0.0]),
        "the dog": torch.tensor([-3.0, 0.0]),
    }
    classes = xm.metrics.zero_shot_classifier(
        fake_text_encoder(table), ["cat", "dog"], ["a {}", "the {}"]
    )
    s = 2**-0.5
    assert torch.allclose(classes, torch.tensor([[s, s], [-1.0, 0.0]]))
    images = torch.tensor([[1.0, 0.1], [-1.0, 0.3], [0.2, 1.0]])
    assert xm.metrics.zero_shot_predict(images, classes).tolist() == [0, 1, 0]
    assert xm.metrics.zero_shot_accuracy(images, classes, [0, 1, 1]) == pytest.approx(2 / 3)


def test_zero_shot_bad_inputs():
    enc = fake_text_encoder({"a cat": torch.ones(2)})
    with pytest.raises(ValueError, match="needs a '\\{\\}'"):
        xm.metrics.zero_shot_classifier(enc, ["cat"], ["a cat"])
    with pytest.raises(ValueError, match="at least one class"):
        xm.metrics.zero_shot_classifier(enc, [], ["a {}"])
    classes = torch.eye(2)
    with pytest.raises(ValueError, match="every image item needs a label"):
        xm.metrics.zero_shot_accuracy(torch.eye(2), classes, None)
    with pytest.raises(ValueError, match="got 3 labels for 2"):
        xm.metrics.zero_shot_accuracy(torch.eye(2), classes, [0, 1, 1])
    with pytest.raises(
        ValueError, match="image embeddings have 3 dimensions but class embeddings have 2"
    ):
        xm.metrics.zero_shot_predict(torch.ones(2, 3), classes)


def test_confusion_matrix_matches_scikit_learn():
    from sklearn.metrics import confusion_matrix

    y, p = torch.randint(0, 4, (60,)), torch.randint(0, 4, (60,))
    got = xm.metrics.confusion_matrix(y, p, n_classes=4)
    assert got.tolist() == confusion_matrix(y.numpy(), p.numpy(), labels=range(4)).tolist()
    assert got.sum() == 60 and got.trace() == (y == p).sum()


def test_linear_probe_reads_separable_classes_and_not_random_labels():
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(200) % 3
    centres = 4 * torch.randn(3, 16, generator=g)
    emb = centres[labels] + torch.randn(200, 16, generator=g)
    assert xm.metrics.linear_probe(emb[:100], labels[:100], emb[100:], labels[100:]) > 0.95
    shuffled = labels[torch.randperm(200, generator=g)]
    assert xm.metrics.linear_probe(emb[:100], shuffled[:100], emb[100:], shuffled[100:]) < 0.6
    with pytest.raises(ValueError, match="at least two classes"):
        xm.metrics.linear_probe(emb[:10], torch.zeros(10), emb[10:20], torch.zeros(10))
    with pytest.raises(ValueError, match="test embeddings have 8 dimensions"):
        xm.metrics.linear_probe(emb[:100], labels[:100], emb[100:, :8], labels[100:])


# ---- modality gap, hard negatives, noise ----


def test_modality_gap_of_two_offset_cones():
    base = unit(100, d=16)
    offset = torch.zeros(16)
    offset[0] = 3.0
    img = torch.nn.functional.normalize(base + offset, dim=-1)
    txt = torch.nn.functional.normalize(base - offset, dim=-1)
    gap = xm.metrics.modality_gap(img, txt)
    ref = (img.mean(0) - txt.mean(0)).norm().item()
    assert gap == pytest.approx(ref) and gap > 1.0
    assert xm.metrics.modality_gap(img, img) == pytest.approx(0.0, abs=1e-6)
    assert xm.metrics.modality_gap(img[torch.randperm(100)], txt[:40]) > 1.0  # unpaired is fine
    closed = xm.metrics.shift_embeddings(img, txt, fraction=1.0)
    assert xm.metrics.modality_gap(*closed) < 0.3 * gap
    assert torch.allclose(closed[0].norm(dim=1), torch.ones(100))
    with pytest.raises(ValueError, match="have 16 dimensions but text embeddings have 8"):
        xm.metrics.modality_gap(img, txt[:, :8])


def reference_hard_negative(img, true, neg, types, owners):
    by_type = {}
    for j, t in enumerate(types):
        i = owners[j]
        pos, bad = float(img[i] @ true[i]), float(img[i] @ neg[j])
        by_type.setdefault(t, []).append(1.0 if pos > bad else 0.5 if pos == bad else 0.0)
    out = {t: sum(v) / len(v) for t, v in by_type.items()}
    out["all"] = sum(sum(v) for v in by_type.values()) / len(types)
    return out


def test_hard_negative_accuracy_matches_reference_loop():
    img, true, neg = unit(10, seed=1), unit(10, seed=2), unit(25, seed=3)
    owners = torch.randint(0, 10, (25,)).tolist()
    types = [["swap", "edit", "shuffle"][j % 3] for j in range(25)]
    got = xm.metrics.hard_negative_accuracy(img, true, neg, types, owners=owners)
    assert got == pytest.approx(reference_hard_negative(img, true, neg, types, owners))


def bag_of_words_embed(texts, vocab):
    """A model that only counts words: the caption embedding is its word histogram."""
    rows = torch.zeros(len(texts), len(vocab))
    for r, text in enumerate(texts):
        for word in text.split():
            rows[r, vocab[word]] += 1
    return torch.nn.functional.normalize(rows, dim=-1)


def test_a_bag_of_words_model_is_at_chance_on_swaps_and_shuffles_of_real_shapes():
    from xmlab.data import grammar

    scenes = xm.data.sample_scenes(60, seed=4)
    true = xm.data.captions(scenes)
    owners, types, texts = xm.metrics.negative_table(grammar.hard_negatives(scenes))
    vocab = {w: i for i, w in enumerate(sorted({w for t in true + texts for w in t.split()}))}
    true_emb = bag_of_words_embed(true, vocab)
    neg_emb = bag_of_words_embed(texts, vocab)
    acc = xm.metrics.hard_negative_accuracy(true_emb, true_emb, neg_emb, types, owners=owners)
    assert acc["shuffle"] == 0.5 and acc["attribute_swap"] == 0.5  # same words: a coin toss
    assert 0.5 < acc["relation_swap"] < 1.0  # only "right of" for "left of" changes a word
    assert acc["attribute_edit"] == 1.0 and acc["object_replace"] == 1.0


def test_negative_table_and_hard_negative_bad_inputs():
    owners, types, texts = xm.metrics.negative_table([{"a": "x", "b": None}, {"a": "y"}])
    assert (owners, types, texts) == ([0, 1], ["a", "a"], ["x", "y"])
    img = unit(3)
    with pytest.raises(ValueError, match="image batch has 3 items but true caption batch has 2"):
        xm.metrics.hard_negative_accuracy(img, img[:2], img, ["a"] * 3)
    with pytest.raises(ValueError, match="4 negatives for 3 images: pass owners"):
        xm.metrics.hard_negative_accuracy(img, img, unit(4), ["a"] * 4)
    with pytest.raises(ValueError, match="one owner and one type per negative"):
        xm.metrics.hard_negative_accuracy(img, img, img, ["a"] * 2)
    with pytest.raises(ValueError, match="owners must index the 3 images"):
        xm.metrics.hard_negative_accuracy(img, img, img, ["a"] * 3, owners=[0, 1, 3])
    with pytest.raises(ValueError, match="NaN"):
        xm.metrics.hard_negative_accuracy(img, img, img * float("nan"), ["a"] * 3)


def test_noise_curve_and_add_noise():
    images = torch.rand(4, 3, 8, 8)
    assert torch.equal(xm.metrics.add_noise(images, 0.0), images)
    noisy = xm.metrics.add_noise(images, 0.5, seed=1)
    assert noisy.min() >= 0 and noisy.max() <= 1 and not torch.equal(noisy, images)
    assert torch.equal(noisy, xm.metrics.add_noise(images, 0.5, seed=1))
    assert xm.metrics.add_noise((images * 255).byte(), 0.0).max() <= 1.0
    curve = xm.metrics.accuracy_under_noise(lambda s: 1.0 - s, [0, 0.25, 0.5])
    assert curve == {"noise": [0.0, 0.25, 0.5], "score": [1.0, 0.75, 0.5]}
    with pytest.raises(ValueError, match="at least one noise level"):
        xm.metrics.accuracy_under_noise(lambda s: 1.0, [])
    with pytest.raises(ValueError, match="increasing"):
        xm.metrics.accuracy_under_noise(lambda s: 1.0, [0.5, 0.1])
    with pytest.raises(ValueError, match=">= 0"):
        xm.metrics.add_noise(images, -1.0)
