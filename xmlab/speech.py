"""Recognising spoken digits in real recordings: data, augmentation on the fly, a classifier.

The kit's synthetic voices are clean and alike; the Free Spoken Digit Dataset holds six real
speakers with their own microphones and rooms. This module is the lesson's toolbox for the
crossing from one to the other:

* :class:`Words` -- a set of spoken words as one padded batch of trimmed waveforms, with labels
  and speakers (:func:`fsdd_words` for the real recordings, :func:`synthetic_words` for the
  kit's voices);
* :class:`Augment` -- which augmentations to apply, and how strongly
  (``xmlab/preprocess/augment.py``);
* :class:`WordLoader` -- batches of spectrograms, augmented afresh every epoch;
* :func:`word_classifier`, :func:`train_words`, :func:`word_accuracy` -- the kit's audio CNN
  (``xm.encoders.AudioEncoder``) with a small MLP head, trained with ``xm.train.fit``.

Explained in: notebooks/08_real_data.ipynb
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from xmlab.data.digits import load_audio_asset
from xmlab.data.download import load_fsdd
from xmlab.encoders.audio import AudioEncoder
from xmlab.fusion.methods import make_fusion
from xmlab.fusion.models import FusionModel, classification_loss, predict
from xmlab.history import History
from xmlab.metrics.classification import accuracy
from xmlab.preprocess import augment
from xmlab.preprocess.speech import WordConfig, pad_batch, trim_silence, word_features
from xmlab.train import TrainConfig, fit


@dataclass
class Words:
    """Spoken words, trimmed of silence and zero-padded into one batch."""

    waves: torch.Tensor  # (N, T) float in [-1, 1], zero after each clip's length
    lengths: torch.Tensor  # (N,) real samples of each clip
    labels: torch.Tensor  # (N,) the digit spoken
    speakers: list[str] = field(default_factory=list)  # (N,) who spoke it (a voice's name)
    takes: torch.Tensor | None = None  # (N,) the recording's take number, when known

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, keep: torch.Tensor | list[bool]) -> Words:
        """The words where ``keep`` (a bool mask or indices) says so."""
        keep = torch.as_tensor(keep)
        index = torch.nonzero(keep).flatten() if keep.dtype == torch.bool else keep
        longest = int(self.lengths[index].max()) if len(index) else 1
        return Words(
            self.waves[index, :longest],
            self.lengths[index],
            self.labels[index],
            [self.speakers[i] for i in index.tolist()],
            None if self.takes is None else self.takes[index],
        )

    def by_speaker(self, *speakers: str, exclude: bool = False) -> Words:
        """The words of ``speakers`` (or of everyone else, with ``exclude=True``)."""
        return self.subset([(s in speakers) != exclude for s in self.speakers])

    def features(self, config: WordConfig | None = None, *, batch_size: int = 512):
        """Every word through the front end (no augmentation): ``(N, n_mels, frames)``."""
        return torch.cat(
            [
                word_features(
                    self.waves[i : i + batch_size], self.lengths[i : i + batch_size], config
                )
                for i in range(0, len(self), batch_size)
            ]
        )


def make_words(clips: list, labels, speakers, takes=None, *, top_db: float = 30.0) -> Words:
    """:class:`Words` from clips of any lengths (int16 or float), trimmed of silence."""
    waves, lengths = pad_batch([trim_silence(c, top_db=top_db) for c in clips])
    takes = None if takes is None else torch.as_tensor(takes)
    return Words(waves, lengths, torch.as_tensor(labels), list(speakers), takes)


def fsdd_words(*, root=None, fetch=None) -> Words:
    """All 3,000 recordings of the Free Spoken Digit Dataset (6 speakers x 10 digits x 50)."""
    clips = load_fsdd("train", by="speaker", test_speakers=(), root=root, fetch=fetch)
    return make_words(
        [c["audio"] for c in clips],
        [c["label"] for c in clips],
        [c["speaker"] for c in clips],
        [c["take"] for c in clips],
    )


def synthetic_words() -> Words:
    """The kit's 1,600 synthetic clips (160 voices x 10 digits), as :class:`Words`."""
    asset = load_audio_asset()
    names = [str(asset["voice_names"][v]) for v in asset["voice"]]
    return make_words(asset["audio"], asset["label"], names)


