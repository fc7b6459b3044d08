import pytest
import torch

import xmlab as xm
from xmlab.preprocess import SPECIALS, WordTokenizer


@pytest.fixture
def tok():
    return WordTokenizer.build(["a small red circle left of a large blue square", "a cat"])


def test_vocab_starts_with_specials_and_pad_is_zero(tok):
    assert tuple(tok.itos[:4]) == SPECIALS and tok.pad_id == 0
    assert "circle" in tok.stoi and len(tok) == 4 + 10


def test_encode_decode_round_trip(tok):
    text = "a large blue square left of a small red circle"
    assert tok.decode(tok.encode(text)) == text


def test_unknown_words_become_unk(tok):
    assert tok.decode(tok.encode("a green circle")) == "a <unk> circle"


def test_batch_is_padded_with_mask(tok):
    out = tok(["a cat", "a small red circle"])
    assert out["input_ids"].shape == (2, 6)
    assert out["attention_mask"].tolist() == [[1, 1, 1, 1, 0, 0], [1] * 6]
    assert (out["input_ids"][~out["attention_mask"]] == 0).all()


def test_split_lowercases_and_separates_punctuation():
    assert WordTokenizer.split("A Red, round circle.") == ["a", "red", ",", "round", "circle", "."]


@pytest.mark.parametrize("text", ["", "   ", "..."[:0]])
def test_empty_caption_is_explained(tok, text):
    with pytest.raises(ValueError, match="no words"):
        tok.encode(text)


def test_too_long_caption_is_explained_or_truncated(tok):
    long = " ".join(["a cat"] * 20)
    with pytest.raises(ValueError, match="max_length is 32.*truncate=True"):
        tok.encode(long)
    short = WordTokenizer(tok.itos, max_length=8, truncate=True).encode(long)
    assert len(short) == 8 and short[-1] == tok.stoi["<eos>"]


def test_non_string_caption_is_explained(tok):
    with pytest.raises(TypeError, match="as a str"):
        tok.encode(3)


def test_empty_corpus_and_batch_are_explained(tok):
    with pytest.raises(ValueError, match="no words"):
        WordTokenizer.build(["", " "])
    with pytest.raises(ValueError, match="empty list"):
        tok([])


def test_normalize_images_matches_formula():
    images = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    out = xm.preprocess.normalize_images(images, mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.1))
    expected = (images[:, 1].float() / 255 - 0.4) / 0.2
    torch.testing.assert_close(out[:, 1], expected)


def test_wrong_image_shapes_and_dtypes_are_explained():
    with pytest.raises(ValueError, match="single image"):
        xm.preprocess.check_images(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="channels-last"):
        xm.preprocess.check_images(torch.zeros(2, 8, 8, 3))
    with pytest.raises(TypeError, match="uint8 or float"):
        xm.preprocess.check_images(torch.zeros(2, 3, 8, 8, dtype=torch.int64))
    with pytest.raises(TypeError, match="torch.Tensor"):
        xm.preprocess.check_images([[0.0]])
