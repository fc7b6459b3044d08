"""Compositional understanding, measured: does a dual encoder read *which* object is red?

Every number notebook 06 compares before and after training with hard negatives:
:func:`compositional_scores` gives, on a Shapes split, how often an image prefers its caption
over each kind of verified hard negative (``xm.metrics.hard_negative_accuracy``) and retrieval
R@1 in both directions.

And the reason a bag-of-words text tower can never pass a swap: :func:`word_bag` is all it
sees, and :func:`embed_bags` embeds each distinct bag once, so two captions with the same words
get the very same vector (a sum of the same numbers in another order can differ in its last
digit; a bag has no order).

Explained in: notebooks/06_compositionality.ipynb
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from xmlab.metrics.probes import hard_negative_accuracy, negative_table
from xmlab.metrics.retrieval import group_ids, retrieval_metrics
from xmlab.preprocess import WordTokenizer, normalize_images
from xmlab.utils import evaluating


def word_bag(text: str) -> tuple[str, ...]:
    """The multiset of a caption's words, as a sorted tuple: all that a bag of words can see."""
    return tuple(sorted(text.split()))


def embed_bags(model: nn.Module, tokenizer: WordTokenizer, texts: Sequence[str]) -> torch.Tensor:
    """Text embeddings by a model that reads bags of words: one embedding per distinct
    :func:`word_bag`, shared by every text with that bag. ``(M, D)`` on the CPU."""
    bags = sorted({word_bag(t) for t in texts})
    table = embed_texts(model, tokenizer, [" ".join(b) for b in bags])  # (U, D)
    row = {b: j for j, b in enumerate(bags)}
    return table[[row[word_bag(t)] for t in texts]]  # (M, D)


def embed_texts(
    model: nn.Module, tokenizer: WordTokenizer, texts: Sequence[str], *, chunk: int = 1024
) -> torch.Tensor:
    """Embeddings of ``texts`` by the model's text tower, on the CPU: ``(M, D)``."""
    device = next(model.parameters()).device
    out = []
    with evaluating(model):
        for lo in range(0, len(texts), chunk):
            tokens = tokenizer(list(texts[lo : lo + chunk]))
            ids, mask = tokens["input_ids"].to(device), tokens["attention_mask"].to(device)
            out.append(model.encode_text(ids, mask).float().cpu())
    return torch.cat(out)  # (M, D)


def embed_images(model: nn.Module, images: torch.Tensor, *, chunk: int = 512) -> torch.Tensor:
    """Embeddings of uint8 images ``(N, 3, H, W)`` by the model's image tower, on the CPU."""
    device = next(model.parameters()).device
    out = []
    with evaluating(model):
        for lo in range(0, len(images), chunk):
            batch = normalize_images(images[lo : lo + chunk]).to(device)  # (b, 3, H, W)
            out.append(model.encode_image(batch).float().cpu())
    return torch.cat(out)  # (N, D)


def compositional_scores(
    model: nn.Module,
    dataset,
    tokenizer: WordTokenizer,
    negatives: Sequence[dict[str, str | None]],
) -> dict[str, float]:
    """Hard-negative accuracy per kind and retrieval R@1 of ``model`` on a Shapes split.

    Args:
        model: a dual encoder (``encode_image``, ``encode_text``), on the device to embed on.
        dataset: the split, e.g. ``xm.data.make_shapes(500, split="test")``.
        tokenizer: the tokenizer the model was trained with.
        negatives: per scene ``{kind: caption or None}``, from ``dataset.hard_negatives()``.

    Returns:
        ``{kind: accuracy, ..., "all": ..., "image_to_text_R@1": ..., "text_to_image_R@1": ...}``;
        accuracy 0.5 is chance (ties count half), R@1 treats identical captions as equally right.
    """
    if len(negatives) != len(dataset):
        raise ValueError(
            f"got hard negatives for {len(negatives)} scenes but the split has {len(dataset)}: "
            "pass dataset.hard_negatives() of the same split"
        )
    image_emb = embed_images(model, dataset.images)  # (N, D)
    text_emb = embed_texts(model, tokenizer, dataset.captions)  # (N, D)
    owners, kinds, texts = negative_table(negatives)
    negative_emb = embed_texts(model, tokenizer, texts)  # (M, D)
    scores = hard_negative_accuracy(image_emb, text_emb, negative_emb, kinds, owners=owners)
    retrieval = retrieval_metrics(image_emb, text_emb, ks=(1,), groups=group_ids(dataset.captions))
    return {**scores, **{k: v for k, v in retrieval.items() if k.endswith("R@1")}}


def caption_scorer(
    model: nn.Module, tokenizer: WordTokenizer
) -> Callable[[torch.Tensor, Sequence[str]], torch.Tensor]:
    """``score(image, texts)``: the cosine similarity of one ``(3, H, W)`` uint8 image to each
    text, as ``model`` sees them; returns ``(M,)`` on the CPU. For ``xm.widgets``."""

    def score(image: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        image_emb = embed_images(model, image[None])  # (1, D)
        return (image_emb @ embed_texts(model, tokenizer, texts).T)[0]  # (M,)

    return score