@dataclass
class Augment:
    """Which augmentations make each training batch, and how strongly (None or 0: off)."""

    shift: int = 0  # largest time shift, in samples
    speed: tuple[float, float] | None = None  # range of speed factors, e.g. (0.9, 1.1)
    snr_db: tuple[float, float] | None = None  # range of signal-to-noise ratios of added noise
    time_masks: tuple[int, int] = (0, 0)  # SpecAugment: how many time masks, widest in frames
    freq_masks: tuple[int, int] = (0, 0)  # SpecAugment: how many mel masks, widest in bands

    def waves(self, waves, lengths, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The waveform augmentations: speed, then time shift, then noise."""
        if self.speed is not None:
            factors = augment.uniform(*self.speed, len(lengths), generator)
            waves, lengths = augment.speed_perturb(waves, factors, lengths)
        if self.shift:
            waves = augment.time_shift(waves, self.shift, generator=generator)
        if self.snr_db is not None:
            mask = torch.arange(waves.shape[1]) < lengths[:, None]  # (B, T)
            snr = augment.uniform(*self.snr_db, len(lengths), generator).float()
            waves = augment.add_noise(waves, snr, generator=generator, mask=mask)
        return waves, lengths

    def specs(self, specs: torch.Tensor, generator) -> torch.Tensor:
        """The spectrogram augmentations: SpecAugment's time and frequency masks."""
        specs = augment.mask_time(specs, *self.time_masks, generator=generator)
        return augment.mask_freq(specs, *self.freq_masks, generator=generator)

    def __call__(self, waves, lengths, config: WordConfig, generator) -> torch.Tensor:
        """A batch of words -> augmented spectrograms ``(B, n_mels, frames)``."""
        waves, lengths = self.waves(waves, lengths, generator)
        return self.specs(word_features(waves, lengths, config), generator)


class WordLoader:
    """Shuffled batches ``{"audio": (B, n_mels, frames), "label": (B,)}`` of :class:`Words`,
    augmented afresh each epoch (so the model never sees exactly the same example twice).

    Args:
        words: the training words.
        config: the front end's settings.
        augment: the augmentations (None: the same clean spectrograms every epoch).
        batch_size: words per batch.
        seed: seeds the order and every random draw of the augmentations.
    """

    def __init__(
        self,
        words: Words,
        *,
        config: WordConfig | None = None,
        augment: Augment | None = None,
        batch_size: int = 64,
        seed: int = 0,
    ):
        if len(words) == 0:
            raise ValueError("WordLoader got no words: check the speakers or takes you selected")
        self.words, self.config, self.augment = words, config or WordConfig(), augment
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        self.clean = None if augment else words.features(self.config)

    def __len__(self) -> int:
        return -(-len(self.words) // self.batch_size)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        order = torch.randperm(len(self.words), generator=self.generator)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            if self.augment is None:
                specs = self.clean[idx]
            else:
                lengths = self.words.lengths[idx]
                waves = self.words.waves[idx, : int(lengths.max())]
                specs = self.augment(waves, lengths, self.config, self.generator)
            yield {"audio": specs, "label": self.words.labels[idx]}


def word_classifier(
    *, n_mels: int = 20, dim: int = 128, channels: tuple[int, ...] = (16, 32, 64)
) -> FusionModel:
    """The kit's audio CNN (frame vectors, averaged) and an MLP head: 10 digit classes."""
    encoder = AudioEncoder(dim, n_mels=n_mels, channels=channels, pool=False)
    return FusionModel({"audio": encoder}, make_fusion("early", {"audio": dim}, 10))


def train_words(
    model: nn.Module,
    loader: WordLoader,
    *,
    epochs: int = 12,
    lr: float = 3e-3,
    device: str = "auto",
) -> History:
    """Train a word classifier with AdamW and a cosine schedule (``xm.train.fit``)."""
    config = TrainConfig(
        epochs=epochs, lr=lr, optimizer="adamw", weight_decay=1e-4,
        schedule="cosine", device=device, progress=False,
    )  # fmt: skip
    return fit(model, loader, config=config, loss_fn=classification_loss)


def word_accuracy(model: nn.Module, words: Words, config: WordConfig | None = None) -> float:
    """Fraction of ``words`` the model recognises (clean spectrograms, no augmentation)."""
    predictions = predict(model, {"audio": words.features(config)})
    return accuracy(predictions, words.labels)
