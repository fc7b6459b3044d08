"""The multi-encoder: any set of modalities, each with its tower and head, in one shared space.

A ``DualEncoder`` holds exactly an image and a text tower. A ``MultiEncoder`` holds a tower per
*named* modality (``"image"``, ``"text"``, ``"audio"``, or one you add), reads each modality's
inputs from a dict batch by their keys, and returns one unit-length embedding per modality:

    out = model({"image": images, "input_ids": ids, "attention_mask": mask, "audio": specs})
    out["image_emb"], out["text_emb"], out["audio_emb"], out["logit_scale"]

Any two of them can be scored by a loss of ``xmlab.losses``, which never needs to know which
modalities they are. ``xm.modalities.multi_encoder`` builds one from the modality registry.

Explained in: notebooks/02_common_representation.ipynb
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from xmlab.encoders.dual import (
    LOGIT_SCALE_INIT,
    ProjectionHead,
    add_temperature,
    temperature_outputs,
)

DEFAULT_INPUTS = {  # batch keys each built-in modality's encoder reads, in call order
    "image": ("image",),
    "text": ("input_ids", "attention_mask"),
    "audio": ("audio",),
}


def _shape(x) -> str:
    return f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__


class MultiEncoder(nn.Module):
    """Towers for named modalities, projected into one ``embed_dim`` space.

    Args:
        encoders: modality name -> module mapping that modality's inputs to ``(B, F)``.
        dims: modality name -> ``F``, the size of that encoder's features.
        embed_dim: size of the shared space.
        hidden: hidden size of MLP projection heads (``None``: linear heads).
        inputs: modality name -> the batch keys its encoder reads, in order (default
            :data:`DEFAULT_INPUTS` for the built-in names, else the modality's own name).
        init_logit_scale: starting log scale, ln(1/0.07) as in CLIP.
        init_logit_bias: starting bias for the SigLIP loss (-10), or ``None``.
    """

    def __init__(
        self,
        encoders: Mapping[str, nn.Module],
        dims: Mapping[str, int],
        *,
        embed_dim: int = 128,
        hidden: int | None = None,
        inputs: Mapping[str, tuple[str, ...]] | None = None,
        init_logit_scale: float = LOGIT_SCALE_INIT,
        init_logit_bias: float | None = None,
    ):
        super().__init__()
        if not encoders:
            raise ValueError("a multi-encoder needs at least one modality's encoder")
        missing = sorted(set(encoders) - set(dims))
        if missing:
            raise ValueError(f"no feature size for {missing}: pass dims={{name: size, ...}}")
        self.encoders = nn.ModuleDict(dict(encoders))
        self.heads = nn.ModuleDict(
            {m: ProjectionHead(dims[m], embed_dim, hidden=hidden) for m in encoders}
        )
        inputs = dict(inputs or {})
        self.inputs = {m: tuple(inputs.get(m, DEFAULT_INPUTS.get(m, (m,)))) for m in encoders}
        self.embed_dim = embed_dim
        add_temperature(self, init_logit_scale, init_logit_bias)

    @property
    def modalities(self) -> list[str]:
        """The names of the modalities this model encodes."""
        return list(self.encoders)

    def encode(self, modality: str, *inputs: torch.Tensor) -> torch.Tensor:
        """Unit-length embeddings ``(B, D)`` of one modality's inputs."""
        if modality not in self.encoders:
            raise KeyError(
                f"this model has no {modality!r} encoder; it encodes {', '.join(self.modalities)}:"
                " build it with that modality, or encode one it has"
            )
        features = self.encoders[modality](*inputs)  # (B, F)
        width = self.heads[modality].in_dim
        if not isinstance(features, torch.Tensor) or tuple(features.shape[1:]) != (width,):
            raise ValueError(
                f"the {modality!r} encoder returned {_shape(features)}, expected (B, {width}) "
                f"features (the width it was built with): its factory must build a module "
                f"that maps a batch to (B, out_dim) vectors, out_dim={width}"
            )
        return F.normalize(self.heads[modality](features), dim=-1)  # (B, D)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-length image embeddings ``(B, D)``."""
        return self.encode("image", images)

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Unit-length text embeddings ``(B, D)``."""
        return self.encode("text", input_ids, attention_mask)

    def encode_audio(self, spectrograms: torch.Tensor) -> torch.Tensor:
        """Unit-length audio embeddings ``(B, D)`` of log-mel spectrograms."""
        return self.encode("audio", spectrograms)

    def forward(
        self, batch: Mapping[str, torch.Tensor], *, only: list[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """Embed every modality of the model (or those in ``only``) from a dict batch.

        Returns ``{"<modality>_emb": (B, D) for each, "logit_scale": scalar}`` (and
        ``"logit_bias"`` when the model has one).
        """
        out = {}
        for m in self.modalities if only is None else only:
            if m not in self.encoders:
                raise KeyError(f"this model has no {m!r} encoder; it has {self.modalities}")
            absent = [k for k in self.inputs[m] if k not in batch]
            if absent:
                raise KeyError(
                    f"the batch has no {absent} for the {m!r} encoder (it holds "
                    f"{sorted(batch)}): add them, or pass only=[...] to embed fewer modalities"
                )
            out[f"{m}_emb"] = self.encode(m, *(batch[k] for k in self.inputs[m]))
        sizes = {k: v.shape[0] for k, v in out.items()}
        if len(set(sizes.values())) > 1:
            raise ValueError(f"modalities have different batch sizes {sizes}: pair them by row")
        return {**out, **temperature_outputs(self)}
