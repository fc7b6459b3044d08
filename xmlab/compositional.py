"""Compositional understanding: train a dual encoder with hard negatives and measure it per kind.

Two pieces that the lesson, the benchmark and the widget share:

- :func:`hard_negative_loss`, a ``loss_fn(model, batch)`` for ``xm.train.fit``: it embeds each
  batch's K hard-negative captions with the model's text tower and scores everything with
  ``xm.losses.negclip_loss``. ``fit`` itself does not change.
- :func:`compositional_scores`, every number the lesson compares before and after: how often
  an image prefers its caption over each kind of verified hard negative, and retrieval R@1 in
  both directions.

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

from xmlab import losses
from xmlab.data.loaders import pair_loader
from xmlab.metrics import group_ids, hard_negative_accuracy, negative_table, retrieval_metrics
from xmlab.preprocess import WordTokenizer, normalize_images
from xmlab.train import embed_pairs, move_to
from xmlab.utils import get_device


def hard_negative_loss(model: nn.Module, batch: dict) -> torch.Tensor:
    """NegCLIP's loss on a batch of ``xm.data.negative_pair_loader``: a ``loss_fn`` for ``fit``.

    Shapes:
        batch["image"]: (B, 3, H, W), batch["input_ids"]: (B, L),
        batch["negative_input_ids"]: (B, K, L') -> scalar.
    """
    out = model(batch["image"], batch["input_ids"], batch["attention_mask"])
    b, k, length = batch["negative_input_ids"].shape
    negatives = model.encode_text(
        batch["negative_input_ids"].reshape(b * k, length),
        batch["negative_attention_mask"].reshape(b * k, length),
    ).view(b, k, -1)  # (B, K, D)
    return losses.negclip_loss(
        out["image_emb"], out["text_emb"], logit_scale=out["logit_scale"], text_negatives=negatives
    )


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


@torch.no_grad()
def embed_texts(
    model: nn.Module, tokenizer: WordTokenizer, texts: Sequence[str], *, chunk: int = 1024
) -> torch.Tensor:
    """Unit-length embeddings of ``texts`` by the model's text tower, on the CPU: ``(M, D)``."""
    device = next(model.parameters()).device
    model.eval()
    out = []
    for lo in range(0, len(texts), chunk):
        tokens = move_to(tokenizer(list(texts[lo : lo + chunk])), device)
        out.append(model.encode_text(tokens["input_ids"], tokens["attention_mask"]).float().cpu())
    return torch.cat(out)  # (M, D)


def compositional_scores(
    model: nn.Module,
    dataset,
    tokenizer: WordTokenizer,
    negatives: Sequence[dict[str, str | None]],
    *,
    device: str | torch.device = "auto",
) -> dict[str, float]:
    """Hard-negative accuracy per kind and retrieval R@1 of ``model`` on a Shapes split.

    Args:
        model: a dual encoder (``encode_image``, ``encode_text``).
        dataset: the split, e.g. ``xm.data.make_shapes(500, split="test")``.
        tokenizer: the tokenizer the model was trained with.
        negatives: per scene ``{kind: caption or None}``, from ``dataset.hard_negatives()``.
        device: where to embed.

    Returns:
        ``{kind: accuracy, ..., "all": ..., "image_to_text_R@1": ..., "text_to_image_R@1": ...}``;
        accuracy 0.5 is chance (ties count half), R@1 treats identical captions as equally right.
    """
    device = get_device(device)
    loader = pair_loader(dataset, tokenizer, batch_size=1024)
    image_emb, text_emb = embed_pairs(model, loader, device=device)
    owners, kinds, texts = negative_table(negatives)
    scores = hard_negative_accuracy(
        image_emb, text_emb, embed_texts(model, tokenizer, texts), kinds, owners=owners
    )
    groups = group_ids(dataset.captions)
    retrieval = retrieval_metrics(image_emb, text_emb, ks=(1,), groups=groups)
    return {**scores, **{k: v for k, v in retrieval.items() if k.endswith("R@1")}}


def caption_scorer(
    model: nn.Module, tokenizer: WordTokenizer
) -> Callable[[torch.Tensor, Sequence[str]], torch.Tensor]:
    """``score(image, texts)``: the cosine similarity of one ``(3, H, W)`` uint8 image to each
    text, as ``model`` sees them; returns ``(M,)`` on the CPU. For ``xm.widgets``."""

    @torch.no_grad()
    def score(image: torch.Tensor, texts: Sequence[str]) -> torch.Tensor:
        device = next(model.parameters()).device
        image_emb = model.eval().encode_image(normalize_images(image[None]).to(device))  # (1, D)
        return (image_emb.float().cpu() @ embed_texts(model, tokenizer, texts).T)[0]  # (M,)

    return score
