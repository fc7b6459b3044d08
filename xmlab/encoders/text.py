"""Text encoders: token ids ``(B, L)`` with a padding mask to feature vectors ``(B, F)``.

Explained in: notebooks/02_common_representation.ipynb
"""

from __future__ import annotations

import torch
from torch import nn


class TextEncoder(nn.Module):
    """A small Transformer: word + position embeddings, self-attention layers, masked mean.

    Self-attention lets each word see the others, so "red" can attach to "circle" and the
    order of the two objects survives into the sentence vector.

    Args:
        vocab_size: number of token ids (``len(tokenizer)``).
        out_dim: width of the model and size of the output vector.
        layers: number of Transformer layers.
        heads: attention heads per layer.
        max_length: longest token sequence (size of the position table).
    """

    def __init__(
        self,
        vocab_size: int,
        out_dim: int = 128,
        *,
        layers: int = 1,
        heads: int = 4,
        max_length: int = 32,
    ):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, out_dim, padding_idx=0)
        self.position = nn.Parameter(0.02 * torch.randn(max_length, out_dim))
        layer = nn.TransformerEncoderLayer(
            out_dim, heads, 2 * out_dim, dropout=0.0, batch_first=True, norm_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(out_dim)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        b, length = input_ids.shape
        if length > self.position.shape[0]:
            raise ValueError(
                f"texts of {length} tokens are longer than this encoder's "
                f"max_length {self.position.shape[0]}: build it with a larger one"
            )
        mask = attention_mask.bool()  # (B, L) True on real tokens
        if not mask.any(1).all():
            raise ValueError("a text in the batch has no tokens: every caption must be non-empty")
        h = self.embed(input_ids) + self.position[:length]  # (B, L, D)
        h = self.norm(self.transformer(h, src_key_padding_mask=~mask))  # (B, L, D)
        weights = mask.unsqueeze(-1).to(h.dtype)  # (B, L, 1)
        return (h * weights).sum(1) / weights.sum(1)  # (B, D)
