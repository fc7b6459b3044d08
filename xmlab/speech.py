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

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from xmlab import losses
from xmlab.data.digits import (
    PCABasis,
    digit_images,
    load_audio_asset,
    pair_by_label,
    remove_energy,
)
from xmlab.data.download import load_fsdd
from xmlab.encoders.audio import AudioEncoder
from xmlab.encoders.dual import (
    LOGIT_SCALE_INIT,
    ProjectionHead,
    add_temperature,
    temperature_outputs,
)
from xmlab.fusion.methods import make_fusion
from xmlab.fusion.models import FusionModel
from xmlab.metrics.classification import accuracy, predict
from xmlab.preprocess import augment
from xmlab.preprocess.speech import WordConfig, pad_batch, trim_silence, word_features
from xmlab.train import TrainConfig, fit
from xmlab.train.history import History
from xmlab.train.hooks import classification_loss


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


def make_words(clips: list, labels, speakers, takes=None, *, top_db: float | None = 30.0) -> Words:
    """:class:`Words` from clips of any lengths (int16 or float), trimmed of the silence more
    than ``top_db`` below their loudest part (None: kept as they are)."""
    trim = (lambda c: c) if top_db is None else (lambda c: trim_silence(c, top_db=top_db))
    waves, lengths = pad_batch([trim(c) for c in clips])
    takes = None if takes is None else torch.as_tensor(takes)
    return Words(waves, lengths, torch.as_tensor(labels), list(speakers), takes)


