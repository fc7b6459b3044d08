"""Gradient accumulation: one optimiser step for a batch too large to backpropagate at once.

Split the batch into micro-batches, backpropagate each, let the gradients add up, then step.
For a loss that is a mean over independent items this is exact (the *naive* way). A contrastive
loss is not: every image is compared with every caption of the batch, so a micro-batch alone
sees fewer negatives and gives a different (easier) loss and gradient.

The *cached* way (GradCache; also how open_clip accumulates) stays exact:

1. embed every micro-batch without gradients and keep the features of the whole batch;
2. for each micro-batch, embed it again with gradients, put its rows in place of the cached
   ones, compute the loss over the whole batch and backpropagate. Only the fresh rows carry
   gradients, so each micro-batch adds exactly its share of the full-batch gradient.

The temperature gets its gradient from the first micro-batch only, so it is counted once.
Memory holds one micro-batch of activations plus the ``(B, D)`` features; the price is a second
forward pass. Models with dropout draw different masks in the two passes, and batch norm sees
micro-batch statistics: both make the result approximate.

Paper: Gao et al., "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup"
(GradCache), 2021.

Explained in: notebooks/04_optimization.ipynb
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext

import torch
from torch import nn

from xmlab import losses

PairLoss = Callable[..., torch.Tensor]  # pair_loss(image_emb, text_emb, *, logit_scale)


def split_batch(batch: dict, chunks: int) -> list[dict]:
    """Cut a dict batch into ``chunks`` micro-batches along the first axis (lists too)."""
    n = len(next(iter(batch.values())))
    if not 1 <= chunks <= n:
        raise ValueError(f"cannot split a batch of {n} items into {chunks} micro-batches")
    bounds = torch.linspace(0, n, chunks + 1).round().long().tolist()
    return [{k: v[start:end] for k, v in batch.items()} for start, end in zip(bounds, bounds[1:])]


def _identity(loss: torch.Tensor) -> torch.Tensor:
    return loss


def naive_backward(
    model: nn.Module,
    batch: dict,
    loss_fn: Callable[[nn.Module, dict], torch.Tensor],
    *,
    chunks: int,
    autocast=nullcontext,
    scale: Callable[[torch.Tensor], torch.Tensor] = _identity,
) -> torch.Tensor:
    """Backpropagate ``loss_fn`` micro-batch by micro-batch, each weighted by its size.

    Exact for losses that average independent items; for a contrastive loss each micro-batch
    only sees its own negatives. Returns the (detached) weighted mean of the micro losses.
    """
    micros = split_batch(batch, chunks)
    n = sum(len(next(iter(m.values()))) for m in micros)
    total = 0.0
    for micro in micros:
        with autocast():
            loss = loss_fn(model, micro) * (len(next(iter(micro.values()))) / n)
        scale(loss).backward()
        total = total + loss.detach()
    return total


def _embed(model: nn.Module, micro: dict) -> tuple[torch.Tensor, torch.Tensor]:
    images = model.encode_image(micro["image"])  # (b, D)
    texts = model.encode_text(micro["input_ids"], micro["attention_mask"])  # (b, D)
    return images, texts


def cached_backward(
    model: nn.Module,
    batch: dict,
    *,
    chunks: int,
    pair_loss: PairLoss = losses.clip_loss,
    autocast=nullcontext,
    scale: Callable[[torch.Tensor], torch.Tensor] = _identity,
) -> torch.Tensor:
    """Backpropagate a contrastive loss over the whole batch, one micro-batch at a time.

    ``model`` is a dual encoder (``encode_image``, ``encode_text``, ``logit_scale`` as a log);
    ``pair_loss(image_emb, text_emb, *, logit_scale)`` scores the full ``(B, D)`` embeddings.
    The gradients equal those of one backward pass over the whole batch. Returns the (detached)
    full-batch loss.
    """
    micros = split_batch(batch, chunks)
    with torch.no_grad(), autocast():
        cached = [_embed(model, m) for m in micros]  # features of the whole batch, no graph
    cached_images, cached_texts = [c[0] for c in cached], [c[1] for c in cached]
    for j, micro in enumerate(micros):
        with autocast():
            image_j, text_j = _embed(model, micro)  # (b, D) each, with gradients
            images = _replace(cached_images, j, image_j)  # (B, D)
            texts = _replace(cached_texts, j, text_j)  # (B, D)
            logit_scale = model.logit_scale.exp()
            if j > 0:
                logit_scale = logit_scale.detach()  # the temperature's gradient counts once
            loss = pair_loss(images, texts, logit_scale=logit_scale)  # over all B pairs
        scale(loss).backward()
    return loss.detach()


def _replace(cached: list[torch.Tensor], j: int, fresh: torch.Tensor) -> torch.Tensor:
    """The cached features of the whole batch with micro-batch ``j``'s rows swapped for fresh
    ones that carry gradients."""
    return torch.cat([*cached[:j], fresh, *cached[j + 1 :]])  # (B, D)
