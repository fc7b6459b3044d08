"""Text to token ids: a word tokenizer with a vocabulary, special tokens, padding and masks.

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


class WordTokenizer:
    """Split text into lower-case words and map them to ids from a fixed vocabulary.

    ``tokenizer(["a red circle", "a blue square"])`` returns a dict with ``input_ids`` ``(B, L)``
    and ``attention_mask`` ``(B, L)`` (True on real tokens), padded to the longest text.

    Args:
        vocab: the tokens, specials first (use :meth:`build` to make one from a corpus).
        max_length: the longest token sequence accepted, counting ``<bos>`` and ``<eos>``.
        truncate: cut longer texts to ``max_length`` instead of raising an error.
    """

    def __init__(self, vocab: Iterable[str], *, max_length: int = 32, truncate: bool = False):
        self.itos = list(vocab)
        if tuple(self.itos[: len(SPECIALS)]) != SPECIALS:
            raise ValueError(f"a vocabulary must start with the special tokens {SPECIALS}")
        self.stoi = {tok: i for i, tok in enumerate(self.itos)}
        self.max_length, self.truncate = max_length, truncate

    @classmethod
    def build(cls, corpus: Iterable[str], *, min_freq: int = 1, **kwargs) -> WordTokenizer:
        """Make a tokenizer whose vocabulary holds every word seen ``min_freq`` times or more."""
        counts = Counter(tok for text in corpus for tok in cls.split(text))
        words = sorted(w for w, c in counts.items() if c >= min_freq and w not in SPECIALS)
        if not words:
            raise ValueError("the corpus has no words: pass a list of non-empty texts")
        return cls([*SPECIALS, *words], **kwargs)

    @staticmethod
    def split(text: str) -> list[str]:
        """Lower-case words and punctuation marks: ``"A red, round circle"`` -> 4 words + ``,``."""
        return _WORD.findall(text.lower())

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def pad_id(self) -> int:
        return self.stoi[PAD]

    def encode(self, text: str) -> list[int]:
        """Ids of ``<bos> words <eos>``; unknown words become ``<unk>``."""
        if not isinstance(text, str):
            raise TypeError(f"expected a caption as a str, got {type(text).__name__}")
        words = self.split(text)
        if not words:
            raise ValueError(f"caption {text!r} has no words: every item needs a non-empty caption")
        ids = [self.stoi[BOS], *(self.stoi.get(w, self.stoi[UNK]) for w in words), self.stoi[EOS]]
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

    def __call__(self, texts: str | list[str]) -> dict[str, torch.Tensor]:
        """Encode and pad a batch: ``{"input_ids": (B, L), "attention_mask": (B, L) bool}``."""
        if isinstance(texts, str):
            texts = [texts]
        encoded = [self.encode(t) for t in texts]
        if not encoded:
            raise ValueError("got an empty list of captions: pass at least one text")
        length = max(len(ids) for ids in encoded)
        input_ids = torch.full((len(encoded), length), self.pad_id, dtype=torch.long)  # (B, L)
        for row, ids in enumerate(encoded):
            input_ids[row, : len(ids)] = torch.tensor(ids)
        return {"input_ids": input_ids, "attention_mask": input_ids != self.pad_id}
