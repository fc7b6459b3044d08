"""Fusion models: encoders + a fusion module, and a multi-task head on the same encoders.

A :class:`FusionModel` holds one encoder per modality and one fusion module (see
``xmlab.fusion.methods``); it reads a batch dict ``{"image": ..., "audio": ..., "label": ...}``
and returns class logits. A :class:`MultiTaskModel` adds a second task on the same encoders:
per-modality embeddings in one shared space, trained with a contrastive loss while the fused
features are trained to classify. Both train with ``xm.train.train_classifier`` and its loss
hooks (``classification_loss``, ``multitask_loss``), and are scored by
``xm.metrics.model_accuracy``.

Explained in: notebooks/07_fusion_and_multitask.ipynb
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from xmlab import checks
from xmlab.encoders.digits import DIGIT_MODALITIES, digit_encoders
from xmlab.encoders.dual import (
    LOGIT_SCALE_INIT,
    ProjectionHead,
    add_temperature,
    temperature_outputs,
)
from xmlab.fusion.methods import Fusion, make_fusion, pool


class FusionModel(nn.Module):
    """One encoder per modality, then a fusion module: batch dict -> ``(B, out_dim)``.

    Args:
        encoders: modality name -> encoder of that modality's input (``batch[name]``).
        fusion: a fusion module built for the same modalities and the encoders' output sizes.
    """

    def __init__(self, encoders: dict[str, nn.Module], fusion: Fusion):
        super().__init__()
        if set(encoders) != set(fusion.dims):
            raise ValueError(
                f"the encoders cover {sorted(encoders)} but the fusion module fuses "
                f"{sorted(fusion.dims)}: give one encoder per fused modality"
            )
        self.encoders = nn.ModuleDict(encoders)
        self.fusion = fusion
        self.modalities = list(fusion.dims)

    def features(self, batch: dict) -> dict[str, torch.Tensor]:
        """Each modality's encoded features: ``(B, D)`` or ``(B, T, D)``."""
        checks.batch_keys(
            batch,
            self.modalities,
            type(self).__name__,
            fix="add it to the batch, or build a model without it",
        )
        return {m: self.encoders[m](batch[m]) for m in self.modalities}

    def forward(self, batch: dict) -> torch.Tensor:
        return self.fusion(self.features(batch))  # (B, out_dim)


class MultiTaskModel(FusionModel):
    """A fusion classifier plus a contrastive head: two tasks trained on shared encoders.

    ``forward`` returns ``{"logits": (B, C), "<modality>_emb": (B, embed_dim) unit vectors for
    every modality, "logit_scale": scalar}``: the logits for classification, the embeddings
    for cross-modal retrieval (an audio clip finds images of the same digit).
    """

    def __init__(
        self,
        encoders: dict[str, nn.Module],
        fusion: Fusion,
        *,
        embed_dim: int = 64,
    ):
        super().__init__(encoders, fusion)
        self.proj = nn.ModuleDict({m: ProjectionHead(d, embed_dim) for m, d in fusion.dims.items()})
        add_temperature(self, LOGIT_SCALE_INIT, None)

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        features = self.features(batch)
        out = {"logits": self.fusion(features), **temperature_outputs(self)}
        for m, x in features.items():
            out[f"{m}_emb"] = F.normalize(self.proj[m](pool(x)), dim=-1)  # (B, E)
        return out


def digit_classifier(
    method: str = "early",
    modalities: tuple[str, ...] = DIGIT_MODALITIES,
    *,
    dim: int = 64,
    n_classes: int = 10,
    multitask: bool = False,
    **options,
) -> FusionModel:
    """A spoken-digit classifier: ``xm.encoders.digit_encoders`` + the fusion ``method``
    (``options`` go to it).

    With one modality, ``method="early"`` is simply that modality's classifier (an MLP on its
    features): the unimodal baseline. ``multitask=True`` returns a :class:`MultiTaskModel`.
    """
    fusion = make_fusion(method, {m: dim for m in modalities}, n_classes, **options)
    encoders = digit_encoders(modalities, dim=dim)
    return MultiTaskModel(encoders, fusion) if multitask else FusionModel(encoders, fusion)
