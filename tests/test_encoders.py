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
    E.clamp_temperature(model)
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
    with pytest.raises(ValueError, match="6 items but caption batch has 5"):
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


# --- text encoders -------------------------------------------------------------------------

TEXT_ENCODERS = {
    "transformer": lambda: E.TextEncoder(20, 16),
    "sinusoidal": lambda: E.TextEncoder(20, 16, positions="sinusoidal"),
    "gru": lambda: E.GRUTextEncoder(20, 16),
    "bag": lambda: E.BagOfWordsEncoder(20, 16),
}


@pytest.mark.parametrize("name", TEXT_ENCODERS)
def test_every_text_encoder_ignores_padding(name):
    torch.manual_seed(0)
    enc = TEXT_ENCODERS[name]().eval()
    ids = torch.tensor([[2, 5, 6, 3], [2, 7, 3, 0]])
    padded = torch.cat([ids, torch.zeros(2, 3, dtype=torch.long)], 1)
    a, b = enc(ids, ids != 0), enc(padded, padded != 0)
    assert a.shape == (2, 16)
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["transformer", "sinusoidal", "gru"])
def test_sequence_encoders_read_word_order_and_bag_of_words_does_not(name):
    torch.manual_seed(0)
    a, b = torch.tensor([[2, 5, 6, 3]]), torch.tensor([[2, 6, 5, 3]])
    mask = torch.ones(1, 4, dtype=torch.bool)
    enc = TEXT_ENCODERS[name]().eval()
    assert not torch.allclose(enc(a, mask), enc(b, mask))
    bag = E.BagOfWordsEncoder(20, 16)
    torch.testing.assert_close(bag(a, mask), bag(b, mask))


def test_bag_of_words_is_the_mean_of_word_embeddings():
    bag = E.BagOfWordsEncoder(20, 8)
    ids = torch.tensor([[2, 5, 9, 0]])
    expected = bag.embed.weight[[2, 5, 9]].mean(0, keepdim=True)
    torch.testing.assert_close(bag(ids, ids != 0), expected)


def test_gru_joins_the_last_state_of_both_directions():
    torch.manual_seed(1)
    enc = E.GRUTextEncoder(20, 8)
    ids = torch.tensor([[2, 5, 9]])
    outputs, _ = enc.gru(enc.embed(ids))  # (1, 3, 8): forward half, then backward half
    expected = torch.cat([outputs[0, -1, :4], outputs[0, 0, 4:]])[None]
    torch.testing.assert_close(enc(ids, ids != 0), expected)
    with pytest.raises(ValueError, match="even out_dim"):
        E.GRUTextEncoder(20, 7)


def test_sinusoidal_positions_follow_the_formula():
    table = E.sinusoidal_positions(10, 6)
    assert table.shape == (10, 6)
    assert table[3, 0].item() == pytest.approx(math.sin(3))
    assert table[3, 1].item() == pytest.approx(math.cos(3))
    assert table[5, 2].item() == pytest.approx(math.sin(5 / 1e4 ** (2 / 6)), rel=1e-5)
    with pytest.raises(ValueError, match="'learned' or 'sinusoidal'"):
        E.TextEncoder(20, 16, positions="rotary")


def test_text_encoders_explain_bad_tokens():
    with pytest.raises(ValueError, match=r"shaped \(B, L\)"):
        E.GRUTextEncoder(20, 8)(torch.zeros(4, dtype=torch.long), torch.ones(4))
    with pytest.raises(ValueError, match="max_length 4"):
        E.TextEncoder(20, 8, max_length=4)(torch.ones(1, 6).long(), torch.ones(1, 6))


# --- image encoders ------------------------------------------------------------------------


def test_resnet18_small_keeps_small_images_large_enough():
    net = E.resnet18_small(32).eval()
    assert isinstance(net.maxpool, torch.nn.Identity) and net.conv1.stride == (1, 1)
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 32)
    grey = E.resnet18_small(None, in_channels=1).eval()
    assert grey(torch.zeros(1, 1, 16, 16)).shape == (1, 512)


def test_resnet18_small_explains_missing_weights(monkeypatch):
    import torchvision.models

    def offline(**kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torchvision.models, "resnet18", offline)
    with pytest.raises(RuntimeError, match="weights=None"):
        E.resnet18_small(8, weights="IMAGENET1K_V1")


