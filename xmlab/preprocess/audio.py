"""Audio preprocessing: from a waveform to a normalised log-mel spectrogram.

The path every speech model walks first:

1. a waveform: samples of air pressure, ``sample_rate`` numbers a second (8,000 in this kit);
2. the short-time Fourier transform (STFT): ``n_fft``-sample windows every ``hop_length`` samples,
   each turned into the power of ``n_fft // 2 + 1`` frequencies -- the *spectrogram*;
3. a mel filter bank: ``n_mels`` triangles spaced evenly on the mel scale (how pitch is heard),
   summing the power of neighbouring frequencies -- the *mel spectrogram*;
4. the logarithm (loudness is heard on a log scale) and a normalisation to zero mean, unit variance.

The result is an image-like ``(n_mels, frames)`` tensor that the same kind of encoder as for
pictures can read. Parameter names follow the field (librosa, torchaudio): ``n_fft``,
``hop_length``, ``win_length``, ``n_mels``, ``sample_rate``, ``f_min``, ``f_max``.

Explained in: notebooks/01_multimodal_data.ipynb
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from xmlab import checks

MU = 255  # mu-law companding constant (G.711)


def hz_to_mel(freq: torch.Tensor | float, *, mel_scale: str = "htk") -> torch.Tensor:
    """Convert frequencies in hertz to mels.

    ``"htk"``: ``mel = 2595 log10(1 + f / 700)``. ``"slaney"``: linear below 1 kHz
    (``f / (200/3)``), logarithmic above (27 / ln 6.4 mels per e-fold).
    """
    freq = torch.as_tensor(freq, dtype=torch.float64)
    if mel_scale == "htk":
        return 2595.0 * torch.log10(1.0 + freq / 700.0)
    if mel_scale != "slaney":
        raise ValueError(f"mel_scale must be 'htk' or 'slaney', got {mel_scale!r}")
    linear = freq / (200.0 / 3)
    logstep = math.log(6.4) / 27.0
    log_part = 15.0 + torch.log(torch.clamp(freq, min=1e-10) / 1000.0) / logstep
    return torch.where(freq >= 1000.0, log_part, linear)


def mel_to_hz(mel: torch.Tensor | float, *, mel_scale: str = "htk") -> torch.Tensor:
    """Invert :func:`hz_to_mel`."""
    mel = torch.as_tensor(mel, dtype=torch.float64)
    if mel_scale == "htk":
        return 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    if mel_scale != "slaney":
        raise ValueError(f"mel_scale must be 'htk' or 'slaney', got {mel_scale!r}")
    logstep = math.log(6.4) / 27.0
    return torch.where(mel >= 15.0, 1000.0 * torch.exp(logstep * (mel - 15.0)), mel * 200.0 / 3)


def mel_filterbank(
    *,
    n_fft: int,
    n_mels: int,
    sample_rate: int,
    f_min: float = 0.0,
    f_max: float | None = None,
    mel_scale: str = "htk",
    norm: str | None = None,
) -> torch.Tensor:
    """Triangular filters, evenly spaced in mels, over the ``n_fft // 2 + 1`` STFT frequencies.

    Filter ``m`` rises from mel point ``m`` to ``m + 1`` and falls to ``m + 2`` (``n_mels + 2``
    points from ``f_min`` to ``f_max``). ``norm="slaney"`` scales each triangle to unit area.

    Returns:
        Float32 tensor of shape ``(n_mels, n_fft // 2 + 1)``; ``mel = fbank @ power``.
    """
    f_max = sample_rate / 2 if f_max is None else f_max
    if not 0 <= f_min < f_max <= sample_rate / 2:
        raise ValueError(
            f"need 0 <= f_min < f_max <= sample_rate / 2 = {sample_rate / 2}, "
            f"got f_min={f_min}, f_max={f_max}: lower f_max (None means sample_rate / 2)"
        )
    freqs = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)  # (F,)
    lo, hi = hz_to_mel(f_min, mel_scale=mel_scale), hz_to_mel(f_max, mel_scale=mel_scale)
    points = mel_to_hz(torch.linspace(float(lo), float(hi), n_mels + 2), mel_scale=mel_scale)
    left, centre, right = points[:-2, None], points[1:-1, None], points[2:, None]  # (M, 1)
    rising = (freqs - left) / (centre - left)  # (M, F)
    falling = (right - freqs) / (right - centre)  # (M, F)
    fbank = torch.clamp(torch.minimum(rising, falling), min=0.0)  # (M, F)
    if norm == "slaney":
        fbank = fbank * (2.0 / (right - left))
    elif norm is not None:
        raise ValueError(f"norm must be None or 'slaney', got {norm!r}")
    return fbank.float()


def spectrogram(
    wave: torch.Tensor,
    *,
    n_fft: int = 256,
    hop_length: int = 80,
    win_length: int | None = None,
    power: float = 2.0,
    center: bool = True,
) -> torch.Tensor:
    """Power spectrogram ``|STFT|**power`` with a periodic Hann window.

    Shapes:
        wave: ``(T,)`` or ``(B, T)`` float. Returns ``(n_fft // 2 + 1, frames)`` or
        ``(B, n_fft // 2 + 1, frames)``, with ``frames = 1 + T // hop_length`` when ``center``.
    """
    for name, value in (("n_fft", n_fft), ("hop_length", hop_length)):
        checks.number(value, name, integer=True, at_least=1, fix="e.g. n_fft=256, hop_length=80")
    needed = n_fft // 2 + 1 if center else n_fft
    wave = _as_float_wave(wave, min_length=needed, why=f" for an FFT window of n_fft={n_fft}")
    win_length = n_fft if win_length is None else win_length
    window = torch.hann_window(win_length, device=wave.device, dtype=wave.dtype)
    stft = torch.stft(
        wave,
        n_fft,
        hop_length=hop_length,
        win_length=win_length,
        window=window,
        center=center,
        pad_mode="reflect",
        return_complex=True,
    )  # (B?, F, frames)
    if power == 2.0:
        return stft.real.square() + stft.imag.square()  # |X|^2, without |X|'s square root
    return stft.abs() ** power


@dataclass
class MelConfig:
    """Settings of the log-mel front end (defaults suit 8 kHz spoken digits)."""

    sample_rate: int = 8000  # samples per second the waveform must have
    n_fft: int = 256  # STFT window in samples (32 ms at 8 kHz)
    hop_length: int = 80  # step between frames in samples (10 ms)
    n_mels: int = 40  # mel bands
    f_min: float = 0.0  # lowest filter edge, Hz
    f_max: float | None = None  # highest filter edge, Hz (None: sample_rate / 2)
    eps: float = 1e-10  # floor before the log, so silence does not give -inf
    normalize: bool = True  # standardise each spectrogram to zero mean, unit variance


def log_mel(wave: torch.Tensor, config: MelConfig | None = None, **overrides) -> torch.Tensor:
    """Waveform -> normalised log-mel spectrogram (STFT, mel filter bank, log10, standardise).

    Args:
        wave: ``(T,)`` or ``(B, T)`` waveform, float in [-1, 1] or int16.
        config: settings; keyword ``overrides`` replace single fields (``n_mels=64``).

    Returns:
        ``(n_mels, frames)`` or ``(B, n_mels, frames)`` float32.
    """
    cfg = _mel_config(config, overrides)
    power = spectrogram(wave, n_fft=cfg.n_fft, hop_length=cfg.hop_length)  # (B?, F, frames)
    fbank = mel_filterbank(
        n_fft=cfg.n_fft,
        n_mels=cfg.n_mels,
        sample_rate=cfg.sample_rate,
        f_min=cfg.f_min,
        f_max=cfg.f_max,
    ).to(power)  # (M, F), in the waveform's dtype (float64 stays float64)
    mel = torch.log10(torch.clamp(fbank @ power, min=cfg.eps))  # (B?, M, frames)
    if cfg.normalize:
        dims = (-2, -1)
        mel = (mel - mel.mean(dims, keepdim=True)) / (mel.std(dims, keepdim=True) + 1e-5)
    return mel


def _mel_config(config: MelConfig | None, overrides: dict) -> MelConfig:
    """``config`` with ``overrides`` applied, every field checked."""
    unknown = sorted(set(overrides) - set(MelConfig.__dataclass_fields__))
    if unknown:
        raise TypeError(
            f"log_mel got unknown settings {unknown}: expected fields of MelConfig "
            f"({', '.join(MelConfig.__dataclass_fields__)})"
        )
    cfg = MelConfig(**{**(config or MelConfig()).__dict__, **overrides})
    for name in ("sample_rate", "n_mels"):
        checks.number(getattr(cfg, name), name, integer=True, at_least=1, fix="e.g. n_mels=40")
    return cfg


def resample(wave: torch.Tensor, orig_sr: int, new_sr: int, *, zeros: int = 16) -> torch.Tensor:
    """Band-limited resampling with a Hann-windowed sinc (low-pass at the lower Nyquist).

    Each output sample ``y[n]`` at time ``n / new_sr`` sums the input samples around it weighted
    by ``sinc`` of the time offset, over ``zeros`` zero crossings on each side.
    """
    for name, rate in (("orig_sr", orig_sr), ("new_sr", new_sr)):
        checks.number(rate, name, integer=True, at_least=1, fix="sample rates are in Hz, e.g. 8000")
    wave = _as_float_wave(wave)
    if orig_sr == new_sr:
        return wave
    cutoff = min(orig_sr, new_sr) / 2 * 0.97  # Hz, a little below Nyquist
    n_out = math.ceil(wave.shape[-1] * new_sr / orig_sr)
    t_out = torch.arange(n_out, dtype=torch.float64) / new_sr  # (N,)
    half = zeros * orig_sr / (2 * cutoff)  # kernel half-width in input samples
    centre = t_out * orig_sr  # (N,) position in input samples
    taps = torch.arange(-math.ceil(half), math.ceil(half) + 1)  # (K,)
    idx = torch.floor(centre)[:, None].long() + taps  # (N, K)
    offset = (idx - centre[:, None]) / orig_sr  # (N, K) seconds
    window = torch.where(
        offset.abs() * orig_sr <= half,
        0.5 + 0.5 * torch.cos(math.pi * offset * orig_sr / half),
        0.0,
    )
    kernel = (2 * cutoff / orig_sr) * torch.sinc(2 * cutoff * offset) * window  # (N, K)
    valid = (idx >= 0) & (idx < wave.shape[-1])
    gathered = wave[..., idx.clamp(0, wave.shape[-1] - 1)] * valid  # (B?, N, K)
    return (gathered * kernel.to(wave.dtype)).sum(-1)


def prepare_audio(
    wave: torch.Tensor | np.ndarray,
    sample_rate: int,
    *,
    target_sr: int = 8000,
    allow_resample: bool = True,
) -> torch.Tensor:
    """Return a float waveform at ``target_sr``, resampling (or refusing with advice) if needed."""
    if sample_rate != target_sr and not allow_resample:
        raise ValueError(
            f"audio is sampled at {sample_rate} Hz but {target_sr} Hz is expected: resample it "
            f"with xm.preprocess.audio.resample(wave, {sample_rate}, {target_sr}) "
            "or pass allow_resample=True"
        )
    return resample(torch.as_tensor(wave), sample_rate, target_sr)


def _as_float_wave(wave, *, min_length: int = 1, why: str = "") -> torch.Tensor:
    """Check a waveform's shape, dtype and samples; int16 becomes float in [-1, 1)."""
    return checks.waveform(wave, min_length=min_length, why=why)


def mu_law_encode(wave: np.ndarray) -> np.ndarray:
    """int16 samples -> 8-bit mu-law codes (``sign(x) ln(1 + mu|x|) / ln(1 + mu)``, 256 levels)."""
    x = np.asarray(wave, dtype=np.float64) / 32768.0
    y = np.sign(x) * np.log1p(MU * np.abs(x)) / np.log1p(MU)  # in [-1, 1]
    return np.round((y + 1) / 2 * MU).astype(np.uint8)


def mu_law_decode(codes: np.ndarray) -> np.ndarray:
    """8-bit mu-law codes -> int16 samples (inverse of :func:`mu_law_encode` up to rounding)."""
    y = np.asarray(codes, dtype=np.float64) / MU * 2 - 1
    x = np.sign(y) * ((1 + MU) ** np.abs(y) - 1) / MU
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)