def fsdd_words(*, top_db: float | None = 30.0, root=None, fetch=None) -> Words:
    """All 3,000 recordings of the Free Spoken Digit Dataset (6 speakers x 10 digits x 50),
    trimmed as :func:`make_words` says."""
    clips = load_fsdd("train", by="speaker", test_speakers=(), root=root, fetch=fetch)
    return make_words(
        [c["audio"] for c in clips],
        [c["label"] for c in clips],
        [c["speaker"] for c in clips],
        [c["take"] for c in clips],
        top_db=top_db,
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
    gain_db: float = 0.0  # largest swing of a random loudness contour over the clip, in dB
    eq_db: float = 0.0  # largest swing of a random frequency response, in dB
    time_masks: tuple[int, int] = (0, 0)  # SpecAugment: how many time masks, widest in frames
    freq_masks: tuple[int, int] = (0, 0)  # SpecAugment: how many mel masks, widest in bands

    def waves(self, waves, lengths, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """The waveform augmentations: speed, time shift, noise, then loudness and colour
        (the microphone colours the room's noise too)."""
        if self.speed is not None:
            factors = augment.uniform(*self.speed, len(lengths), generator)
            waves, lengths = augment.speed_perturb(waves, factors, lengths)
        if self.shift:
            waves = augment.time_shift(waves, self.shift, generator=generator)
        if self.snr_db is not None:
            mask = torch.arange(waves.shape[1]) < lengths[:, None]  # (B, T)
            snr = augment.uniform(*self.snr_db, len(lengths), generator).float()
            waves = augment.add_noise(waves, snr, generator=generator, mask=mask)
        if self.gain_db:
            waves = augment.random_gain(waves, self.gain_db, generator=generator, lengths=lengths)
        if self.eq_db:
            waves = augment.random_eq(waves, self.eq_db, generator=generator, lengths=lengths)
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
    *,
    n_mels: int = 20,
    dim: int = 128,
    channels: tuple[int, ...] = (16, 32, 64),
    seed: int | None = None,
) -> FusionModel:
    """The kit's audio CNN (frame vectors, averaged) and an MLP head: 10 digit classes.

    ``seed`` fixes the initial weights (None: drawn from torch's global generator).
    """
    if seed is not None:
        torch.manual_seed(seed)
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


def takes_per_digit(words: Words, k: int) -> Words:
    """The first ``k`` takes of every digit by every speaker (``k`` x 10 x speakers words)."""
    if words.takes is None:
        raise ValueError("these words have no take numbers: use FSDD words (fsdd_words())")
    return words.subset(words.takes < k)


def noisy_features(
    words: Words,
    snr_db: float | tuple[float, float] | None,
    config: WordConfig | None = None,
    *,
    seed: int = 0,
) -> torch.Tensor:
    """Spectrograms of ``words`` with white noise at ``snr_db`` (a range: one draw per word;
    None: clean) -- the same noise for the same seed."""
    if snr_db is None:
        return words.features(config)
    g = torch.Generator().manual_seed(seed)
    snr = augment.uniform(*snr_db, len(words), g) if isinstance(snr_db, tuple) else snr_db
    mask = torch.arange(words.waves.shape[1]) < words.lengths[:, None]  # (N, T)
    waves = augment.add_noise(words.waves, torch.as_tensor(snr).float(), generator=g, mask=mask)
    return Words(waves, words.lengths, words.labels, words.speakers).features(config)


def real_av_digits(
    words: Words,
    image_split: str,
    *,
    snr_db: float | tuple[float, float] | None = None,
    energy_removed: float = 0.0,
    config: WordConfig | None = None,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Real audio-visual digits: each recording paired with a handwritten digit of its label.

    The images are scikit-learn's handwritten digits of ``image_split`` (8 x 8), with
    ``energy_removed`` of their variance taken out as in lesson 07; the audio gets noise at
    ``snr_db``.

    Returns:
        ``{"image": (N, 1, 8, 8), "audio": (N, n_mels, frames), "label": (N,)}``.
    """
    images, image_labels = digit_images(image_split, seed)
    pick = pair_by_label(words.labels.numpy(), image_labels.numpy(), np.random.default_rng(seed))
    images = images[pick]  # (N, 1, 8, 8), row i shows digit words.labels[i]
    if energy_removed > 0:
        basis = PCABasis.fit(digit_images("train", seed)[0])
        images = remove_energy(images, energy_removed, basis)
    audio = noisy_features(words, snr_db, config, seed=seed)
    return {"image": images, "audio": audio, "label": words.labels}


@torch.no_grad()
def adapt_batchnorm(model: nn.Module, specs: torch.Tensor, *, batch_size: int = 100) -> nn.Module:
    """A copy of ``model`` whose batch-norm statistics are re-estimated on ``specs``.

    Test-time adaptation (AdaBN, Li et al. 2016): the normalisation layers of a model trained on
    synthetic voices keep the mean and variance of *synthetic* activations; one pass over
    unlabelled real spectrograms replaces them with real ones. No label is used.
    """
    adapted = copy.deepcopy(model)
    norms = [m for m in adapted.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over every batch of the pass
    adapted.train()
    device = next(adapted.parameters()).device
    for start in range(0, len(specs), batch_size):
        adapted({"audio": specs[start : start + batch_size].to(device)})
    return adapted.eval()


class FeatureAligner(nn.Module):
    """Two projection heads that meet in one space, over features of frozen encoders.

    ``forward({"audio": (B, Da), "image": (B, Di)})`` returns unit vectors ``"audio_emb"`` and
    ``"image_emb"`` ``(B, dim)`` and the ``"logit_scale"``: a dual encoder whose towers were
    trained for something else (here, to classify) and are only read.
    """

    def __init__(self, dims: dict[str, int], dim: int = 32):
        super().__init__()
        self.heads = nn.ModuleDict(
            {m: ProjectionHead(d, dim, hidden=dim * 2) for m, d in dims.items()}
        )
        add_temperature(self, LOGIT_SCALE_INIT, None)

    def forward(self, batch: dict) -> dict[str, torch.Tensor]:
        out = {f"{m}_emb": F.normalize(head(batch[m]), dim=-1) for m, head in self.heads.items()}
        return {**out, **temperature_outputs(self)}


def aligned_pair_loss(model: FeatureAligner, batch: dict) -> torch.Tensor:
    """CLIP's loss between the two modalities; items with the same label are all matches."""
    out = model(batch)
    a, b = (f"{m}_emb" for m in model.heads)
    positives = losses.positives_from_labels(batch["label"])
    return losses.clip_loss(out[a], out[b], logit_scale=out["logit_scale"], positives=positives)
