"""Audio-visual digits for the fusion lesson: tensors, encoders, classifiers and a noise sweep.

The tri-modal spoken digits (``xmlab.data.digits``) pair a handwritten digit image with a spoken
digit of the same label. Spoil both with the data set's degradation knobs -- remove most of the
images' energy, drown the audio in noise -- and neither modality alone is reliable; since the
two are spoiled independently, combining them pays off. This is the set-up of AV-MNIST
(Vielzeuf et al., 2018), on data the kit ships.

Explained in: notebooks/07_fusion_and_multitask.ipynb
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from xmlab.data.digits import Degradation, SpokenDigits
from xmlab.encoders.audio import AudioEncoder
from xmlab.encoders.image import ImageEncoder
from xmlab.fusion.methods import make_fusion
from xmlab.fusion.models import FusionModel, MultiTaskModel, accuracy
from xmlab.preprocess.audio import MelConfig, log_mel

DIGIT_MEL = MelConfig(hop_length=160, n_mels=32)  # 20 ms frames, 32 bands: small and enough
MODALITIES = ("image", "audio")


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


def digit_encoders(
    modalities: tuple[str, ...] = MODALITIES, *, dim: int = 64, n_mels: int = DIGIT_MEL.n_mels
) -> dict[str, nn.Module]:
    """Small encoders for 8 x 8 digit images (a CNN vector) and log-mel audio (frame tokens)."""
    builders = {
        "image": lambda: ImageEncoder(dim, image_size=8, in_channels=1, channels=(32, 64)),
        "audio": lambda: AudioEncoder(dim, n_mels=n_mels, pool=False),  # (B, T', dim) tokens
    }
    unknown = [m for m in modalities if m not in builders]
    if unknown:
        raise ValueError(
            f"no digit encoder for modality {unknown[0]!r}: expected some of {sorted(builders)}"
        )
    return {m: builders[m]() for m in modalities}


def digit_classifier(
    method: str = "early",
    modalities: tuple[str, ...] = MODALITIES,
    *,
    dim: int = 64,
    n_classes: int = 10,
    multitask: bool = False,
    **options,
) -> FusionModel:
    """A digit classifier: :func:`digit_encoders` + the fusion ``method`` (``options`` go to it).

    With one modality, ``method="early"`` is simply that modality's classifier (an MLP on its
    features): the unimodal baseline. ``multitask=True`` returns a :class:`MultiTaskModel`.
    """
    fusion = make_fusion(method, {m: dim for m in modalities}, n_classes, **options)
    encoders = digit_encoders(modalities, dim=dim)
    return MultiTaskModel(encoders, fusion) if multitask else FusionModel(encoders, fusion)


def noise_sweep(
    models: dict[str, nn.Module],
    levels: list[Degradation],
    *,
    split: str = "test",
    seed: int = 0,
) -> list[dict]:
    """Accuracy of every model on ``split`` spoiled at each degradation level.

    Returns one row per level: ``{"level": i, "image": ..., "audio": ..., <model name>: acc}``
    (the row also holds the level's knobs, ``energy_removed`` and ``snr_db``).
    """
    dataset, rows = SpokenDigits(split, seed=seed), []
    for i, level in enumerate(levels):
        data = av_digits(split, degradation=level, dataset=dataset)
        row = {"level": i, "energy_removed": level.energy_removed, "snr_db": level.snr_db}
        row.update({name: accuracy(model, data) for name, model in models.items()})
        rows.append(row)
    return rows
