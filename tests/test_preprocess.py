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


def test_char_tokenizer_round_trip_in_two_scripts():
    corpus = ["the digit seven", "数字七", "七"]
    chars = xm.preprocess.text.CharTokenizer.build(corpus)
    batch = chars(["seven", "数字七"])
    assert batch["input_ids"].shape == (2, 7)  # <bos> s e v e n <eos>
    assert batch["attention_mask"].sum(1).tolist() == [7, 5]
    assert chars.decode(batch["input_ids"][1]) == "数字七"
    assert chars.decode(chars.encode("The Digit")) == "the digit"
    assert chars.decode(chars.encode("vex")) == "ve<unk>"  # x was never seen


@pytest.mark.parametrize("bad", ["", "   "])
def test_empty_text_is_refused_by_both_tokenizers(tok, bad):
    chars = xm.preprocess.text.CharTokenizer.build(["abc"])
    for t in (tok, chars):
        with pytest.raises(ValueError, match="empty|no words"):
            t(bad)


def test_all_unknown_text_is_refused(tok):
    with pytest.raises(ValueError, match="none of the words .* vocabulary"):
        tok("数字七")  # right tokenizer, wrong language
    chars = xm.preprocess.text.CharTokenizer.build(["seven"])
    with pytest.raises(ValueError, match="none of the characters"):
        chars("七")
    assert tok.decode(tok.encode("a zzz circle")) == "a <unk> circle"  # some known: fine


def test_pad_ids_masks_padding():
    out = xm.preprocess.text.pad_ids([[5, 6, 7], [8]], pad_id=0)
    assert out["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert out["attention_mask"].tolist() == [[True] * 3, [True, False, False]]


def test_image_transform_matches_normalize_and_keeps_layout():
    images = xm.data.make_shapes(6, seed=1).images  # (6, 3, 32, 32) uint8
    plain = xm.preprocess.image.ImageTransform()
    torch.testing.assert_close(plain(images), xm.preprocess.normalize_images(images))
    aug = xm.preprocess.image.ImageTransform(augment=True, size=48, fill=0.12)
    torch.manual_seed(0)
    out = aug(images)
    assert out.shape == (6, 3, 48, 48) and out.dtype == torch.float32
    assert aug(images[0]).shape == (3, 48, 48)  # a single image works too
    assert not torch.allclose(aug(images), aug(images))  # random each call


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (torch.zeros(2, 32, 32, 3, dtype=torch.uint8), ValueError, "channels-last"),
        (torch.zeros(2, 3, 32, 32, dtype=torch.int32), TypeError, "uint8 or float"),
        (torch.zeros(32, 32), ValueError, "expected images shaped"),
    ],
)
def test_image_transform_refuses_bad_images(bad, error, match):
    with pytest.raises(error, match=match):
        xm.preprocess.image.ImageTransform()(bad)
