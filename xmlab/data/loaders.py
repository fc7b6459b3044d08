"""Batches: collate dict samples, and a fast loader over tensors that fit in memory.

Explained in: notebooks/00_welcome.ipynb
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from xmlab.preprocess import WordTokenizer, normalize_images


def collate(samples: list[dict], *, tokenizer: WordTokenizer | None = None) -> dict:
    """Stack a list of dict samples into one dict batch.

    Tensors are stacked along a new batch axis; other values (captions) become lists. With a
    ``tokenizer``, the ``"text"`` list is also encoded to ``input_ids`` and ``attention_mask``.
    """
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    keys = samples[0].keys()
    batch = {}
    for key in keys:
        values = [s[key] for s in samples]
        if isinstance(values[0], torch.Tensor):
            batch[key] = torch.stack(values)
        elif isinstance(values[0], (int, float)):
            batch[key] = torch.tensor(values)
        else:
            batch[key] = values
    if tokenizer is not None and "text" in batch:
        batch.update(tokenizer(batch["text"]))
    return batch


class TensorLoader:
    """Mini-batches of a dict of equally long tensors, reshuffled every epoch.

    Faster than a ``DataLoader`` over single samples when the whole set already sits in memory,
    which is the case for every built-in data set of the kit.

    Args:
        tensors: name -> tensor, all with the same first dimension ``N``.
        batch_size: items per batch.
        shuffle: draw a new random order each time the loader is iterated.
        seed: seeds the order, so two runs see the same batches.
        drop_last: skip a final batch smaller than ``batch_size``.
    """

    def __init__(
        self,
        tensors: dict[str, torch.Tensor],
        *,
        batch_size: int = 128,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
    ):
        sizes = {k: v.shape[0] for k, v in tensors.items()}
        if len(set(sizes.values())) != 1:
            raise ValueError(f"all tensors need the same number of items, got {sizes}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.tensors, self.batch_size = tensors, batch_size
        self.shuffle, self.drop_last = shuffle, drop_last
        self.n = next(iter(sizes.values()))
        self.generator = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        order = (
            torch.randperm(self.n, generator=self.generator)
            if self.shuffle
            else torch.arange(self.n)
        )
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield {k: v[idx] for k, v in self.tensors.items()}


def encode_pairs(dataset, tokenizer: WordTokenizer) -> dict[str, torch.Tensor]:
    """Turn an image-caption data set into model-ready tensors, once.

    Returns ``{"image": (N, 3, H, W) normalised floats, "input_ids": (N, L), "attention_mask":
    (N, L), "index": (N,)}``.
    """
    images = getattr(dataset, "images", None)
    if images is None:  # a generic data set of dict samples
        images = torch.stack([dataset[i]["image"] for i in range(len(dataset))])
    texts = list(
        getattr(dataset, "captions", None) or [dataset[i]["text"] for i in range(len(dataset))]
    )
    tokens = tokenizer(texts)
    return {"image": normalize_images(images), **tokens, "index": torch.arange(len(texts))}


def pair_loader(
    dataset,
    tokenizer: WordTokenizer,
    *,
    batch_size: int = 128,
    shuffle: bool = False,
    seed: int = 0,
    drop_last: bool = False,
) -> TensorLoader:
    """A :class:`TensorLoader` over an image-caption data set (see :func:`encode_pairs`)."""
    return TensorLoader(
        encode_pairs(dataset, tokenizer),
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        drop_last=drop_last,
    )
