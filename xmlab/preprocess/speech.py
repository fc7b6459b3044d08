"""A front end for spoken words recorded by real people: trim, band-limit, floor, fixed frames.

``log_mel`` (``xmlab/preprocess/audio.py``) turns a clean synthetic clip into a spectrogram.
Real recordings differ from synthetic ones, and from each other, in ways that say nothing about
the word: silence before and after it, the speaking rate, the loudness, a microphone that cuts
the lowest frequencies or hums, a room's noise floor. Each step below removes one of them:

1. **trim** the silence around the word (:func:`trim_silence`);
2. **band-limit** the mel filters to ``f_min``-``f_max``, where every recording has energy;
3. **floor** the log-mel values ``floor_db`` below each clip's loudest value, so near-silent
   corners -- digital zeros in a synthetic clip, hiss in a real one -- look alike;
4. **fix the frames**: resample each clip's frames to ``frames`` steps, so a word spoken fast
   and one spoken slowly have the same shape (a cheap stand-in for aligning them);
5. **standardise** each clip to zero mean and unit variance: loudness is gone.

Explained in: notebooks/08_real_data.ipynb
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from xmlab.preprocess.audio import _as_float_wave, mel_filterbank, spectrogram


@dataclass
class WordConfig:
    """Settings of the spoken-word front end (defaults suit 8 kHz digits)."""

    sample_rate: int = 8000  # samples per second
    n_fft: int = 256  # STFT window (32 ms)
    hop_length: int = 80  # samples between frames (10 ms)
    n_mels: int = 20  # mel bands: few and wide, so the pitch's harmonics blur into formants
    f_min: float = 100.0  # Hz: below it, microphones differ (cut-off, hum)
    f_max: float = 3800.0  # Hz: just under the 4 kHz Nyquist limit of 8 kHz audio
    floor_db: float = 50.0  # dB below the clip's loudest value that count as silence
    frames: int = 32  # time steps every clip is resampled to


def trim_silence(
    wave: torch.Tensor | np.ndarray, *, top_db: float = 30.0, frame: int = 80, margin: int = 160
) -> torch.Tensor:
    """Cut the silence before and after the loudest part of a clip.

    A frame of ``frame`` samples is silent when its energy is more than ``top_db`` below the
    loudest frame's; the clip keeps everything from the first to the last non-silent frame,
    plus ``margin`` samples on each side.

    Shapes:
        wave: ``(T,)`` float or int16. Returns ``(T',)`` float, ``T' <= T``.
    """
    wave = _as_float_wave(wave)
    if wave.ndim != 1:
        raise ValueError(f"trim_silence takes one clip (T,), got {tuple(wave.shape)}")
    n = len(wave) // frame
    if n < 2:
        return wave
    energy = wave[: n * frame].reshape(n, frame).square().mean(1)  # (n,)
    level = 10 * torch.log10(energy + 1e-12)
    loud = torch.nonzero(level > level.max() - top_db).flatten()
    start = max(int(loud[0]) * frame - margin, 0)
    return wave[start : min((int(loud[-1]) + 1) * frame + margin, len(wave))]


def pad_batch(waves: list) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips of different lengths -> zero-padded ``(B, T_max)`` float batch and ``(B,)`` lengths."""
    waves = [_as_float_wave(w) for w in waves]
    lengths = torch.tensor([len(w) for w in waves])
    batch = torch.zeros(len(waves), int(lengths.max()))
    for row, wave in enumerate(waves):
        batch[row, : len(wave)] = wave
    return batch, lengths


def fixed_frames(specs: torch.Tensor, n_frames: torch.Tensor, frames: int) -> torch.Tensor:
    """Resample the first ``n_frames[i]`` frames of each spectrogram to ``frames`` frames.

    Shapes:
        specs: ``(B, M, T)``; n_frames: ``(B,)``. Returns ``(B, M, frames)``.
    """
    b, m, t = specs.shape
    steps = torch.linspace(0, 1, frames)[None] * (n_frames[:, None] - 1)  # (B, frames)
    x = steps / max(t - 1, 1) * 2 - 1  # grid_sample's [-1, 1] coordinates
    grid = torch.stack([x, torch.zeros_like(x)], -1)[:, None]  # (B, 1, frames, 2)
    out = F.grid_sample(specs[:, :, None], grid, align_corners=True)  # (B, M, 1, frames)
    return out[:, :, 0]


def word_features(
    waves: torch.Tensor, lengths: torch.Tensor, config: WordConfig | None = None
) -> torch.Tensor:
    """A batch of spoken words -> standardised log-mel spectrograms of ``config.frames`` frames.

    Args:
        waves: ``(B, T)`` float, zero-padded after each clip's length (see :func:`pad_batch`).
        lengths: ``(B,)`` real samples of each clip.
        config: the front end's settings.

    Returns:
        ``(B, n_mels, frames)`` float32, each item with mean 0 and standard deviation 1.
    """
    cfg = config or WordConfig()
    waves = F.pad(waves, (0, cfg.n_fft // 2))  # silence after every clip, however it is padded
    power = spectrogram(waves, n_fft=cfg.n_fft, hop_length=cfg.hop_length)  # (B, F, T)
    fbank = mel_filterbank(
        n_fft=cfg.n_fft, n_mels=cfg.n_mels, sample_rate=cfg.sample_rate,
        f_min=cfg.f_min, f_max=cfg.f_max,
    )  # (M, F)  # fmt: skip
    mel = torch.log10(torch.clamp(fbank @ power, min=1e-10))  # (B, M, T)
    n_frames = 1 + torch.as_tensor(lengths) // cfg.hop_length  # (B,) frames of real audio
    valid = torch.arange(mel.shape[2]) < n_frames[:, None]  # (B, T)
    loudest = mel.masked_fill(~valid[:, None], -torch.inf).amax((1, 2), keepdim=True)
    mel = torch.maximum(mel, loudest - cfg.floor_db / 10)  # log10 power: 10 dB per unit
    spec = fixed_frames(mel, n_frames, cfg.frames)  # (B, M, frames)
    mean, std = spec.mean((1, 2), keepdim=True), spec.std((1, 2), keepdim=True)
    return (spec - mean) / (std + 1e-5)
