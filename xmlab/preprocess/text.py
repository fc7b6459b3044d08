"""Text to token ids: word and character tokenizers, special tokens, padding and masks.

Explained in: notebooks/00_welcome.ipynb and notebooks/01_multimodal_data.ipynb
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import torch

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<bos>", "<eos>"
SPECIALS = (PAD, UNK, BOS, EOS)  # PAD is id 0, so zero-padding and masks agree
_WORD = re.compile(r"[\w']+|[^\w\s]", re.UNICODE)  # words, and each punctuation mark on its own


class _Vocabulary:
    """What both tokenizers share: a token table that starts with the specials, and batching
    (each subclass defines ``encode``: how it splits a text into tokens)."""

    def __init__(self, vocab: Iterable[str]):
        self.itos = list(vocab)
        if tuple(self.itos[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(
                f"a vocabulary must start with the special tokens {SPECIALS}, got "
                f"{self.itos[:4]}: make one with .build(corpus)"
            )
        self.stoi = {tok: i for i, tok in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def pad_id(self) -> int:
        return self.stoi[PAD]

    def __call__(self, texts: str | list[str]) -> dict[str, torch.Tensor]:
        """Encode and pad a batch: ``{"input_ids": (B, L), "attention_mask": (B, L) bool}``."""
        if isinstance(texts, str):
            texts = [texts]
        return pad_ids([self.encode(t) for t in corpus_texts(texts, "a tokenizer")], self.pad_id)


def corpus_texts(corpus, where: str) -> list[str]:
    """``corpus`` as a list of strings, or an error: one string is not a corpus (iterating it
    would give letters) and every item must be a text."""
    if isinstance(corpus, str) or not isinstance(corpus, Iterable):
        raise TypeError(
            f"{where} takes a list of texts, got {type(corpus).__name__} {corpus!r:.40}: "
            "wrap a single text in a list, [text]"
        )
    texts = list(corpus)
    bad = next((t for t in texts if not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(
            f"{where} takes texts (str), got {bad!r} ({type(bad).__name__}) in the list: "
            "convert every item to a str"
        )
    return texts


class WordTokenizer(_Vocabulary):
    """Split text into lower-case words and map them to ids from a fixed vocabulary.

    ``tokenizer(["a red circle", "a blue square"])`` returns a dict with ``input_ids`` ``(B, L)``
    and ``attention_mask`` ``(B, L)`` (True on real tokens), padded to the longest text.

    Args:
        vocab: the tokens, specials first (use :meth:`build` to make one from a corpus).
        max_length: the longest token sequence accepted, counting ``<bos>`` and ``<eos>``.
        truncate: cut longer texts to ``max_length`` instead of raising an error.
    """

    def __init__(self, vocab: Iterable[str], *, max_length: int = 32, truncate: bool = False):
        super().__init__(vocab)
        self.max_length, self.truncate = max_length, truncate

    @classmethod
    def build(cls, corpus: Iterable[str], *, min_freq: int = 1, **kwargs) -> WordTokenizer:
        """Make a tokenizer whose vocabulary holds every word seen ``min_freq`` times or more."""
        texts = corpus_texts(corpus, "WordTokenizer.build")
        counts = Counter(tok for text in texts for tok in cls.split(text))
        words = sorted(w for w, c in counts.items() if c >= min_freq and w not in SPECIALS)
        if not words:
            raise ValueError(
                f"the corpus has no words (got {len(texts)} texts, expected at least one word "
                f"seen {min_freq} time(s)): pass a list of non-empty texts"
            )
        return cls([*SPECIALS, *words], **kwargs)

    @staticmethod
    def split(text: str) -> list[str]:
        """Lower-case words and punctuation marks: ``"A red, round circle"`` -> 4 words + ``,``."""
        return _WORD.findall(text.lower())

    def encode(self, text: str) -> list[int]:
        """Ids of ``<bos> words <eos>``; unknown words become ``<unk>``."""
        if not isinstance(text, str):
            raise TypeError(f"expected a caption as a str, got {type(text).__name__}")
        words = self.split(text)
        if not words:
            raise ValueError(f"caption {text!r} has no words: every item needs a non-empty caption")
        ids = [self.stoi[BOS], *(self.stoi.get(w, self.stoi[UNK]) for w in words), self.stoi[EOS]]
        _refuse_all_unknown(ids[1:-1], self.stoi[UNK], text, len(self), "words")
        if len(ids) > self.max_length:
            if not self.truncate:
                raise ValueError(
                    f"caption has {len(ids)} tokens with <bos>/<eos> but max_length is "
                    f"{self.max_length}: shorten it, raise max_length or pass truncate=True "
                    f"({text[:60]!r})"
                )
            ids = ids[: self.max_length - 1] + [self.stoi[EOS]]
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """Words for ids, skipping special tokens."""
        words = [self.itos[int(i)] for i in ids]
        return " ".join(w for w in words if w not in SPECIALS or w == UNK)


def pad_ids(encoded: list[list[int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad id lists to the longest: ``{"input_ids": (B, L), "attention_mask": (B, L)}``.

    The mask is True on real tokens and False on padding, so attention and pooling can skip it.
    """
    if not encoded:
        raise ValueError("got an empty list of captions: pass at least one text")
    length = max(len(ids) for ids in encoded)
    input_ids = torch.full((len(encoded), length), pad_id, dtype=torch.long)  # (B, L)
    for row, ids in enumerate(encoded):
        input_ids[row, : len(ids)] = torch.tensor(ids)
    return {"input_ids": input_ids, "attention_mask": input_ids != pad_id}


