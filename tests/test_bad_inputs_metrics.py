"""Bad inputs to evaluation (retrieval, classification, probes) and to ``xm.record``.

Each case says what must be raised and what its message must say (see ``bad_inputs.py``).
"""

import numpy as np
import pytest
import torch
from bad_inputs import case, check, table

import xmlab as xm

M = xm.metrics
A = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
B = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
LABELS = torch.tensor([0, 1, 0, 1])


CASES = [
    # --- retrieval -------------------------------------------------------------------------
    case("metrics/recall-k-zero", lambda: M.recall_at_k(A @ B.T, k=0),
         ValueError, r"between 1 and the gallery size 4", r"got 0", r"pick such a k"),
    case("metrics/recall-k-above-the-gallery", lambda: M.recall_at_k(A @ B.T, k=5),
         ValueError, r"between 1 and the gallery size 4", r"got 5", r"pick such a k"),
    case("metrics/recall-nan", lambda: M.recall_at_k(torch.full((2, 2), float("nan")), k=1),
         ValueError, r"finite numbers", r"similarity contain NaN", r"check the embeddings"),
    case("metrics/recall-inf", lambda: M.recall_at_k(torch.eye(2) * float("inf"), k=1),
         ValueError, r"finite numbers", r"inf at index \(0, 0\)", r"check the embeddings"),
    case("metrics/recall-of-a-vector", lambda: M.recall_at_k(torch.randn(3), k=1),
         ValueError, r"non-empty \(Q, G\) similarity", r"got \(3,\)", r"queries @ gallery\.T"),
    case("metrics/recall-queries-without-partners", lambda: M.recall_at_k(torch.randn(3, 4), k=1),
         ValueError, r"one gallery item per query", r"3 queries but 4 gallery items",
         r"pass groups"),
    case("metrics/retrieval-of-vectors", lambda: M.retrieval_metrics(A[0], B[0]),
         ValueError, r"shaped \(N, D\)", r"got \(8,\)", r"one row per item"),
    case("metrics/retrieval-of-nothing", lambda: M.retrieval_metrics(A[:0], B[:0]),
         ValueError, r"no image embeddings", r"shape \(0, 8\)", r"the set to score is empty"),
    case("metrics/retrieval-unpaired", lambda: M.retrieval_metrics(A, B[:3]),
         ValueError, r"same shape", r"\(4, 8\) and \(3, 8\)", r"row i of each must be a pair"),
    case("metrics/retrieval-nan", lambda: M.retrieval_metrics(A * float("nan"), B),
         ValueError, r"finite numbers", r"image embeddings contain NaN", r"check the inputs"),
    case("metrics/retrieval-integers",
         lambda: M.retrieval_metrics(torch.ones(4, 8, dtype=torch.int64), B),
         TypeError, r"as floats", r"torch\.int64", r"\.float\(\)"),
    case("metrics/k-above-the-gallery", lambda: M.retrieval_metrics(A, B),
         ValueError, r"choose K between 1 and 4", r"K=5", r"choose K"),
    case("metrics/ks-as-a-number", lambda: M.retrieval_metrics(A, B, ks=1),
         TypeError, r"list of cut-offs such as \(1, 5, 10\)", r"got 1", r"ks=\(1,\)"),
    case("metrics/labels-as-text",
         lambda: M.rank_metrics(A, B, ks=(1,), query_labels=list("abab"),
                                gallery_labels=list("abab")),
         TypeError, r"integer ids", r"got strings", r"group_ids\(texts\)"),
    case("metrics/fractional-groups",
         lambda: M.retrieval_metrics(A, B, ks=(1,), groups=torch.tensor([0.5, 0.7, 0.5, 0.7])),
         TypeError, r"integer ids", r"fractional numbers", r"class ids"),
    case("metrics/labels-one-short",
         lambda: M.rank_metrics(A, B, ks=(1,), query_labels=LABELS[:3], gallery_labels=LABELS),
         ValueError, r"exactly one label", r"got 3 query labels for 4 queries", r"give every item"),
    case("metrics/labels-on-one-side-only",
         lambda: M.rank_metrics(A, B, ks=(1,), query_labels=LABELS),
         ValueError, r"both query_labels and gallery_labels", r"got query labels only",
         r"pass the other one too"),
    case("metrics/query-label-not-in-the-gallery",
         lambda: M.rank_metrics(A, B, ks=(1,), query_labels=[0, 1, 2, 0], gallery_labels=LABELS),
         ValueError, r"must appear among the gallery labels", r"query 2 \(label 2\)",
         r"every query label"),
    case("metrics/map-without-labels", lambda: M.mean_average_precision(A, B, query_labels=None,
                                                                       gallery_labels=None),
         ValueError, r"needs query_labels and gallery_labels", r"got None", r"rank_metrics"),
    case("metrics/chunks-of-zero", lambda: M.retrieval_metrics(A, B, ks=(1,), chunk_size=0),
         ValueError, r"chunk_size must be an integer at least 1", r"got 0", r"1024 queries"),
    # --- classification and probes ---------------------------------------------------------
    case("metrics/zero-shot-widths-differ",
         lambda: M.zero_shot_accuracy(torch.randn(4, 3), torch.randn(2, 5), LABELS),
         ValueError, r"same shared space", r"3 dimensions but class embeddings have 5",
         r"embed both"),
    case("metrics/accuracy-of-nothing", lambda: M.accuracy(torch.tensor([]), torch.tensor([])),
         ValueError, r"no predictions to score", r"the evaluation set is empty", r"empty"),
    case("metrics/probe-labels-one-short",
         lambda: M.linear_probe(torch.randn(10, 3), torch.arange(9), torch.randn(4, 3), LABELS),
         ValueError, r"one label per item", r"9 labels for 10 training items", r"one label"),
    case("metrics/probe-labels-as-text",
         lambda: M.linear_probe(torch.randn(2, 3), ["cat", "dog"], torch.randn(2, 3), [0, 1]),
         TypeError, r"integer ids", r"got strings", r"group_ids"),
    case("metrics/gap-widths-differ", lambda: M.modality_gap(torch.randn(4, 3), torch.randn(4, 5)),
         ValueError, r"same shared space", r"3 dimensions but text embeddings have 5",
         r"embed both"),
    case("metrics/hard-negatives-nan",
         lambda: M.hard_negative_accuracy(A[:3], A[:3], A[:3] * float("nan"), ["a"] * 3),
         ValueError, r"finite numbers", r"contain NaN", r"check the inputs"),
    case("metrics/negative-noise", lambda: M.add_noise(torch.rand(1, 3, 4, 4), -0.1),
         ValueError, r"must be >= 0", r"got -0\.1", r"0 for none"),
    # --- xm.record -------------------------------------------------------------------------
    case("record/nan", lambda: xm.record("loss", float("nan")),
         ValueError, r"expected a finite number", r"the value is nan", r"fix it"),
    case("record/infinity", lambda: xm.record("loss", float("inf")),
         ValueError, r"expected a finite number", r"the value is inf", r"diverged"),
    case("record/numpy-nan", lambda: xm.record("loss", np.float32("nan")),
         ValueError, r"expected a finite number", r"the value is nan", r"fix it"),
    case("record/huge-string", lambda: xm.record("notes", "x" * 5_000_000),
         ValueError, r"at most 200", r"a string of 5000000 characters", r"short label"),
    case("record/empty-name", lambda: xm.record("", 1),
         ValueError, r"short non-empty name", r"got ''", r"xm\.record\(\"image_to_text_R@1\""),
    case("record/name-not-text", lambda: xm.record(3, 1.0),
         ValueError, r"non-empty name \(a str\)", r"got 3", r"e\.g\."),
    case("record/a-list", lambda: xm.record("scores", [1, 2]),
         TypeError, r"a number or a string", r"got list", r"one value per name"),
    case("record/an-array", lambda: xm.record("scores", np.ones(3)),
         TypeError, r"a number or a string", r"got ndarray", r"float\(x\)"),
    case("record/a-tensor", lambda: xm.record("scores", torch.ones(3)),
         TypeError, r"a number or a string", r"got Tensor", r"float\(x\)"),
]  # fmt: skip


@table(CASES)
def test_bad_input_gets_a_clear_error(bad):
    check(bad)


@pytest.mark.parametrize("value", [np.float32(0.5), torch.tensor(0.5), torch.tensor([0.5])])
def test_one_element_arrays_and_tensors_are_recorded_as_numbers(value, monkeypatch):
    """Documented behaviour: a NumPy scalar or a one-element tensor is recorded as its number."""
    monkeypatch.delenv("XMLAB_RECORD_FILE", raising=False)
    assert xm.record("score", value) == 0.5 and isinstance(xm.recorded()["score"], float)
