"""Fusion models: encoders + a fusion module, a multi-task head, and how to train and score them.

A :class:`FusionModel` holds one encoder per modality and one fusion module (see
``xmlab.fusion.methods``); it reads a batch dict ``{"image": ..., "audio": ..., "label": ...}``
and returns class logits. A :class:`MultiTaskModel` adds a second task on the same encoders:
per-modality embeddings in one shared space, trained with a contrastive loss while the fused
features are trained to classify.

Explained in: notebooks/07_fusion_and_multitask.ipynb
"""

from __future__ import annotations

import itertools
import time

import torch
import torch.nn.functional as F
from torch import nn

from xmlab import losses
from xmlab.data.loaders import TensorLoader
from xmlab.encoders.dual import (
    LOGIT_SCALE_INIT,
    ProjectionHead,
    add_temperature,
    temperature_outputs,
)
from xmlab.fusion.methods import Fusion, pool
from xmlab.history import History
from xmlab.metrics import classification
from xmlab.train import TrainConfig, fit, move_to


def count_parameters(module: nn.Module, *, trainable: bool = True) -> int:
    """Number of (trainable, by default) scalar parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable)


def check_batch(batch: dict, modalities: list[str], where: str) -> None:
    """Raise a clear error naming the first modality of ``modalities`` missing from ``batch``."""
    if not isinstance(batch, dict):
        raise TypeError(f"{where} takes a dict batch with {modalities}, got {type(batch).__name__}")
    missing = [m for m in modalities if m not in batch]
    if missing:
        raise ValueError(
            f"{where} needs modalities {modalities} but the batch has no {missing[0]!r} "
            f"(it has {sorted(batch)}): add it to the batch, or build a model without it"
        )


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
        check_batch(batch, self.modalities, type(self).__name__)
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


def _labels(batch: dict) -> torch.Tensor:
    if "label" not in batch:
        raise ValueError(f"training a classifier needs batch['label'], got keys {sorted(batch)}")
    return batch["label"]


def classification_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    """Cross-entropy of a classifier's logits against ``batch["label"]``."""
    out = model(batch)
    logits = out["logits"] if isinstance(out, dict) else out  # (B, C)
    return F.cross_entropy(logits, _labels(batch))


def multitask_loss(model: MultiTaskModel, batch: dict, *, weight: float = 0.5) -> torch.Tensor:
    """Classification loss + ``weight`` x the contrastive loss between every pair of modalities.

    Items with the same label are positives of each other (two recordings of "seven" and two
    images of a 7 all match), so they are not pushed apart.
    """
    out, labels = model(batch), _labels(batch)
    positives = losses.positives_from_labels(labels)  # (B, B)
    pairs = list(itertools.combinations(model.modalities, 2))
    contrastive = sum(
        losses.clip_loss(
            out[f"{a}_emb"], out[f"{b}_emb"], logit_scale=out["logit_scale"], positives=positives
        )
        for a, b in pairs
    ) / max(len(pairs), 1)
    return F.cross_entropy(out["logits"], labels) + weight * contrastive


def train_classifier(
    model: nn.Module,
    data: dict[str, torch.Tensor],
    *,
    epochs: int = 10,
    lr: float = 3e-3,
    batch_size: int = 64,
    seed: int = 0,
    device: str = "auto",
    loss_fn=classification_loss,
) -> History:
    """Train ``model`` on a dict of tensors with AdamW and a cosine schedule (``xm.train.fit``).

    ``data`` holds every modality the model reads and ``"label"``; ``loss_fn`` is
    :func:`classification_loss` (default), :func:`multitask_loss` or any ``loss(model, batch)``.
    """
    return fit_tensors(
        model, data, loss_fn, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, device=device
    )


def fit_tensors(
    model: nn.Module,
    data: dict[str, torch.Tensor],
    loss_fn,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
    device: str,
) -> History:
    """``xm.train.fit`` over shuffled batches of a dict of tensors, with AdamW and a cosine
    schedule: the recipe the fusion and binding lessons share."""
    torch.manual_seed(seed)
    loader = TensorLoader(data, batch_size=batch_size, shuffle=True, seed=seed)
    config = TrainConfig(
        epochs=epochs,
        lr=lr,
        optimizer="adamw",
        weight_decay=1e-4,
        schedule="cosine",
        device=device,
        progress=False,
    )
    return fit(model, loader, config=config, loss_fn=loss_fn)


@torch.no_grad()
def predict(model: nn.Module, data: dict[str, torch.Tensor], *, batch_size: int = 256):
    """The class each item is given: ``(N,)`` ids on the CPU (the model stays on its device)."""
    device, was_training = next(model.parameters()).device, model.training
    model.eval()
    preds = []
    for batch in TensorLoader(data, batch_size=batch_size):
        out = model(move_to(batch, device))
        logits = out["logits"] if isinstance(out, dict) else out  # (B, C)
        preds.append(logits.argmax(-1).cpu())
    model.train(was_training)
    return torch.cat(preds)


def accuracy(model: nn.Module, data: dict[str, torch.Tensor]) -> float:
    """Fraction of ``data``'s items whose predicted class equals ``data["label"]``."""
    return classification.accuracy(predict(model, data), _labels(data))


def train_and_score(
    model: nn.Module, train: dict, test: dict, *, device: str = "auto", **options
) -> dict:
    """Train with :func:`train_classifier` (``options`` go to it) and report the result.

    Returns ``{"accuracy": test accuracy, "parameters": trainable count, "seconds": training
    time, "model": the trained model}``: one row of a comparison table.
    """
    start = time.perf_counter()
    train_classifier(model, train, device=device, **options)
    seconds = time.perf_counter() - start
    return {
        "accuracy": accuracy(model, test),
        "parameters": count_parameters(model),
        "seconds": seconds,
        "model": model,
    }