def _refuse_all_unknown(ids: list[int], unk: int, text: str, vocab_size: int, what: str) -> None:
    if ids and all(i == unk for i in ids):
        raise ValueError(
            f"none of the {what} of {text[:40]!r} is in the vocabulary of {vocab_size} tokens: "
            "build the tokenizer on a corpus that contains them (same language and script)"
        )


class CharTokenizer(_Vocabulary):
    """Map each character of a text to an id: ``<bos> c h a r s <eos>``, padded like words.

    Needs only an alphabet, not a vocabulary of words, so any spelling can be read, and scripts
    written without spaces ("数字七") come out one symbol per token; sequences get longer.

    Args:
        vocab: the tokens, specials first (use :meth:`build` to make one from a corpus).
        max_length: the longest sequence accepted, counting ``<bos>`` and ``<eos>``.
        lowercase: fold upper case to lower case before looking characters up.
    """

    def __init__(self, vocab: Iterable[str], *, max_length: int = 64, lowercase: bool = True):
        super().__init__(vocab)
        self.max_length, self.lowercase = max_length, lowercase

    @classmethod
    def build(cls, corpus: Iterable[str], *, lowercase: bool = True, **kwargs) -> CharTokenizer:
        """A tokenizer for every character that occurs in ``corpus``."""
        texts = corpus_texts(corpus, "CharTokenizer.build")
        chars = sorted({c for text in texts for c in (text.lower() if lowercase else text)})
        if not chars:
            raise ValueError(
                f"the corpus has no characters (got {len(texts)} empty texts): pass a list of "
                "non-empty texts"
            )
        return cls([*SPECIALS, *chars], lowercase=lowercase, **kwargs)

    def encode(self, text: str) -> list[int]:
        """Ids of ``<bos> c h a r s <eos>``; unseen characters become ``<unk>``."""
        if not isinstance(text, str):
            raise TypeError(f"expected a text as a str, got {type(text).__name__}")
        if not text.strip():
            raise ValueError(f"text {text!r} is empty: every item needs a non-empty text")
        chars = text.lower() if self.lowercase else text
        ids = [self.stoi.get(c, self.stoi[UNK]) for c in chars]
        _refuse_all_unknown(ids, self.stoi[UNK], text, len(self), "characters")
        if len(ids) + 2 > self.max_length:
            raise ValueError(
                f"text has {len(ids) + 2} tokens with <bos>/<eos> but max_length is "
                f"{self.max_length}: shorten it or raise max_length ({text[:40]!r})"
            )
        return [self.stoi[BOS], *ids, self.stoi[EOS]]

    def decode(self, ids: Iterable[int]) -> str:
        """The text back, without ``<bos>``, ``<eos>`` and padding."""
        return "".join(t for t in (self.itos[int(i)] for i in ids) if t not in (PAD, BOS, EOS))
