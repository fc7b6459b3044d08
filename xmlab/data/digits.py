"""Spoken digits: one digit seen, heard and read -- three modalities paired by their label.

* **image** -- a real handwritten digit from scikit-learn's bundled ``load_digits`` (8 x 8 pixels);
* **audio** -- the digit's English name spoken by a synthesizer voice, 8 kHz, shipped with the kit
  (built by ``data/spoken_digits/build.py``; 160 voices, no synthesizer needed to load it);
* **text** -- the number as a word or a short sentence, in English or Chinese ("seven",
  "the digit seven", "七", "数字七").

A sample is one audio clip with an image and a text *of the same label*. Splits keep voices
disjoint (a test voice is never heard in training) and images disjoint. Degradation knobs make a
modality unreliable on purpose, so that fusing modalities pays off in later lessons.

Explained in: notebooks/01_multimodal_data.ipynb
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import torch
from torch.utils.data import Dataset

from xmlab import checks
from xmlab.preprocess.audio import mu_law_decode
from xmlab.preprocess.augment import add_noise

WORDS = {
    "en": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    "zh": ("零", "一", "二", "三", "四", "五", "六", "七", "八", "九"),
}
TEMPLATES = {
    "en": ("{w}", "the digit {w}", "the number {w}", "a handwritten {w}", "someone says {w}"),
    "zh": ("{w}", "数字{w}", "这是{w}", "一个{w}"),
}
SPLITS = {"train": 0.7, "val": 0.15, "test": 0.15}  # fractions of the voices and of the images
ASSET = "spoken_digits.npz"


def digit_texts(label: int, lang: str = "en") -> list[str]:
    """Every text the kit uses for ``label`` in language ``lang`` (``"en"`` or ``"zh"``)."""
    if lang not in WORDS:
        raise ValueError(f"lang must be one of {sorted(WORDS)}, got {lang!r}")
    return [t.format(w=WORDS[lang][label]) for t in TEMPLATES[lang]]


@lru_cache(maxsize=1)
def load_audio_asset() -> dict:
    """The shipped clips: ``{"audio": list of int16 arrays, "label", "voice", "voice_names",
    "rate", "pitch", "sample_rate"}`` (mu-law codes decoded back to 16-bit samples)."""
    with resources.files("xmlab.data").joinpath("assets", ASSET).open("rb") as f:
        archive = np.load(f)
        arrays = {key: archive[key] for key in archive.files}
    samples = mu_law_decode(arrays.pop("audio_mulaw"))
    offsets = arrays.pop("offsets")
    audio = [samples[a:b] for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    return {"audio": audio, **arrays, "sample_rate": int(arrays["sample_rate"])}


def split_groups(n_groups: int, split: str, seed: int = 0) -> np.ndarray:
    """Ids (``0..n_groups-1``) in ``split``: a seeded shuffle cut by :data:`SPLITS` fractions."""
    checks.one_of(split, list(SPLITS), "split")
    order = np.random.default_rng(seed).permutation(n_groups)
    bounds = np.cumsum([0, *SPLITS.values()]) * n_groups
    i = list(SPLITS).index(split)
    return np.sort(order[round(bounds[i]) : round(bounds[i + 1])])


@lru_cache(maxsize=1)
def _sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return (bunch.images / 16.0).astype(np.float32), bunch.target.astype(np.int64)


def digit_images(split: str = "train", seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Handwritten digits of one split: images ``(N, 1, 8, 8)`` in [0, 1] and labels ``(N,)``."""
    images, labels = _sklearn_digits()
    keep = split_groups(len(labels), split, seed + 1)  # its own shuffle, not the voices'
    return torch.from_numpy(images[keep])[:, None], torch.from_numpy(labels[keep])


