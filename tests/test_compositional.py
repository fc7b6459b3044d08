"""Training with hard negatives through fit, the per-kind scores, the bag-of-words tie, and the
hard-negative explorer driven by setting its controls."""

import pytest
import torch

import xmlab as xm
import xmlab.widgets as xw
from xmlab.data import grammar
from xmlab.metrics import compositional

SAME_WORDS = ("attribute_swap", "shuffle")  # kinds that only rearrange the caption's words


@pytest.fixture(scope="module")
def shapes():
    train = xm.data.make_shapes(64, seed=3)
    test = xm.data.make_shapes(200, split="test", seed=3)
    tok = xm.preprocess.WordTokenizer.build(train.captions)
    return train, test, tok, test.hard_negatives(seed=3)


def bow_model(tok, seed=0):
    torch.manual_seed(seed)
    return xm.encoders.DualEncoder(
        xm.encoders.ImageEncoder(16, channels=(8, 16)),
        xm.encoders.BagOfWordsEncoder(len(tok), 16),
        image_dim=16,
        text_dim=16,
        embed_dim=8,
    ).eval()


def test_swaps_and_shuffles_keep_the_bag_of_words_and_half_the_relation_swaps_do(shapes):
    _, test, _, negatives = shapes
    for kind in SAME_WORDS:
        pairs = [(c, n[kind]) for c, n in zip(test.captions, negatives) if n[kind]]
        assert len(pairs) > 150
        assert all(compositional.word_bag(c) == compositional.word_bag(n) for c, n in pairs)
    for kind in ("attribute_edit", "object_replace"):  # a new word: a different bag
        pairs = [(c, n[kind]) for c, n in zip(test.captions, negatives) if n[kind]]
        assert not any(compositional.word_bag(c) == compositional.word_bag(n) for c, n in pairs)
    same = [
        compositional.word_bag(c) == compositional.word_bag(n["relation_swap"])
        for c, n in zip(test.captions, negatives)
        if n["relation_swap"]
    ]
    assert 0.3 < sum(same) / len(same) < 0.7  # objects exchanged: same words; converse: not


@pytest.mark.parametrize("seed", [0, 1])
def test_a_bag_of_words_tower_scores_exactly_one_half_on_same_word_negatives(shapes, seed):
    _, test, tok, negatives = shapes
    model = bow_model(tok, seed)
    loader = xm.data.pair_loader(test, tok, batch_size=64)
    image_emb, _ = xm.train.embed_pairs(model, loader)
    owners, kinds, texts = xm.metrics.negative_table(negatives)
    true_emb = compositional.embed_bags(model, tok, test.captions)
    negative_emb = compositional.embed_bags(model, tok, texts)
    acc = xm.metrics.hard_negative_accuracy(image_emb, true_emb, negative_emb, kinds, owners=owners)
    for kind in SAME_WORDS:
        assert acc[kind] == 0.5  # every pair ties; a tie counts half
    assert acc["attribute_edit"] != 0.5


def test_embed_bags_is_the_bag_of_words_tower_up_to_rounding_and_not_the_transformer(shapes):
    _, test, tok, _ = shapes
    bow = bow_model(tok)
    texts = test.captions[:50]
    torch.testing.assert_close(
        compositional.embed_bags(bow, tok, texts), compositional.embed_texts(bow, tok, texts)
    )
    torch.manual_seed(0)
    transformer = xm.encoders.shapes_dual_encoder(len(tok), embed_dim=8, width=16).eval()
    reordered = compositional.embed_bags(transformer, tok, texts)
    in_order = compositional.embed_texts(transformer, tok, texts)
    assert (reordered - in_order).abs().max() > 1e-3


def test_hard_negative_loss_is_negclip_on_the_model_embeddings(shapes):
    train, _, tok, _ = shapes
    torch.manual_seed(0)
    model = xm.encoders.shapes_dual_encoder(len(tok), embed_dim=8, width=16).eval()
    loader = xm.data.negative_pair_loader(train, tok, k=2, batch_size=16)
    batch = next(iter(loader))
    out = model(batch["image"], batch["input_ids"], batch["attention_mask"])
    negatives = torch.stack(
        [
            model.encode_text(
                batch["negative_input_ids"][:, j], batch["negative_attention_mask"][:, j]
            )
            for j in range(2)
        ],
        1,
    )  # (B, 2, D)
    expected = xm.losses.negclip_loss(
        out["image_emb"], out["text_emb"], logit_scale=out["logit_scale"], text_negatives=negatives
    )
    torch.testing.assert_close(xm.train.hard_negative_loss(model, batch), expected)


