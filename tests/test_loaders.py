import pytest
import torch

import xmlab as xm


def test_tensor_loader_covers_every_item_once_per_epoch():
    loader = xm.data.TensorLoader({"x": torch.arange(10)}, batch_size=3, shuffle=True, seed=1)
    assert len(loader) == 4
    seen = torch.cat([b["x"] for b in loader])
    assert sorted(seen.tolist()) == list(range(10))
    again = torch.cat([b["x"] for b in loader])
    assert not torch.equal(seen, again)  # a new order each epoch


def test_tensor_loader_drop_last_and_order():
    loader = xm.data.TensorLoader({"x": torch.arange(10)}, batch_size=3, drop_last=True)
    assert [b["x"].tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]


def test_tensor_loader_rejects_ragged_tensors():
    with pytest.raises(ValueError, match="same number of items"):
        xm.data.TensorLoader({"a": torch.zeros(3), "b": torch.zeros(4)})


def test_collate_stacks_tensors_and_tokenizes_text():
    ds = xm.data.make_shapes(4)
    tok = xm.preprocess.WordTokenizer.build(ds.captions)
    batch = xm.data.collate([ds[i] for i in range(4)], tokenizer=tok)
    assert batch["image"].shape == (4, 3, 32, 32) and batch["index"].tolist() == [0, 1, 2, 3]
    assert batch["text"] == ds.captions and batch["input_ids"].shape[0] == 4
    with pytest.raises(ValueError, match="empty list"):
        xm.data.collate([])


def test_pair_loader_matches_dataset():
    ds = xm.data.make_shapes(10)
    tok = xm.preprocess.WordTokenizer.build(ds.captions)
    batch = next(iter(xm.data.pair_loader(ds, tok, batch_size=10)))
    torch.testing.assert_close(batch["image"], xm.preprocess.normalize_images(ds.images))
    assert [tok.decode(ids) for ids in batch["input_ids"]] == ds.captions