# --- logit bias (SigLIP) and the multi-encoder ----------------------------------------------


def test_dual_encoder_can_carry_a_siglip_bias(batch):
    tok, b = batch
    plain = E.shapes_dual_encoder(len(tok), embed_dim=8, width=16)
    assert plain.logit_bias is None
    assert "logit_bias" not in plain(b["image"], b["input_ids"], b["attention_mask"])
    model = E.DualEncoder(
        E.ImageEncoder(16),
        E.TextEncoder(len(tok), 16),
        image_dim=16,
        text_dim=16,
        embed_dim=8,
        init_logit_scale=math.log(10),
        init_logit_bias=-10.0,
    )
    out = model(b["image"], b["input_ids"], b["attention_mask"])
    assert out["logit_scale"].item() == pytest.approx(10.0) and out["logit_bias"].item() == -10.0
    xm.losses.siglip_loss(
        out["image_emb"], out["text_emb"], **{k: out[k] for k in ("logit_scale", "logit_bias")}
    ).backward()
    assert model.logit_bias.grad is not None


def make_multi(vocab: int, **kwargs):
    return E.MultiEncoder(
        {"image": E.ImageEncoder(16), "text": E.TextEncoder(vocab, 12)},
        {"image": 16, "text": 12},
        embed_dim=8,
        **kwargs,
    )


def test_multi_encoder_embeds_each_modality_into_one_space(batch):
    tok, b = batch
    model = make_multi(len(tok)).eval()
    out = model(b)
    assert out["image_emb"].shape == out["text_emb"].shape == (6, 8)
    torch.testing.assert_close(out["text_emb"].norm(dim=1), torch.ones(6))
    torch.testing.assert_close(out["image_emb"], model.encode_image(b["image"]))
    torch.testing.assert_close(
        out["text_emb"], model.encode_text(b["input_ids"], b["attention_mask"])
    )
    assert math.isclose(out["logit_scale"].item(), 1 / 0.07, rel_tol=1e-5)
    assert set(model(b, only=["text"])) == {"text_emb", "logit_scale"}
    with torch.no_grad():
        model.logit_scale.fill_(9.0)
    E.clamp_temperature(model)
    assert model.logit_scale.item() == pytest.approx(math.log(100))


def test_multi_encoder_trains_with_fit_unchanged(batch):
    tok, b = batch
    torch.manual_seed(0)
    model = make_multi(len(tok))

    def loss_fn(model, batch):
        out = model(batch)
        return xm.losses.clip_loss(
            out["image_emb"], out["text_emb"], logit_scale=out["logit_scale"]
        )

    loader = [b] * 30
    config = xm.train.TrainConfig(epochs=1, lr=3e-3, progress=False, device="cpu")
    history = xm.train.fit(model, loader, config=config, loss_fn=loss_fn)
    assert history.steps[-1]["loss"] < 0.2 * history.steps[0]["loss"]  # overfits one batch


def test_multi_encoder_explains_missing_modalities(batch):
    tok, b = batch
    model = make_multi(len(tok))
    with pytest.raises(KeyError, match="no 'audio' encoder; it encodes image, text"):
        model.encode_audio(torch.zeros(2, 40, 50))
    with pytest.raises(KeyError, match=r"no \['image'\] for the 'image' encoder"):
        model({k: v for k, v in b.items() if k != "image"})
    with pytest.raises(ValueError, match="different batch sizes"):
        model({**b, "image": b["image"][:3]})
    with pytest.raises(ValueError, match="no feature size for"):
        E.MultiEncoder({"image": E.ImageEncoder(4)}, {})


def test_image_encoder_stem_runs_at_full_resolution():
    plain, stemmed = E.ImageEncoder(8), E.ImageEncoder(8, channels=(48, 96, 128), stem=16)
    assert len(stemmed.features) == len(plain.features) + 3
    first = stemmed.features[0]
    assert (first.in_channels, first.out_channels, first.stride) == (3, 16, (1, 1))
    assert stemmed(torch.zeros(2, 3, 32, 32)).shape == (2, 8)
    assert E.ImageEncoder(8, stem=4, norm=False)(torch.zeros(1, 3, 32, 32)).shape == (1, 8)
