"""Fusion methods, fusion and multi-task models, their training, and the audio-visual digits."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xmlab import fusion
from xmlab.data.digits import Degradation

DIMS = {"image": 6, "audio": 5}
METHODS = list(fusion.FUSIONS)


def features(b=4, *, tokens=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "image": torch.randn(b, DIMS["image"], generator=g),  # (B, D) a vector
        "audio": torch.randn(b, tokens, DIMS["audio"], generator=g),  # (B, T, D) tokens
    }


@pytest.mark.parametrize("method", METHODS)
def test_every_method_maps_vectors_and_tokens_to_outputs(method):
    torch.manual_seed(0)
    module = fusion.make_fusion(method, DIMS, 7)
    assert module(features()).shape == (4, 7)
    vectors = {m: fusion.pool(x) for m, x in features().items()}
    assert module(vectors).shape == (4, 7)


@pytest.mark.parametrize("method", METHODS)
def test_every_modality_reaches_the_output(method):
    torch.manual_seed(0)
    module = fusion.make_fusion(method, DIMS, 3)
    feats = {m: x.requires_grad_() for m, x in features().items()}
    module(feats).square().sum().backward()
    for name, x in feats.items():
        assert x.grad is not None and x.grad.abs().sum() > 0, name


@pytest.mark.parametrize("method", METHODS)
def test_a_missing_modality_is_named(method):
    module = fusion.make_fusion(method, DIMS, 3)
    with pytest.raises(ValueError, match="modality 'audio' is missing"):
        module({"image": torch.randn(2, 6)})


def test_wrong_feature_size_and_unknown_method_are_explained():
    module = fusion.make_fusion("early", DIMS, 3)
    with pytest.raises(ValueError, match=r"audio features shaped \(B, 5\)"):
        module({"image": torch.randn(2, 6), "audio": torch.randn(2, 4)})
    with pytest.raises(ValueError, match="unknown fusion method 'mean'.*early, late"):
        fusion.make_fusion("mean", DIMS, 3)
    with pytest.raises(TypeError, match="dict of features"):
        module(torch.randn(2, 11))


def test_pool_averages_tokens_and_keeps_vectors():
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(fusion.pool(x), x.mean(1))
    assert fusion.pool(x[:, 0]) is not None and fusion.pool(x[:, 0]).shape == (2, 3)


def test_late_fusion_multiplies_the_modalities_probabilities():
    torch.manual_seed(0)
    module = fusion.LateFusion(DIMS, 4)
    feats = features()
    per = module.per_modality(feats)
    probs = [F.softmax(per[m], -1) for m in DIMS]  # (B, C) each
    expected = (probs[0] * probs[1]).sqrt()  # the geometric mean ...
    expected = expected / expected.sum(-1, keepdim=True)  # ... normalised
    torch.testing.assert_close(F.softmax(module(feats), -1), expected)
    for m in DIMS:  # each modality votes with its own classifier
        torch.testing.assert_close(per[m], module.heads[m](fusion.pool(feats[m])))


def test_tensor_fusion_holds_every_product_and_each_modality_alone():
    torch.manual_seed(0)
    module = fusion.TensorFusion(DIMS, 2, factor_dim=3)
    seen = {}
    module.net.register_forward_hook(lambda m, inp, out: seen.setdefault("x", inp[0]))
    feats = features()
    module(feats)
    za = module.proj["image"](feats["image"])  # (B, 3)
    zb = module.proj["audio"](feats["audio"].mean(1))  # (B, 3)
    ones = torch.ones(4, 1)
    za1, zb1 = torch.cat([za, ones], 1), torch.cat([zb, ones], 1)
    expected = torch.stack([torch.outer(za1[i], zb1[i]).flatten() for i in range(4)])
    torch.testing.assert_close(seen["x"], expected)
    torch.testing.assert_close(seen["x"].view(4, 4, 4)[:, :3, 3], za)  # image alone survives


def test_low_rank_fusion_equals_its_full_tensor():
    torch.manual_seed(0)
    module = fusion.LowRankFusion(DIMS, 2, rank=3, hidden=5)
    feats = {m: fusion.pool(x) for m, x in features().items()}
    a = torch.cat([feats["image"], torch.ones(4, 1)], 1)  # (B, 7)
    b = torch.cat([feats["audio"], torch.ones(4, 1)], 1)  # (B, 6)
    fa = module.factors["image"].view(7, 3, 5)
    fb = module.factors["audio"].view(6, 3, 5)
    full = torch.einsum("irh,jrh->ijh", fa, fb)  # (7, 6, hidden): the weight it stands for
    h = torch.einsum("bi,bj,ijh->bh", a, b, full)
    torch.testing.assert_close(module(feats), module.out(h))


def test_gates_are_a_mix_of_modalities():
    module = fusion.GatedFusion(DIMS, 3, hidden=8)
    gates = module.gates(features())
    assert gates.shape == (4, 2, 8)
    torch.testing.assert_close(gates.sum(1), torch.ones(4, 8))


def test_cross_attention_ignores_the_order_of_tokens():
    torch.manual_seed(0)
    module = fusion.CrossAttentionFusion(DIMS, 3, width=8, heads=2).eval()
    feats = features(tokens=5)
    shuffled = {**feats, "audio": feats["audio"][:, torch.randperm(5)]}
    torch.testing.assert_close(module(feats), module(shuffled))


def test_count_parameters_counts_trainable_scalars():
    layer = nn.Linear(3, 4)
    assert fusion.count_parameters(layer) == 16
    layer.bias.requires_grad_(False)
    assert fusion.count_parameters(layer) == 12
    assert fusion.count_parameters(layer, trainable=False) == 16
    sizes = {
        m: fusion.count_parameters(fusion.make_fusion(m, {"a": 64, "b": 64}, 10)) for m in METHODS
    }
    assert sizes["low_rank"] < fusion.count_parameters(
        fusion.TensorFusion({"a": 64, "b": 64}, 10, factor_dim=64)
    )


def xor_data(n=256, seed=0):
    """Label = sign(a) xor sign(b): each modality alone says nothing (50 %), both say all."""
    g = torch.Generator().manual_seed(seed)
    a, b = torch.randn(n, 2, generator=g), torch.randn(n, 2, generator=g)
    label = ((a[:, 0] > 0) ^ (b[:, 0] > 0)).long()
    return {"a": a, "b": b, "label": label}


@pytest.mark.parametrize("method", ["early", "tensor", "low_rank"])
def test_fusion_learns_what_no_single_modality_knows(method):
    torch.manual_seed(0)
    model = fusion.FusionModel(
        {"a": nn.Linear(2, 8), "b": nn.Linear(2, 8)},
        fusion.make_fusion(method, {"a": 8, "b": 8}, 2),
    )
    data = xor_data()
    fusion.train_classifier(model, data, epochs=15, lr=1e-2, batch_size=32, device="cpu")
    assert fusion.accuracy(model, xor_data(seed=1)) > 0.9


def test_late_fusion_cannot_learn_an_interaction():
    torch.manual_seed(0)
    model = fusion.FusionModel(
        {"a": nn.Linear(2, 8), "b": nn.Linear(2, 8)}, fusion.LateFusion({"a": 8, "b": 8}, 2)
    )
    fusion.train_classifier(model, xor_data(), epochs=15, lr=1e-2, batch_size=32, device="cpu")
    assert fusion.accuracy(model, xor_data(seed=1)) < 0.7


def test_fusion_model_names_a_missing_modality_of_the_batch():
    model = fusion.digit_classifier("gated")
    with pytest.raises(ValueError, match="has no 'audio'.*it has \\['image', 'label'\\]"):
        model({"image": torch.rand(2, 1, 8, 8), "label": torch.zeros(2)})
    with pytest.raises(ValueError, match="one encoder per fused modality"):
        fusion.FusionModel({"image": nn.Identity()}, fusion.EarlyFusion(DIMS, 2))
    with pytest.raises(ValueError, match="no digit encoder for modality 'text'"):
        fusion.digit_encoders(("image", "text"))


def test_multitask_model_classifies_and_embeds():
    torch.manual_seed(0)
    model = fusion.MultiTaskModel(
        {"a": nn.Linear(2, 8), "b": nn.Linear(2, 8)},
        fusion.EarlyFusion({"a": 8, "b": 8}, 2),
        embed_dim=4,
    )
    data = xor_data(64)
    out = model(data)
    assert out["logits"].shape == (64, 2) and out["a_emb"].shape == (64, 4)
    torch.testing.assert_close(out["b_emb"].norm(dim=-1), torch.ones(64))
    assert math.isclose(out["logit_scale"].item(), 1 / 0.07, rel_tol=1e-5)
    before = fusion.multitask_loss(model, data).item()
    fusion.train_classifier(
        model, data, epochs=20, lr=1e-2, loss_fn=fusion.multitask_loss, device="cpu"
    )
    assert fusion.multitask_loss(model, data).item() < before


def test_av_digits_and_a_noise_sweep():
    level = Degradation(energy_removed=0.85, snr_db=0.0)
    data = fusion.av_digits("test", degradation=level)
    n = len(data["label"])
    assert data["image"].shape == (n, 1, 8, 8)
    assert data["audio"].shape == (n, fusion.DIGIT_MEL.n_mels, 41)  # 0.8 s, 20 ms hop
    clean = fusion.av_digits("test")
    assert not torch.allclose(clean["image"], data["image"])
    torch.testing.assert_close(clean["label"], data["label"])
    model = fusion.digit_classifier("early", ("image",))
    rows = fusion.noise_sweep({"image only": model}, [Degradation(), level])
    assert [r["level"] for r in rows] == [0, 1] and rows[1]["snr_db"] == 0.0
    assert all(0 <= r["image only"] <= 1 for r in rows)
