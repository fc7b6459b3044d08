"""Zero-shot on held-out classes: the split, the two text towers, training and scoring.

Fashion-MNIST is replaced by small random arrays of the same layout, so no data is needed.
"""

import numpy as np
import pytest
import torch

from xmlab import zeroshot
from xmlab.preprocess.text import UNK, WordTokenizer

T = len(zeroshot.TEMPLATES)


@pytest.fixture
def fake_fashion(monkeypatch):
    """Each class's images are a bright patch at a place of its own: easy to learn."""
    rng = np.random.default_rng(0)

    def load(split, root=None):
        n = 300 if split == "train" else 100
        labels = np.repeat(np.arange(10), n // 10)
        images = rng.integers(0, 40, (n, 28, 28)).astype(np.uint8)
        for i, c in enumerate(labels):
            images[i, 2 * c : 2 * c + 6, 4:24] = 250
        return {"images": images, "labels": labels.astype(np.int64)}

    monkeypatch.setattr(zeroshot, "load_fashion_mnist", load)


def test_split_keeps_held_out_classes_out_of_training(fake_fashion):
    split = zeroshot.fashion_split(["sneaker", "bag", "coat"], per_class=20, seed=1)
    assert split.held_out == [7, 8, 4] and split.seen == [0, 1, 2, 3, 5, 6, 9]
    assert sorted(set(split.train_labels.tolist())) == split.seen
    assert np.bincount(split.train_labels.numpy(), minlength=10)[split.seen].tolist() == [20] * 7
    assert set(split.test_labels.tolist()) == {4, 7, 8} and len(split.test_labels) == 30
    assert (
        split.train_images.shape == (140, 1, 28, 28) and split.train_images.dtype == torch.float32
    )
    with pytest.raises(ValueError, match="unknown Fashion-MNIST class 'socks'"):
        zeroshot.fashion_split(["socks"])


def test_caption_ids_follow_class_and_template():
    captions = zeroshot.caption_list()
    assert len(captions) == 10 * T
    assert captions[7 * T + 0] == "a photo of a sneaker."
    assert captions[9 * T + 1] == "a ankle boot."


def test_scratch_tower_cannot_tell_unseen_names_apart():
    seen = [0, 1, 2, 3, 5, 6, 9]
    captions = zeroshot.caption_list()
    tokenizer = WordTokenizer.build([captions[c * T + t] for c in seen for t in range(T)])
    ids = tokenizer.encode("a photo of a sneaker.")
    assert tokenizer.itos[ids[-3]] == UNK  # the class name was never seen: <unk>
    tower = zeroshot.ScratchTower(tokenizer, captions, out_dim=16)
    sneaker, bag = tower(torch.tensor([7 * T])), tower(torch.tensor([8 * T]))
    torch.testing.assert_close(sneaker, bag)  # "a photo of a <unk>." twice: the same vector


def test_locked_tower_is_a_frozen_table():
    table = torch.randn(10 * T, 8)
    model = zeroshot.CaptionModel(zeroshot.LockedTower(table))
    assert not any(p is model.text_tower.table for p in model.parameters())
    out = model(torch.randn(4, 1, 28, 28), torch.tensor([0, 5, 7, 49]))
    assert out["image_emb"].shape == (4, 8) and out["text_emb"].shape == (4, 8)
    torch.testing.assert_close(out["text_emb"], torch.nn.functional.normalize(table[[0, 5, 7, 49]]))


def test_loader_pairs_each_photo_with_a_caption_of_its_class(fake_fashion):
    split = zeroshot.fashion_split(["sneaker", "bag", "coat"], per_class=10)
    batch = next(iter(zeroshot.CaptionLoader(split, batch_size=32)))
    assert torch.equal(batch["caption"] // T, batch["label"])
    assert set(batch["label"].tolist()) <= set(split.seen)


def test_training_learns_the_seen_classes_and_scores_held_out_ones(fake_fashion):
    split = zeroshot.fashion_split(["sneaker", "bag", "coat"], per_class=30)
    captions = zeroshot.caption_list()
    seen_captions = [captions[c * T + t] for c in split.seen for t in range(T)]
    tower = zeroshot.ScratchTower(WordTokenizer.build(seen_captions), captions, out_dim=32)
    model = zeroshot.CaptionModel(tower, width=32, embed_dim=32)
    history = zeroshot.train_captions(model, split, epochs=6, lr=3e-3, batch_size=64, device="cpu")
    assert history.epochs[-1]["loss"] < history.epochs[0]["loss"]
    emb = model.encode_image(split.train_images[:70])
    classes = zeroshot.class_embeddings(model, split.seen)
    predicted = torch.tensor(split.seen)[(emb @ classes.T).argmax(1)]
    assert (predicted == split.train_labels[:70]).float().mean() > 0.9  # seen classes: learned
    # unseen names are all "<unk>": identical class vectors, so every photo gets the first one
    model.train()
    assert zeroshot.zero_shot(model, split) == pytest.approx(1 / 3)
    assert model.training  # scoring puts the model back in the mode it was in