def test_hard_negative_loss_explains_a_batch_without_negatives(shapes):
    train, test, tok, negatives = shapes
    model = xm.encoders.shapes_dual_encoder(len(tok), embed_dim=8, width=16)
    batch = next(iter(xm.data.pair_loader(train, tok, batch_size=4)))
    with pytest.raises(ValueError, match="negative_pair_loader"):
        xm.train.hard_negative_loss(model, batch)
    with pytest.raises(ValueError, match="same split"):
        compositional.compositional_scores(model, test, tok, negatives[:-1])


def test_fit_trains_with_hard_negatives_through_its_loss_hook(shapes):
    train, _, tok, _ = shapes
    torch.manual_seed(0)
    model = xm.encoders.shapes_dual_encoder(len(tok), embed_dim=16, width=32)
    loader = xm.data.negative_pair_loader(train, tok, batch_size=32)
    one_batch = [next(iter(loader))]

    class OneBatch:  # overfit one batch
        def __iter__(self):
            return iter(one_batch)

        def __len__(self):
            return 1

    config = xm.train.TrainConfig(epochs=40, lr=3e-3, progress=False)
    history = xm.train.fit(model, OneBatch(), config=config, loss_fn=xm.train.hard_negative_loss)
    losses = [row["loss"] for row in history.steps]
    assert losses[-1] < 0.3 * losses[0]


def test_compositional_scores_are_the_metrics_of_the_kit(shapes):
    _, test, tok, negatives = shapes
    torch.manual_seed(0)
    model = xm.encoders.shapes_dual_encoder(len(tok), embed_dim=8, width=16)
    scores = compositional.compositional_scores(model, test, tok, negatives)
    assert set(scores) == {*grammar.NEGATIVE_KINDS, "all", "image_to_text_R@1", "text_to_image_R@1"}
    loader = xm.data.pair_loader(test, tok, batch_size=64)
    image_emb, text_emb = xm.train.embed_pairs(model, loader)
    groups = xm.metrics.group_ids(test.captions)
    r1 = xm.metrics.retrieval_metrics(image_emb, text_emb, ks=(1,), groups=groups)
    assert scores["image_to_text_R@1"] == pytest.approx(r1["image_to_text_R@1"])
    owners, kinds, texts = xm.metrics.negative_table(negatives)
    neg_emb = compositional.embed_texts(model, tok, texts)
    acc = xm.metrics.hard_negative_accuracy(image_emb, text_emb, neg_emb, kinds, owners=owners)
    assert scores["attribute_swap"] == pytest.approx(acc["attribute_swap"])


def test_hard_negative_explorer_follows_the_scene_and_your_caption(shapes):
    _, test, tok, negatives = shapes
    torch.manual_seed(0)
    models = {
        "a": xm.encoders.shapes_dual_encoder(len(tok), embed_dim=8, width=16),
        "b": bow_model(tok),
    }
    scorers = {name: compositional.caption_scorer(m, tok) for name, m in models.items()}
    w = xw.hard_negative_explorer(test, negatives, scorers, index=2)
    labels, texts = w.texts()
    assert texts[0] == test.captions[2] and labels[0] == "caption"
    assert texts[1:] == [t for t in negatives[2].values() if t is not None]
    scores = w.scores()
    expected = scorers["a"](test.images[2], texts)
    assert scores["a"] == pytest.approx(expected.tolist())
    assert w.fooled()["a"] == sum(s >= scores["a"][0] for s in scores["a"][1:])
    plot = w.plot.value
    w.scene.value = 7
    assert w.texts()[1][0] == test.captions[7] and w.plot.value != plot
    w.own.value = test.captions[7]  # a true caption is not a negative
    assert w.texts()[0][-1] == "yours" and "true</b> of this scene" in w.verdict.value
    w.own.value = grammar.hard_negative(test.scenes, 7, "attribute_edit")
    assert "true</b>" not in w.verdict.value and len(w.scores()["b"]) == len(w.texts()[1])
    for name in models:
        assert f"<b>{name}</b>: fooled by" in w.verdict.value


def test_hard_negative_explorer_bad_inputs(shapes):
    _, test, tok, negatives = shapes
    with pytest.raises(ValueError, match="sets of negatives for 200 scenes"):
        xw.hard_negative_explorer(test, negatives[:5], {"a": None})
    with pytest.raises(ValueError, match="at least one model"):
        xw.hard_negative_explorer(test, negatives, {})
    with pytest.raises(ValueError, match="index must be a scene"):
        xw.hard_negative_explorer(test, negatives, {"a": None}, index=200)
