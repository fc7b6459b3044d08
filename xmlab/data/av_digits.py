"""The spoken digits as model-ready tensors: images, log-mel audio and tokenised texts.

The tri-modal spoken digits (``xmlab.data.digits``) pair a handwritten digit image with a spoken
digit of the same label. The fusion and binding lessons train on tensors, not on samples:
:func:`av_digits` turns one split into images, spectrograms and labels, with the data set's
degradation knobs applied (remove most of the images' energy, drown the audio in noise), and
:func:`tri_modal_digits` adds the texts, tokenised. This is the set-up of AV-MNIST (Vielzeuf et
al., 2018) in spirit, on data the kit ships.

Explained in: notebooks/07_fusion_and_multitask.ipynb
"""

from __future__ import annotations

import copy

import torch

from xmlab.data.digits import Degradation, SpokenDigits
from xmlab.preprocess.audio import MelConfig, log_mel
from xmlab.preprocess.text import WordTokenizer

DIGIT_MEL = MelConfig(hop_length=160, n_mels=32)  # 20 ms frames, 32 bands: small and enough


def av_digits(
    split: str = "train",
    *,
    degradation: Degradation | None = None,
    seed: int = 0,
    dataset: SpokenDigits | None = None,
    max_seconds: float = 0.8,
    mel: MelConfig = DIGIT_MEL,
) -> dict[str, torch.Tensor]:
    """One split as model-ready tensors, with the degradation applied.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"`` (voices and images never cross splits).
        degradation: how to spoil images and audio (None: clean).
        seed: the data set's seed (split, pairing, noise).
        dataset: reuse an already loaded split (faster when sweeping degradations).
        max_seconds: clips are cut or zero-padded to this length before the spectrogram.
        mel: settings of the log-mel spectrogram.

    Returns:
        ``{"image": (N, 1, 8, 8), "audio": (N, n_mels, frames), "label": (N,)}``.
    """
    dataset = copy.copy(dataset) if dataset is not None else SpokenDigits(split, seed=seed)
    dataset.degradation = degradation or Degradation()
    t = dataset.tensors(max_seconds=max_seconds)
    spec = log_mel(t["audio"], mel)  # (N, n_mels, frames)
    return {"image": t["image"], "audio": spec, "label": t["label"]}


def tri_modal_digits(
    split: str = "train",
    tokenizer: WordTokenizer | None = None,
    *,
    degradation: Degradation | None = None,
    seed: int = 0,
) -> tuple[dict[str, torch.Tensor], WordTokenizer]:
    """Tri-modal digit tensors of one split, and the tokenizer of their texts.

    Without a ``tokenizer``, one is built on this split's texts (build it on ``"train"`` and
    pass it to the other splits).

    Returns:
        ``({"image": (N, 1, 8, 8), "audio": (N, n_mels, frames), "input_ids": (N, L),
        "attention_mask": (N, L), "label": (N,)}, tokenizer)``.
    """
    dataset = SpokenDigits(split, seed=seed)
    tokenizer = tokenizer or WordTokenizer.build(dataset.texts, max_length=8)
    data = av_digits(split, degradation=degradation, dataset=dataset)
    return {**data, **tokenizer(dataset.texts)}, tokenizer
