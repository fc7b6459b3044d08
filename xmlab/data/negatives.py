"""Hard negatives for training: every scene's caption with K verified-false near-misses.

Evaluation asks whether an image prefers its caption over a minimally edited false one
(``xm.metrics.hard_negative_accuracy``). Training can ask the same question on every step:
give the loss, beside each image's caption, K false captions of the kinds you choose
(``xm.losses.negclip_loss``). Each one is written by the grammar (:mod:`xmlab.data.grammar`)
and kept only when the scene makes it false, so the model is never taught that a true caption
is wrong.

A scene that has no negative of the kinds asked for (two identical objects: swapping their
colours changes nothing) is left out of the loader; ``loader.dropped`` counts them.

Explained in: notebooks/06_compositionality.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from xmlab.data.grammar import NEGATIVE_KINDS, hard_negative
from xmlab.data.loaders import TensorLoader, encode_pairs
from xmlab.data.shapes import Scenes, ShapesDataset
from xmlab.preprocess import WordTokenizer


def check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    """The kinds as a tuple, or a clear error for an empty list or an unknown name."""
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    unknown = [k for k in kinds if k not in NEGATIVE_KINDS]
    if not kinds or unknown:
        raise ValueError(
            f"kinds must be a non-empty list of {NEGATIVE_KINDS}, got {list(kinds)}: "
            "e.g. kinds=('attribute_swap', 'relation_swap')"
        )
    return kinds


def scene_negatives(
    scenes: Scenes,
    *,
    kinds: Sequence[str],
    k: int = 1,
    templates: Sequence[int] | None = None,
    seed: int = 0,
) -> list[list[tuple[str, str]]]:
    """For every scene, ``k`` verified-false captions as ``(kind, caption)`` pairs.

    Each of the ``k`` slots draws a kind at random among ``kinds`` and asks the grammar for a
    negative of it; when the scene has none of that kind, the other kinds are tried in turn.
    A scene with no negative of any asked kind gets an empty list. Negatives are written with
    the scene's paraphrase ``templates[i]``, so they differ from the caption only in what they
    claim. The same ``seed`` gives the same negatives.
    """
    kinds = check_kinds(kinds)
    if k < 1:
        raise ValueError(f"k must be at least 1 negative per scene, got {k}")
    rng = np.random.default_rng(seed)
    templates = [0] * len(scenes) if templates is None else templates
    out = []
    for i in range(len(scenes)):
        found = []
        for _ in range(k):
            first = int(rng.integers(len(kinds)))
            for kind in kinds[first:] + kinds[:first]:  # the drawn kind, then the others
                text = hard_negative(scenes, i, kind, template=templates[i], rng=rng)
                if text is not None:
                    found.append((kind, text))
                    break
            else:
                break  # none of the kinds exists for this scene
        out.append(found)
    return out


def encode_negatives(
    negatives: Sequence[Sequence[tuple[str, str]]], tokenizer: WordTokenizer
) -> dict[str, torch.Tensor]:
    """Token ids of ``k`` negatives per scene: ``negative_input_ids`` and
    ``negative_attention_mask``, both ``(N, k, L)``. Every scene needs exactly ``k``."""
    ks = {len(row) for row in negatives}
    if len(ks) != 1 or 0 in ks:
        raise ValueError(
            f"every scene needs the same number k >= 1 of negatives, got {sorted(ks)}: "
            "leave out the scenes that have fewer"
        )
    (k,) = ks
    tokens = tokenizer([text for row in negatives for _, text in row])  # (N*k, L)
    return {
        "negative_input_ids": tokens["input_ids"].view(len(negatives), k, -1),  # (N, k, L)
        "negative_attention_mask": tokens["attention_mask"].view(len(negatives), k, -1),
    }


def negative_pair_loader(
    dataset: ShapesDataset,
    tokenizer: WordTokenizer,
    *,
    kinds: Sequence[str] = ("attribute_swap", "relation_swap"),
    k: int = 1,
    batch_size: int = 128,
    shuffle: bool = False,
    seed: int = 0,
    drop_last: bool = False,
) -> TensorLoader:
    """A :class:`TensorLoader` of Shapes pairs, each with ``k`` hard negatives of ``kinds``.

    Batches hold what ``xm.data.pair_loader`` gives (``image``, ``input_ids``,
    ``attention_mask``, ``index``) plus ``negative_input_ids`` and ``negative_attention_mask``
    ``(B, k, L)``. Scenes with fewer than ``k`` negatives of the asked kinds are left out
    (``loader.dropped`` says how many); ``loader.negatives[j]`` holds the ``(kind, caption)``
    pairs of item ``j`` and ``index`` its scene in ``dataset``.

    Shapes:
        batch["image"]: (B, 3, H, W), batch["input_ids"]: (B, L),
        batch["negative_input_ids"]: (B, k, L') -> a dict batch for ``xm.train.fit``.

    Explained in: notebooks/06_compositionality.ipynb
    """
    negatives = scene_negatives(
        dataset.scenes, kinds=kinds, k=k, templates=dataset.templates, seed=seed
    )
    keep = [i for i, row in enumerate(negatives) if len(row) == k]
    tensors = {key: v[keep] for key, v in encode_pairs(dataset, tokenizer).items()}
    tensors.update(encode_negatives([negatives[i] for i in keep], tokenizer))
    loader = TensorLoader(
        tensors, batch_size=batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last
    )
    loader.negatives = [negatives[i] for i in keep]
    loader.dropped = len(dataset) - len(keep)
    return loader
