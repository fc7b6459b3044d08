"""Recipes the lessons share: ready-made uses of ``fit``, and what to do with a trained model.

``fit_tensors`` trains on a dict of tensors with AdamW and a cosine schedule (the fusion,
binding and real-data lessons all train this way); ``train_classifier`` and
``train_and_score`` wrap it for classifiers. ``mean_loss`` and ``embed_pairs`` evaluate a
trained model over a loader.

Explained in: notebooks/00_welcome.ipynb and notebooks/07_fusion_and_multitask.ipynb
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import torch
from torch import nn

from xmlab.data.loaders import TensorLoader, move_to
from xmlab.metrics.classification import model_accuracy
from xmlab.train.history import History
from xmlab.train.hooks import LossFn, classification_loss, contrastive_loss
from xmlab.train.loop import TrainConfig, fit
from xmlab.utils import count_parameters, evaluating, get_device


def fit_tensors(
    model: nn.Module,
    data: dict[str, torch.Tensor],
    loss_fn: LossFn,
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


def train_classifier(
    model: nn.Module,
    data: dict[str, torch.Tensor],
    *,
    epochs: int = 10,
    lr: float = 3e-3,
    batch_size: int = 64,
    seed: int = 0,
    device: str = "auto",
    loss_fn: LossFn = classification_loss,
) -> History:
    """Train ``model`` on a dict of tensors with AdamW and a cosine schedule (``xm.train.fit``).

    ``data`` holds every modality the model reads and ``"label"``; ``loss_fn`` is
    ``classification_loss`` (default), ``multitask_loss`` or any ``loss(model, batch)``.
    """
    return fit_tensors(
        model, data, loss_fn, epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, device=device
    )


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
        "accuracy": model_accuracy(model, test),
        "parameters": count_parameters(model),
        "seconds": seconds,
        "model": model,
    }


def mean_loss(model: nn.Module, loader: Iterable[dict], *, loss_fn: LossFn = contrastive_loss):
    """The loss averaged over a loader's batches (weighted by batch size), in eval mode without
    gradients."""
    device = next(model.parameters()).device
    total, n = 0.0, 0
    with evaluating(model):
        for batch in loader:
            batch = move_to(batch, device)
            size = len(next(iter(batch.values())))
            total, n = total + loss_fn(model, batch).item() * size, n + size
    return total / max(n, 1)


def embed_pairs(
    model: nn.Module, loader: Iterable[dict], *, device: str = "auto"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Image and text embeddings of every pair a loader yields, in order, on the CPU."""
    device = get_device(device)
    images, texts = [], []
    with evaluating(model.to(device)):
        for batch in loader:
            batch = move_to(batch, device)
            images.append(model.encode_image(batch["image"]).float().cpu())
            texts.append(
                model.encode_text(batch["input_ids"], batch["attention_mask"]).float().cpu()
            )
    return torch.cat(images), torch.cat(texts)
