"""Encoders: each modality to a vector, then a projection head into one shared embedding space.

A ``DualEncoder`` holds an image tower and a text tower, projects both into ``embed_dim``
dimensions, L2-normalises them, and carries the learnable temperature of the contrastive loss as
``logit_scale`` (a log: the similarity is multiplied by ``logit_scale.exp()``). The model never
computes its loss: it returns embeddings, and a function of ``xmlab.losses`` scores them.

Explained in: notebooks/00_welcome.ipynb and notebooks/02_common_representation.ipynb
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LOGIT_SCALE_INIT = math.log(1 / 0.07)  # temperature 0.07, as in CLIP
LOGIT_SCALE_MAX = math.log(100)  # the scale is clamped so the temperature never drops below 0.01


class ImageEncoder(nn.Module):
    """A small CNN: stages of (conv 4x4 with stride 2, batch norm, ReLU), then a linear layer.

    Each stage halves the resolution with a strided convolution (cheaper on a CPU than a
    convolution followed by pooling). The final feature map is flattened rather than averaged,
    so the output still knows *where* things are in the image (needed for "left of").

    Args:
        out_dim: size of the output feature vector.
        channels: output channels of each stage.
        image_size: side of the (square) input images.
        in_channels: 3 for RGB, 1 for grey images.
        norm: batch-normalise each stage (trains much faster; off for a plain CNN).
    """

    def __init__(
        self,
        out_dim: int = 256,
        *,
        channels: tuple[int, ...] = (32, 64, 128),
        image_size: int = 32,
        in_channels: int = 3,
        norm: bool = True,
    ):
        super().__init__()
        layers, c_in = [], in_channels
        for c_out in channels:
            layers.append(nn.Conv2d(c_in, c_out, 4, stride=2, padding=1, bias=not norm))
            layers += (
                [nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)] if norm else [nn.ReLU(inplace=True)]
            )
            c_in = c_out
        self.features = nn.Sequential(*layers)
        side = image_size // 2 ** len(channels)
        if side < 1:
            raise ValueError(f"{len(channels)} stages halve {image_size} px images below 1 pixel")
        self.head = nn.Linear(c_in * side * side, out_dim)
        self.image_size, self.in_channels = image_size, in_channels

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        b, c, h, w = images.shape
        if (c, h, w) != (self.in_channels, self.image_size, self.image_size):
            raise ValueError(
                f"image encoder expects images shaped (B, {self.in_channels}, {self.image_size}, "
                f"{self.image_size}), got {tuple(images.shape)}: build it with image_size={h} "
                "or resize the images"
            )
        return self.head(self.features(images).flatten(1))  # (B, out_dim)


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


class ProjectionHead(nn.Module):
    """Map encoder features into the shared space: linear, or a 2-layer MLP with ``hidden``."""

    def __init__(self, in_dim: int, out_dim: int, *, hidden: int | None = None):
        super().__init__()
        if hidden is None:
            self.net = nn.Linear(in_dim, out_dim)
        else:
            self.net = nn.Sequential(
                nn.Linear(in_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DualEncoder(nn.Module):
    """Image and text towers with projection heads into one ``embed_dim`` space.

    ``forward`` returns ``{"image_emb": (B, D), "text_emb": (B, D), "logit_scale": scalar}``
    with unit-length embeddings and ``logit_scale`` already exponentiated, ready for
    ``xm.losses.clip_loss(out["image_emb"], out["text_emb"], logit_scale=out["logit_scale"])``.
    """

    def __init__(
        self,
        image_encoder: nn.Module,
        text_encoder: nn.Module,
        *,
        image_dim: int,
        text_dim: int,
        embed_dim: int = 128,
        hidden: int | None = None,
    ):
        super().__init__()
        self.image_encoder, self.text_encoder = image_encoder, text_encoder
        self.image_proj = ProjectionHead(image_dim, embed_dim, hidden=hidden)
        self.text_proj = ProjectionHead(text_dim, embed_dim, hidden=hidden)
        self.logit_scale = nn.Parameter(torch.tensor(LOGIT_SCALE_INIT))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-length image embeddings ``(B, D)``."""
        return F.normalize(self.image_proj(self.image_encoder(images)), dim=-1)

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Unit-length text embeddings ``(B, D)``."""
        return F.normalize(self.text_proj(self.text_encoder(input_ids, attention_mask)), dim=-1)

    def forward(
        self, image: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        if image.shape[0] != input_ids.shape[0]:
            raise ValueError(
                f"image batch has {image.shape[0]} items but text batch has {input_ids.shape[0]}:"
                " every image needs exactly one caption"
            )
        return {
            "image_emb": self.encode_image(image),
            "text_emb": self.encode_text(input_ids, attention_mask),
            "logit_scale": self.logit_scale.exp(),
        }

    @torch.no_grad()
    def clamp_logit_scale(self) -> None:
        """Keep the temperature in CLIP's range: ``0 <= logit_scale <= ln 100``."""
        self.logit_scale.clamp_(0, LOGIT_SCALE_MAX)


def shapes_dual_encoder(
    vocab_size: int, *, image_size: int = 32, embed_dim: int = 128, width: int = 128
) -> DualEncoder:
    """The small dual encoder of the welcome lesson: CNN image tower, Transformer text tower."""
    return DualEncoder(
        ImageEncoder(width, image_size=image_size),
        TextEncoder(vocab_size, width),
        image_dim=width,
        text_dim=width,
        embed_dim=embed_dim,
    )
