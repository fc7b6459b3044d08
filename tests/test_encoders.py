import math

import pytest
import torch

import xmlab as xm
from xmlab import encoders as E


@pytest.fixture
def batch():
    ds = xm.data.make_shapes(6)
    tok = xm.preprocess.WordTokenizer.build(ds.captions)
    return tok, next(iter(xm.data.pair_loader(ds, tok, batch_size=6)))


def test_dual_encoder_outputs_unit_embeddings_and_scale(batch):
    tok, b = batch
    model = E.shapes_dual_encoder(len(tok), embed_dim=16)
    out = model(b["image"], b["input_ids"], b["attention_mask"])
    assert out["image_emb"].shape == out["text_emb"].shape == (6, 16)
    torch.testing.assert_close(out["image_emb"].norm(dim=1), torch.ones(6))
    assert math.isclose(out["logit_scale"].item(), 1 / 0.07, rel_tol=1e-5)


def test_logit_scale_is_clamped_at_ln_100(batch):
    tok, _ = batch
    model = E.shapes_dual_encoder(len(tok))
    with torch.no_grad():
        model.logit_scale.fill_(10.0)
    model.clamp_logit_scale()
    assert math.isclose(model.logit_scale.item(), math.log(100), rel_tol=1e-6)


def test_text_encoder_ignores_padding():
    enc = E.TextEncoder(20, 16).eval()
    ids = torch.tensor([[2, 5, 6, 3]])
    padded = torch.tensor([[2, 5, 6, 3, 0, 0]])
    a = enc(ids, ids != 0)
    b = enc(padded, padded != 0)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_text_encoder_reads_word_order():
    enc = E.TextEncoder(20, 16).eval()
    a = enc(torch.tensor([[2, 5, 6, 3]]), torch.ones(1, 4, dtype=torch.bool))
    b = enc(torch.tensor([[2, 6, 5, 3]]), torch.ones(1, 4, dtype=torch.bool))
    assert not torch.allclose(a, b)


def test_mismatched_batches_are_explained(batch):
    tok, b = batch
    model = E.shapes_dual_encoder(len(tok))
    with pytest.raises(ValueError, match="6 items but text batch has 5"):
        model(b["image"], b["input_ids"][:5], b["attention_mask"][:5])


def test_wrong_image_size_is_explained():
    with pytest.raises(ValueError, match=r"expects images shaped \(B, 3, 32, 32\).*image_size=64"):
        E.ImageEncoder(8)(torch.zeros(2, 3, 64, 64))


def test_empty_text_in_batch_is_explained():
    enc = E.TextEncoder(20, 16)
    with pytest.raises(ValueError, match="no tokens"):
        enc(torch.zeros(2, 4, dtype=torch.long), torch.tensor([[1, 1, 0, 0], [0, 0, 0, 0]]).bool())


def test_projection_heads():
    assert isinstance(E.ProjectionHead(8, 4).net, torch.nn.Linear)
    mlp = E.ProjectionHead(8, 4, hidden=16)
    assert mlp(torch.zeros(3, 8)).shape == (3, 4) and len(mlp.net) == 3