@dataclass
class Degradation:
    """How to spoil the modalities (0 / None: leave clean). Fusion lessons turn these knobs."""

    image_noise: float = 0.0  # std of Gaussian noise added to pixels in [0, 1]
    occlusion: float = 0.0  # fraction of the image area hidden by a black square
    energy_removed: float = 0.0  # fraction of pixel variance removed along top PCA directions
    snr_db: float | None = None  # audio signal-to-noise ratio in dB after adding white noise


def add_image_noise(images: torch.Tensor, std: float, generator: torch.Generator) -> torch.Tensor:
    """Add Gaussian noise of standard deviation ``std`` and clip back to [0, 1]."""
    noise = torch.randn(images.shape, generator=generator) * std  # (B, C, H, W)
    return (images + noise).clamp(0, 1)


def occlude(images: torch.Tensor, fraction: float, generator: torch.Generator) -> torch.Tensor:
    """Black out one square covering ``fraction`` of each image's area, at a random place."""
    b, _, h, w = images.shape
    side = round(math.sqrt(fraction) * min(h, w))
    if side == 0:
        return images
    top = torch.randint(0, h - side + 1, (b, 1, 1, 1), generator=generator)
    left = torch.randint(0, w - side + 1, (b, 1, 1, 1), generator=generator)
    rows, cols = torch.arange(h).view(1, 1, h, 1), torch.arange(w).view(1, 1, 1, w)
    hidden = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
    return images.masked_fill(hidden, 0.0)  # (B, C, H, W)


@dataclass
class PCABasis:
    """Principal directions of a set of images, strongest first."""

    mean: torch.Tensor  # (D,) mean image, flattened
    components: torch.Tensor  # (D, D) rows are unit directions
    explained: torch.Tensor  # (D,) fraction of the variance along each direction

    @classmethod
    def fit(cls, images: torch.Tensor) -> PCABasis:
        flat = images.flatten(1).double()  # (N, D)
        mean = flat.mean(0)
        _, s, vh = torch.linalg.svd(flat - mean, full_matrices=False)
        return cls(mean.float(), vh.float(), (s**2 / (s**2).sum()).float())

    def n_components(self, fraction: float) -> int:
        """Fewest leading directions holding at least ``fraction`` of the variance."""
        if fraction <= 0:
            return 0
        return int(torch.searchsorted(self.explained.cumsum(0), torch.tensor(fraction)) + 1)


def remove_energy(images: torch.Tensor, fraction: float, basis: PCABasis) -> torch.Tensor:
    """Project out the leading principal directions that hold ``fraction`` of the variance.

    What is left is the mean image plus the weak directions: the digit becomes hard to read,
    as in the AV-MNIST benchmark (Vielzeuf et al., 2018).
    """
    k = basis.n_components(fraction)
    flat = images.flatten(1) - basis.mean  # (B, D)
    strong = basis.components[:k]  # (k, D)
    kept = flat - (flat @ strong.T) @ strong  # (B, D)
    return (kept + basis.mean).view_as(images)


