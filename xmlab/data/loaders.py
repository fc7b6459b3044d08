"""Batches: collate dict samples of any mix of modalities, and a fast loader over tensors.

Explained in: notebooks/00_welcome.ipynb and notebooks/01_multimodal_data.ipynb
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import torch

from xmlab.preprocess import WordTokenizer, normalize_images


def move_to(batch: dict, device: torch.device) -> dict:
    """Move every tensor of a dict batch to ``device``; other values stay as they are."""
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }


def collate(samples: list[dict], *, tokenizer=None, keys: tuple[str, ...] | None = None) -> dict:
    """Stack a list of dict samples into one dict batch.

    Tensors of one shape are stacked along a new batch axis. Tensors whose last axis differs
    (waveforms ``(T,)``, spectrograms ``(M, T)``) are zero-padded to the longest and get a
    ``"<key>_mask"`` ``(B, T)`` that is True on real values. Numbers become a tensor, anything
    else (texts) a list. With a ``tokenizer`` (word or character), the ``"text"`` list is also
    encoded to ``input_ids`` and ``attention_mask``. ``keys`` keeps only those modalities.
    """
    if not samples:
        raise ValueError("cannot collate an empty list of samples")
    keys = tuple(samples[0]) if keys is None else keys
    missing = [k for k in keys if k not in samples[0]]
    if missing:
        raise KeyError(f"samples have no {missing}: they hold {sorted(samples[0])}")
    batch = {}
    for key in keys:
        values = [s[key] for s in samples]
        if isinstance(values[0], torch.Tensor):
            batch.update(_stack_or_pad(key, values))
        elif isinstance(values[0], (int, float)):
            batch[key] = torch.tensor(values)
        else:
            batch[key] = values
    if tokenizer is not None and "text" in batch:
        batch.update(tokenizer(batch["text"]))
    return batch


def _stack_or_pad(key: str, values: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Stack equal shapes; pad the last axis of unequal ones and return a mask beside them."""
    if all(v.shape == values[0].shape for v in values):
        return {key: torch.stack(values)}
    if any(v.shape[:-1] != values[0].shape[:-1] for v in values):
        shapes = sorted({tuple(v.shape) for v in values})
        raise ValueError(
            f"cannot batch {key!r}: only the last axis may differ between samples, got {shapes}"
        )
    lengths = torch.tensor([v.shape[-1] for v in values])  # (B,)
    padded = values[0].new_zeros(len(values), *values[0].shape[:-1], int(lengths.max()))
    for row, v in enumerate(values):
        padded[row, ..., : v.shape[-1]] = v
    mask = torch.arange(int(lengths.max())) < lengths[:, None]  # (B, T)
    return {key: padded, f"{key}_mask": mask}


def modality_loader(
    dataset,
    modalities: tuple[str, ...] = ("image", "audio", "text"),
    *,
    tokenizer=None,
    batch_size: int = 64,
    shuffle: bool = False,
    seed: int = 0,
) -> torch.utils.data.DataLoader:
    """A ``DataLoader`` of dict batches with any mix of ``modalities`` (plus ``"label"`` when
    the samples have one), padded and masked by :func:`collate`."""
    keys = (*modalities, "label") if "label" in dataset[0] else tuple(modalities)
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        collate_fn=functools.partial(collate, tokenizer=tokenizer, keys=keys),
    )


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
