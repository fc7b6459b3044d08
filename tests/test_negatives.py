"""The hard-negative pair loader: K verified-false captions per scene, of the kinds asked for."""

import pytest
import torch

import xmlab as xm
from xmlab.data import grammar


@pytest.fixture(scope="module")
def shapes():
    ds = xm.data.make_shapes(300, seed=5, paraphrase=True)
    return ds, xm.preprocess.WordTokenizer.build(ds.captions)


@pytest.mark.parametrize(
    "kinds, k",
    [
        (("attribute_swap",), 1),
        (("attribute_swap", "relation_swap"), 2),
        (grammar.NEGATIVE_KINDS, 3),
    ],
)
def test_every_negative_is_false_of_its_scene_and_of_an_asked_kind(shapes, kinds, k):
    ds, tok = shapes
    loader = xm.data.negative_pair_loader(ds, tok, kinds=kinds, k=k, batch_size=64)
    assert len(loader.negatives) == len(ds) - loader.dropped == loader.n
    for j, scene in enumerate(loader.tensors["index"].tolist()):
        assert len(loader.negatives[j]) == k
        for kind, text in loader.negatives[j]:
            assert kind in kinds
            assert grammar.is_negative(ds.scenes, scene, text), (ds.captions[scene], text)
            assert text != ds.captions[scene]


def test_batches_hold_k_tokenised_negatives_that_decode_to_the_listed_captions(shapes):
    ds, tok = shapes
    loader = xm.data.negative_pair_loader(ds, tok, k=2, batch_size=32, drop_last=True)
    batch = next(iter(loader))
    assert set(batch) == {
        "image",
        "input_ids",
        "attention_mask",
        "index",
        "negative_input_ids",
        "negative_attention_mask",
    }
    b, k, length = batch["negative_input_ids"].shape
    assert (b, k) == (32, 2) and batch["negative_attention_mask"].shape == (32, 2, length)
    ids, mask = (
        loader.tensors["negative_input_ids"][5, 1],
        loader.tensors["negative_attention_mask"][5, 1],
    )
    decoded = tok.decode(ids[mask.bool()].tolist())
    assert decoded == loader.negatives[5][1][1]


def test_kinds_asked_for_are_all_used_and_others_never(shapes):
    ds, tok = shapes
    loader = xm.data.negative_pair_loader(ds, tok, kinds=["relation_swap", "shuffle"], k=2)
    used = {kind for row in loader.negatives for kind, _ in row}
    assert used == {"relation_swap", "shuffle"}


def test_scenes_without_a_negative_of_the_kind_are_left_out_and_counted():
    ds = xm.data.make_shapes(400, seed=1)
    tok = xm.preprocess.WordTokenizer.build(ds.captions)
    loader = xm.data.negative_pair_loader(ds, tok, kinds=["attribute_swap"])
    # two objects identical in size, colour and shape have no attribute to swap
    s = ds.scenes
    twins = ((s.size[:, 0] == s.size[:, 1]) & (s.colour[:, 0] == s.colour[:, 1])) & (
        s.shape[:, 0] == s.shape[:, 1]
    )
    kept = set(loader.tensors["index"].tolist())
    assert twins.any() and not kept & set(twins.nonzero().flatten().tolist())
    assert loader.dropped == len(ds) - len(kept) >= int(twins.sum())


def test_same_seed_same_negatives_other_seed_others(shapes):
    ds, tok = shapes
    a = xm.data.negative_pair_loader(ds, tok, k=2, seed=3)
    b = xm.data.negative_pair_loader(ds, tok, k=2, seed=3)
    c = xm.data.negative_pair_loader(ds, tok, k=2, seed=4)
    assert a.negatives == b.negatives and a.negatives != c.negatives
    for key, value in a.tensors.items():
        assert torch.equal(value, b.tensors[key])
    assert [x["index"].tolist() for x in a] == [x["index"].tolist() for x in b]


def test_bad_requests_are_explained(shapes):
    ds, tok = shapes
    with pytest.raises(ValueError, match="kinds must be a non-empty list"):
        xm.data.negative_pair_loader(ds, tok, kinds=["colour_swap"])
    with pytest.raises(ValueError, match="kinds must be a non-empty list"):
        xm.data.negative_pair_loader(ds, tok, kinds=[])
    with pytest.raises(ValueError, match="at least 1 negative"):
        xm.data.negative_pair_loader(ds, tok, k=0)
    with pytest.raises(ValueError, match="same number k >= 1"):
        xm.data.negatives.encode_negatives([[("shuffle", "a b")], []], tok)