def add_noise_snr(
    waves: torch.Tensor,
    snr_db: float,
    generator: torch.Generator,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Add white noise so that ``10 log10(P_signal / P_noise) = snr_db`` for each waveform
    (:func:`xmlab.preprocess.augment.add_noise`).

    Shapes:
        waves: ``(B, T)`` float; mask: ``(B, T)`` bool, True on real samples (padding stays 0).
    """
    return add_noise(waves, snr_db, generator=generator, mask=mask)


def degrade_images(
    images: torch.Tensor, degradation: Degradation, basis: PCABasis, generator: torch.Generator
) -> torch.Tensor:
    """Apply the image knobs of ``degradation``: energy removal, then occlusion, then noise."""
    if degradation.energy_removed > 0:
        images = remove_energy(images, degradation.energy_removed, basis)
    if degradation.occlusion > 0:
        images = occlude(images, degradation.occlusion, generator)
    if degradation.image_noise > 0:
        images = add_image_noise(images, degradation.image_noise, generator)
    return images


def pair_by_label(labels: np.ndarray, image_labels: np.ndarray, rng) -> np.ndarray:
    """For each clip, an image index with the same label, using every image before repeating."""
    pick = np.empty(len(labels), dtype=np.int64)
    for digit in np.unique(labels):
        slots = np.flatnonzero(labels == digit)
        candidates = rng.permutation(np.flatnonzero(image_labels == digit))
        pick[slots] = candidates[np.arange(len(slots)) % len(candidates)]
    return pick


class SpokenDigits(Dataset):
    """Tri-modal digits of one split: ``{"image", "audio", "text", "lang", "label", "voice"}``.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``; voices and images never cross splits.
        seed: seeds the split, the image pairing, the texts and the degradation noise.
        langs: languages the texts are drawn from (``"en"``, ``"zh"``).
        degradation: knobs that spoil images and audio (see :class:`Degradation`).
    """

    def __init__(
        self,
        split: str = "train",
        *,
        seed: int = 0,
        langs: tuple[str, ...] = ("en", "zh"),
        degradation: Degradation | None = None,
    ):
        asset = load_audio_asset()
        voices = split_groups(len(asset["voice_names"]), split, seed)
        clips = np.flatnonzero(np.isin(asset["voice"], voices))
        rng = np.random.default_rng(seed)
        self.split, self.seed, self.sample_rate = split, seed, asset["sample_rate"]
        self.labels = torch.from_numpy(asset["label"][clips])  # (N,)
        self.audio = [torch.from_numpy(asset["audio"][i] / np.float32(32768)) for i in clips]
        self.voices = [str(asset["voice_names"][v]) for v in asset["voice"][clips]]
        images, image_labels = digit_images(split, seed)
        self.image_index = pair_by_label(asset["label"][clips], image_labels.numpy(), rng)
        self.images = images[self.image_index]  # (N, 1, 8, 8), row i shows digit labels[i]
        self.langs = [str(lang) for lang in rng.choice(list(langs), size=len(clips))]
        self.texts = [
            str(rng.choice(digit_texts(int(y), lang)))
            for y, lang in zip(self.labels, self.langs, strict=True)
        ]
        self.basis = PCABasis.fit(digit_images("train", seed)[0])
        self.degradation = degradation or Degradation()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)  # same noise every time
        image = degrade_images(self.images[i : i + 1], self.degradation, self.basis, g)[0]
        audio = self.audio[i]
        if self.degradation.snr_db is not None:
            audio = add_noise_snr(audio[None], self.degradation.snr_db, g)[0]
        return {
            "image": image,
            "audio": audio,
            "text": self.texts[i],
            "lang": self.langs[i],
            "label": int(self.labels[i]),
            "voice": self.voices[i],
        }

    def tensors(self, *, max_seconds: float = 1.0) -> dict[str, torch.Tensor]:
        """The whole split as padded tensors for a :class:`~xmlab.data.TensorLoader`.

        Returns ``{"image": (N, 1, 8, 8), "audio": (N, T), "audio_mask": (N, T) bool,
        "label": (N,)}`` with the degradation applied and every clip cut or zero-padded to
        ``max_seconds`` (``T = max_seconds * sample_rate``).
        """
        g = torch.Generator().manual_seed(self.seed)
        length = int(max_seconds * self.sample_rate)
        audio = torch.zeros(len(self), length)  # (N, T)
        for row, clip in enumerate(self.audio):
            audio[row, : min(len(clip), length)] = clip[:length]
        lengths = torch.tensor([len(a) for a in self.audio])[:, None]  # (N, 1)
        mask = torch.arange(length) < lengths  # (N, T)
        if self.degradation.snr_db is not None:
            audio = add_noise_snr(audio, self.degradation.snr_db, g, mask)
        images = degrade_images(self.images, self.degradation, self.basis, g)
        return {"image": images, "audio": audio, "audio_mask": mask, "label": self.labels}
