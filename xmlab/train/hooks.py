"""Loss hooks: what ``fit`` calls on each batch, ``loss_fn(model, batch) -> scalar loss``.

Models return embeddings or logits; the objectives in ``xmlab/losses/`` turn those into a
number. A hook is the glue between the two: it runs the model on a batch dict and hands its
outputs to an objective, so one training loop serves a dual encoder, a fusion classifier or a
multi-task model.

Explained in: notebooks/04_optimization.ipynb, notebooks/06_compositionality.ipynb and
notebooks/07_fusion_and_multitask.ipynb
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from xmlab import checks, losses
from xmlab.train.accumulate import PairLoss

LossFn = Callable[[nn.Module, dict], torch.Tensor]
LABEL_FIX = "put each item's class id in batch['label']"


def contrastive_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    """The default loss: CLIP's symmetric InfoNCE on a dual encoder's image and text embeddings."""
    out = model(batch["image"], batch["input_ids"], batch["attention_mask"])
    return losses.clip_loss(out["image_emb"], out["text_emb"], logit_scale=out["logit_scale"])


contrastive_loss.pair_loss = losses.clip_loss  # lets fit accumulate it exactly (accumulate.py)


def hard_negative_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    """NegCLIP on a batch of ``xm.data.negative_pair_loader``: the K hard-negative captions of
    each image are embedded by the same text tower and join the image's candidates.

    Shapes:
        batch["image"]: (B, 3, H, W), batch["input_ids"]: (B, L),
        batch["negative_input_ids"]: (B, K, L') -> scalar.
    """
    keys = ["negative_input_ids", "negative_attention_mask"]
    fix = "build the loader with xm.data.negative_pair_loader"
    checks.batch_keys(batch, keys, "training with hard negatives", fix=fix)
    out = model(batch["image"], batch["input_ids"], batch["attention_mask"])
    b, k, length = batch["negative_input_ids"].shape
    ids, mask = (batch[key].reshape(b * k, length) for key in keys)  # (B*K, L')
    negatives = model.encode_text(ids, mask).view(b, k, -1)  # (B, K, D)
    return losses.negclip_loss(
        out["image_emb"], out["text_emb"], logit_scale=out["logit_scale"], text_negatives=negatives
    )


def make_contrastive_loss(pair_loss: PairLoss) -> LossFn:
    """A ``loss_fn`` for ``fit`` from a loss of embeddings, ``pair_loss(img, txt, *, logit_scale)``
    (e.g. ``xm.losses.clip_loss``); ``fit`` can accumulate it exactly."""

    def loss_fn(model: nn.Module, batch: dict) -> torch.Tensor:
        out = model(batch["image"], batch["input_ids"], batch["attention_mask"])
        return pair_loss(out["image_emb"], out["text_emb"], logit_scale=out["logit_scale"])

    loss_fn.pair_loss = pair_loss
    return loss_fn


def classification_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    """Cross-entropy of a classifier's logits against ``batch["label"]``."""
    checks.batch_keys(batch, ["label"], "training a classifier", fix=LABEL_FIX)
    out = model(batch)
    logits = out["logits"] if isinstance(out, dict) else out  # (B, C)
    return F.cross_entropy(logits, batch["label"])


def multitask_loss(model: nn.Module, batch: dict, *, weight: float = 0.5) -> torch.Tensor:
    """Classification loss + ``weight`` x the contrastive loss between every pair of modalities.

    ``model`` is a ``xm.fusion.MultiTaskModel``: it returns ``"logits"``, one ``"{m}_emb"`` per
    modality and ``"logit_scale"``. Items with the same label are positives of each other (two
    recordings of "seven" and two images of a 7 all match), so they are not pushed apart.
    """
    labels = checks.batch_keys(batch, ["label"], "training a classifier", fix=LABEL_FIX)["label"]
    out = model(batch)
    positives = losses.positives_from_labels(labels)  # (B, B)
    pairs = list(itertools.combinations(model.modalities, 2))
    contrastive = sum(
        losses.clip_loss(
            out[f"{a}_emb"], out[f"{b}_emb"], logit_scale=out["logit_scale"], positives=positives
        )
        for a, b in pairs
    ) / max(len(pairs), 1)
    return F.cross_entropy(out["logits"], labels) + weight * contrastive
