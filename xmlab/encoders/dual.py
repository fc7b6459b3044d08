"""Projection heads and the dual encoder: two towers, one shared embedding space.

A ``DualEncoder`` holds an image tower and a text tower, projects both into ``embed_dim``
dimensions, L2-normalises them, and carries the learnable temperature of the contrastive loss as
``logit_scale`` (a log: the similarity is multiplied by ``logit_scale.exp()``). A model meant
for the SigLIP loss also learns a ``logit_bias`` (``init_logit_bias=-10``, as in open_clip).
The model never computes its loss: it returns embeddings, and a function of ``xmlab.losses``
scores them.

Explained in: notebooks/00_welcome.ipynb and notebooks/02_common_representation.ipynb
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from xmlab.encoders.image import ImageEncoder
from xmlab.encoders.text import TextEncoder

LOGIT_SCALE_INIT = math.log(1 / 0.07)  # temperature 0.07, as in CLIP
LOGIT_SCALE_MAX = math.log(100)  # the scale is clamped so the temperature never drops below 0.01


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


def add_temperature(
    model: nn.Module, init_logit_scale: float, init_logit_bias: float | None
) -> None:
    """Give ``model`` a learnable ``logit_scale`` and, when asked, a ``logit_bias``."""
    model.logit_scale = nn.Parameter(torch.tensor(float(init_logit_scale)))
    model.logit_bias = (
        None if init_logit_bias is None else nn.Parameter(torch.tensor(float(init_logit_bias)))
    )


def temperature_outputs(model: nn.Module) -> dict[str, torch.Tensor]:
    """``{"logit_scale": exp'd scale}``, plus ``"logit_bias"`` when the model has one."""
    out = {"logit_scale": model.logit_scale.exp()}
    if model.logit_bias is not None:
        out["logit_bias"] = model.logit_bias
    return out


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a ``DistributedDataParallel`` wrapper (its ``.module``), or the model."""
    return getattr(model, "module", model)


@torch.no_grad()
def clamp_temperature(model: nn.Module) -> None:
    """Keep a learnable temperature in CLIP's range, ``0 <= logit_scale <= ln 100``, after a
    step (as open_clip does); a model without ``logit_scale`` is left alone."""
    scale = getattr(unwrap(model), "logit_scale", None)
    if isinstance(scale, torch.Tensor):
        scale.clamp_(0, LOGIT_SCALE_MAX)


class DualEncoder(nn.Module):
    """Image and text towers with projection heads into one ``embed_dim`` space.

    ``forward`` returns ``{"image_emb": (B, D), "text_emb": (B, D), "logit_scale": scalar}``
    with unit-length embeddings and ``logit_scale`` already exponentiated, ready for
    ``xm.losses.clip_loss(out["image_emb"], out["text_emb"], logit_scale=out["logit_scale"])``;
    with ``init_logit_bias`` it also returns ``"logit_bias"`` for ``xm.losses.siglip_loss``.

    Args:
        image_encoder, text_encoder: the towers, giving ``image_dim`` and ``text_dim`` features.
        embed_dim: size of the shared space.
        hidden: hidden size of MLP projection heads (``None``: linear heads).
        init_logit_scale: starting log scale (ln(1/0.07); SigLIP uses ln 10).
        init_logit_bias: starting bias for SigLIP (-10), or ``None`` for no bias.
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
        init_logit_scale: float = LOGIT_SCALE_INIT,
        init_logit_bias: float | None = None,
    ):
        super().__init__()
        self.image_encoder, self.text_encoder = image_encoder, text_encoder
        self.image_proj = ProjectionHead(image_dim, embed_dim, hidden=hidden)
        self.text_proj = ProjectionHead(text_dim, embed_dim, hidden=hidden)
        add_temperature(self, init_logit_scale, init_logit_bias)

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
            **temperature_outputs(self),
        }


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
