"""Text encoders: token ids ``(B, L)`` with a padding mask to feature vectors ``(B, F)``.

Three ways to read a sentence, from the simplest to the most capable:

- ``BagOfWordsEncoder``: the mean of the word embeddings. Blind to word order, so "a red
  circle left of a blue square" and "a blue circle left of a red square" look the same.
- ``GRUTextEncoder``: a recurrent network reads the words in order, in both directions.
- ``TextEncoder``: a small Transformer; self-attention lets every word look at every other.

Every encoder takes ``(input_ids, attention_mask)`` as a ``WordTokenizer`` returns them, with
the padding on the right, and ignores the padded positions entirely.

Explained in: notebooks/02_common_representation.ipynb
"""

from __future__ import annotations

import math

import torch
from torch import nn

from xmlab import checks


def check_tokens(
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    *,
    max_length: int | None = None,
    vocab_size: int | None = None,
) -> torch.Tensor:
    """Check a tokenised batch and return its mask as bool ``(B, L)`` (True on real tokens);
    with ``vocab_size``, every id must be below it."""
    if input_ids.ndim != 2 or attention_mask.shape != input_ids.shape:
        raise ValueError(
            f"expected input_ids and attention_mask shaped (B, L), got {tuple(input_ids.shape)} "
            f"and {tuple(attention_mask.shape)}: pass the dict a WordTokenizer returns"
        )
    if max_length is not None and input_ids.shape[1] > max_length:
        raise ValueError(
            f"texts of {input_ids.shape[1]} tokens are longer than this encoder's "
            f"max_length {max_length}: build it with a larger one"
        )
    if input_ids.is_floating_point() or input_ids.dtype == torch.bool:
        raise TypeError(
            f"input_ids must be integer token ids, got dtype {input_ids.dtype}: pass the "
            "input_ids a tokenizer returns (torch.long)"
        )
    mask = attention_mask.bool()  # (B, L)
    bad = ~mask.any(1).all()
    if vocab_size is not None:
        bad = bad | (input_ids.amin() < 0) | (input_ids.amax() >= vocab_size)
    if bad:  # one look at the values for every check
        _explain_tokens(input_ids, mask, vocab_size)
    return mask


def _explain_tokens(input_ids: torch.Tensor, mask: torch.Tensor, vocab_size: int | None):
    if not mask.any(1).all():
        raise ValueError(
            "a text in the batch has no tokens (its attention_mask row is all False): every "
            "caption must be non-empty"
        )
    raise ValueError(
        f"token ids must lie in 0..{vocab_size - 1} (this encoder's vocab_size {vocab_size}), "
        f"got ids from {input_ids.min().item()} to {input_ids.max().item()}: build the encoder "
        "with vocab_size=len(tokenizer) of the tokenizer that made the ids"
    )


def token_embedding(vocab_size: int, dim: int) -> nn.Embedding:
    """A table of ``vocab_size`` token vectors of size ``dim``; id 0 (padding) stays zero."""
    checks.number(vocab_size, "vocab_size", integer=True, at_least=1, fix="pass len(tokenizer)")
    return nn.Embedding(vocab_size, dim, padding_idx=0)


def masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the real tokens only: ``h`` (B, L, D), ``mask`` (B, L) -> (B, D)."""
    weights = mask.unsqueeze(-1).to(h.dtype)  # (B, L, 1)
    return (h * weights).sum(1) / weights.sum(1)


class BagOfWordsEncoder(nn.Module):
    """The mean of the word embeddings: a bag of words, blind to word order.

    Args:
        vocab_size: number of token ids (``len(tokenizer)``).
        out_dim: size of each word embedding and of the output vector.
    """

    def __init__(self, vocab_size: int, out_dim: int = 128):
        super().__init__()
        self.embed = token_embedding(vocab_size, out_dim)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = check_tokens(input_ids, attention_mask, vocab_size=self.embed.num_embeddings)
        return masked_mean(self.embed(input_ids), mask)  # (B, D)


class GRUTextEncoder(nn.Module):
    """A bidirectional GRU; the sentence vector joins the last state of each direction.

    The forward direction ends on the last real word, the backward one on the first, so the
    vector has read the whole sentence both ways. Padded positions are skipped (packed
    sequences), so padding never changes the result.

    Args:
        vocab_size: number of token ids.
        out_dim: size of the output vector (even when bidirectional: half per direction).
        embed_dim: size of the word embeddings (default ``out_dim``).
        layers: stacked GRU layers.
        bidirectional: read the sentence both ways.
    """

    def __init__(
        self,
        vocab_size: int,
        out_dim: int = 128,
        *,
        embed_dim: int | None = None,
        layers: int = 1,
        bidirectional: bool = True,
    ):
        super().__init__()
        if bidirectional and out_dim % 2:
            raise ValueError(f"a bidirectional GRU needs an even out_dim, got {out_dim}")
        embed_dim = embed_dim or out_dim
        self.embed = token_embedding(vocab_size, embed_dim)
        hidden = out_dim // 2 if bidirectional else out_dim
        self.gru = nn.GRU(
            embed_dim, hidden, num_layers=layers, batch_first=True, bidirectional=bidirectional
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = check_tokens(input_ids, attention_mask, vocab_size=self.embed.num_embeddings)
        lengths = mask.sum(1).cpu()  # (B,) real tokens, padding on the right
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embed(input_ids), lengths, batch_first=True, enforce_sorted=False
        )
        _, last = self.gru(packed)  # (layers * directions, B, hidden)
        directions = 2 if self.gru.bidirectional else 1
        return last[-directions:].transpose(0, 1).flatten(1)  # (B, out_dim)


class TextEncoder(nn.Module):
    """A small Transformer: word + position embeddings, self-attention layers, masked mean.

    Self-attention lets each word see the others, so "red" can attach to "circle" and the
    order of the two objects survives into the sentence vector. The padding mask keeps
    attention off the padded positions, so padding never changes the result.

    Args:
        vocab_size: number of token ids (``len(tokenizer)``).
        out_dim: width of the model and size of the output vector.
        layers: number of Transformer layers.
        heads: attention heads per layer.
        max_length: longest token sequence (size of the position table).
        positions: ``"learned"`` position embeddings, or the fixed ``"sinusoidal"`` ones of
            "Attention Is All You Need".
    """

    def __init__(
        self,
        vocab_size: int,
        out_dim: int = 128,
        *,
        layers: int = 1,
        heads: int = 4,
        max_length: int = 32,
        positions: str = "learned",
    ):
        super().__init__()
        if out_dim % heads:
            raise ValueError(f"out_dim {out_dim} must be divisible by heads {heads}")
        self.embed = token_embedding(vocab_size, out_dim)
        if positions == "learned":
            self.position = nn.Parameter(0.02 * torch.randn(max_length, out_dim))
        elif positions == "sinusoidal":
            self.register_buffer("position", sinusoidal_positions(max_length, out_dim))
        else:
            raise ValueError(f"positions must be 'learned' or 'sinusoidal', got {positions!r}")
        layer = nn.TransformerEncoderLayer(
            out_dim, heads, 2 * out_dim, dropout=0.0, batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = check_tokens(
            input_ids,
            attention_mask,
            max_length=self.position.shape[0],
            vocab_size=self.embed.num_embeddings,
        )
        h = self.embed(input_ids) + self.position[: input_ids.shape[1]]  # (B, L, D)
        h = self.norm(self.transformer(h, src_key_padding_mask=~mask))  # (B, L, D)
        return masked_mean(h, mask)  # (B, D)


def sinusoidal_positions(max_length: int, dim: int) -> torch.Tensor:
    """Fixed position codes: sines and cosines of geometrically spaced frequencies, (L, D)."""
    position = torch.arange(max_length, dtype=torch.float32)[:, None]  # (L, 1)
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(1e4) / dim))
    table = torch.zeros(max_length, dim)
    table[:, 0::2] = torch.sin(position * freq)  # (L, D/2)
    table[:, 1::2] = torch.cos(position * freq[: dim // 2])
    return table
