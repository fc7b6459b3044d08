"""Data augmentation for speech: new training examples made from old ones, label unchanged.

A model trained on a few speakers learns their voices, their microphone and their room along with
the words. Augmentation shows it each word again with those details changed at random, so that
what stays the same -- the word -- is what it learns:

* **time shift** -- the word starts a little earlier or later (waveform);
* **speed perturbation** -- played faster or slower, so shorter or longer *and* higher or lower,
  like a smaller or larger speaker (waveform; Ko et al., "Audio augmentation for speech
  recognition", 2015);
* **tempo perturbation** -- longer or shorter at the same pitch (spectrogram frames);
* **additive noise** at a chosen signal-to-noise ratio (waveform);
* **random loudness and colour** -- a smooth random gain over time (the speaker leans in and
  away) and a smooth random frequency response (another microphone, another room) (waveform);
* **SpecAugment masking** -- a few bands of time frames and of mel channels blanked out, so no
  single part of the spectrogram can be relied on (Park et al., "SpecAugment", 2019).

Every function takes a whole batch and a ``torch.Generator``, so a run is repeatable and one
draw is made per item. Waveforms are ``(B, T)`` float; spectrograms ``(B, n_mels, frames)``.

Explained in: notebooks/08_real_data.ipynb
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from xmlab import checks
from xmlab.preprocess.audio import hz_to_mel


def uniform(low: float, high: float, n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` draws from the uniform distribution on ``[low, high]``: ``(n,)``."""
    if low > high:
        raise ValueError(f"need low <= high, got low={low}, high={high}")
    return low + (high - low) * torch.rand(n, generator=generator, dtype=torch.float64)


def time_shift(waves: torch.Tensor, max_shift: int, *, generator: torch.Generator) -> torch.Tensor:
    """Move each waveform by a random whole number of samples in ``[-max_shift, max_shift]``.

    Samples moved past an end are dropped, and the gap is filled with silence (zeros); nothing
    wraps around.

    Shapes:
        waves: ``(B, T)``. Returns ``(B, T)``.
    """
    waves = checks.float_batch(waves, 2, "waveforms")
    b, t = waves.shape
    shifts = torch.randint(-max_shift, max_shift + 1, (b, 1), generator=generator)  # (B, 1)
    source = torch.arange(t) - shifts  # (B, T): out[n] = wave[n - shift]
    valid = (source >= 0) & (source < t)
    return torch.gather(waves, 1, source.clamp(0, t - 1)) * valid


def speed_perturb(
    waves: torch.Tensor, factors: torch.Tensor | float, lengths: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Play each waveform ``factor`` times faster: ``factor`` 1.1 is 10 % shorter and higher.

    Sample ``n`` of the output is the input at time ``n * factor`` (linear interpolation
    between neighbouring samples), as a tape played at another speed: duration, pitch and
    formants all change together.

    Args:
        waves: ``(B, T)`` waveforms, zero-padded after their ``lengths``.
        factors: one speed factor for all, or ``(B,)`` factors, each > 0.
        lengths: ``(B,)`` real samples of each waveform (None: all ``T``).

    Returns:
        The new waveforms ``(B, T')`` (zero-padded, ``T'`` the longest new length) and their
        lengths ``(B,)``: ``ceil(length / factor)``.
    """
    waves = checks.float_batch(waves, 2, "waveforms")
    b, t = waves.shape
    factors = torch.as_tensor(factors, dtype=torch.float64).expand(b)  # (B,)
    if not bool((factors > 0).all()):
        raise ValueError(f"speed factors must be > 0 (1 keeps the speed), got {factors.tolist()}")
    lengths = torch.full((b,), t) if lengths is None else torch.as_tensor(lengths)
    new_lengths = torch.ceil(lengths / factors).long()  # (B,)
    pos = torch.arange(int(new_lengths.max())) * factors[:, None].float()  # (B, T')
    left = pos.floor().long()
    frac = (pos - left).to(waves.dtype)
    last = (lengths - 1)[:, None]  # (B, 1)
    a = torch.gather(waves, 1, left.clamp(max=t - 1))
    c = torch.gather(waves, 1, torch.minimum(left + 1, last).clamp(min=0, max=t - 1))
    out = a + frac * (c - a)  # (B, T')
    return out * (torch.arange(out.shape[1]) < new_lengths[:, None]), new_lengths


def add_noise(
    waves: torch.Tensor,
    snr_db: torch.Tensor | float,
    *,
    generator: torch.Generator,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Add white noise so that ``10 log10(P_signal / P_noise) = snr_db`` for each waveform.

    Powers are means of squares over the real samples (``mask``); padding stays silent.

    Shapes:
        waves: ``(B, T)``; snr_db: a float or ``(B,)``; mask: ``(B, T)`` bool, True on real
        samples. Returns ``(B, T)``.
    """
    waves = checks.float_batch(waves, 2, "waveforms")
    mask = torch.ones_like(waves, dtype=torch.bool) if mask is None else mask
    if not isinstance(snr_db, (int, float)):
        snr_db = torch.as_tensor(snr_db, dtype=waves.dtype).reshape(-1, 1)  # (B, 1)
    count = mask.sum(-1, keepdim=True).clamp(min=1)  # (B, 1)
    power = (waves.square() * mask).sum(-1, keepdim=True) / count  # (B, 1)
    noise = torch.randn(waves.shape, generator=generator)  # (B, T)
    noise = noise - (noise * mask).sum(-1, keepdim=True) / count
    noise_power = (noise.square() * mask).sum(-1, keepdim=True) / count
    scale = torch.sqrt(power / (noise_power * 10 ** (snr_db / 10)))  # (B, 1)
    return (waves + noise * scale) * mask


def smooth_curves(
    positions: torch.Tensor, max_db: float, knots: int, generator: torch.Generator
) -> torch.Tensor:
    """Random curves in dB: ``knots`` values drawn from ``[-max_db, max_db]`` at evenly spaced
    points of ``[0, 1]``, joined by straight lines and read at ``positions``.

    Shapes:
        positions: ``(B, N)`` in ``[0, 1]``. Returns ``(B, N)``.
    """
    b = positions.shape[0]
    values = (torch.rand(b, knots, generator=generator) * 2 - 1) * max_db  # (B, knots)
    x = positions.clamp(0, 1) * (knots - 1)  # (B, N) in knot units
    left = x.floor().long().clamp(max=knots - 2)
    frac = x - left
    a, c = torch.gather(values, 1, left), torch.gather(values, 1, left + 1)
    return a + frac * (c - a)


def random_gain(
    waves: torch.Tensor,
    max_db: float,
    *,
    generator: torch.Generator,
    lengths: torch.Tensor | None = None,
    knots: int = 4,
) -> torch.Tensor:
    """Multiply each clip by a smooth random loudness contour of at most ``±max_db`` dB.

    The contour spans each clip's own ``lengths`` (padding stays silent).

    Shapes:
        waves: ``(B, T)``; lengths: ``(B,)``. Returns ``(B, T)``.
    """
    waves = checks.float_batch(waves, 2, "waveforms")
    b, t = waves.shape
    lengths = torch.full((b,), t) if lengths is None else torch.as_tensor(lengths)
    positions = torch.arange(t) / (lengths[:, None] - 1).clamp(min=1)  # (B, T)
    gain_db = smooth_curves(positions, max_db, knots, generator)  # (B, T)
    return waves * torch.exp(gain_db * (math.log(10) / 20)) * (torch.arange(t) < lengths[:, None])


def random_eq(
    waves: torch.Tensor,
    max_db: float,
    *,
    generator: torch.Generator,
    lengths: torch.Tensor | None = None,
    sample_rate: int = 8000,
    knots: int = 4,
) -> torch.Tensor:
    """Filter each clip with a smooth random frequency response of at most ``±max_db`` dB.

    The response is a :func:`smooth_curves` curve over the mel scale (as hearing spaces
    frequencies), applied to the clip's spectrum: ``irfft(rfft(wave) * 10 ** (dB / 20))``.

    Shapes:
        waves: ``(B, T)``; lengths: ``(B,)``. Returns ``(B, T)``.
    """
    waves = checks.float_batch(waves, 2, "waveforms")
    b, t = waves.shape
    freqs = torch.fft.rfftfreq(t, d=1 / sample_rate)  # (F,)
    mel = hz_to_mel(freqs).float()
    positions = (mel / mel[-1]).expand(b, -1)  # (B, F)
    response = 10 ** (smooth_curves(positions, max_db, knots, generator) / 20)  # (B, F)
    out = torch.fft.irfft(torch.fft.rfft(waves) * response, n=t)  # (B, T)
    lengths = torch.full((b,), t) if lengths is None else torch.as_tensor(lengths)
    return out * (torch.arange(t) < lengths[:, None])


def _bands(size: int, b: int, n: int, max_width: int, generator) -> torch.Tensor:
    """``(B, size)`` bool: ``n`` random bands per item, each 0 to ``max_width`` wide."""
    hidden = torch.zeros(b, size, dtype=torch.bool)
    index = torch.arange(size)
    for _ in range(n):
        width = torch.randint(0, min(max_width, size) + 1, (b, 1), generator=generator)
        start = (torch.rand(b, 1, generator=generator) * (size - width + 1)).long()
        hidden |= (index >= start) & (index < start + width)
    return hidden


def mask_time(
    specs: torch.Tensor,
    n_masks: int,
    max_width: int,
    *,
    generator: torch.Generator,
    value: float = 0.0,
) -> torch.Tensor:
    """SpecAugment time masks: ``n_masks`` bands of up to ``max_width`` frames set to ``value``.

    Shapes:
        specs: ``(B, n_mels, frames)``. Returns the same shape.
    """
    specs = checks.float_batch(specs, 3, "spectrograms")
    hidden = _bands(specs.shape[2], specs.shape[0], n_masks, max_width, generator)  # (B, T)
    return specs.masked_fill(hidden[:, None, :], value)


def mask_freq(
    specs: torch.Tensor,
    n_masks: int,
    max_width: int,
    *,
    generator: torch.Generator,
    value: float = 0.0,
) -> torch.Tensor:
    """SpecAugment frequency masks: ``n_masks`` bands of up to ``max_width`` mel channels.

    Shapes:
        specs: ``(B, n_mels, frames)``. Returns the same shape.
    """
    specs = checks.float_batch(specs, 3, "spectrograms")
    hidden = _bands(specs.shape[1], specs.shape[0], n_masks, max_width, generator)  # (B, M)
    return specs.masked_fill(hidden[:, :, None], value)


def time_stretch(specs: torch.Tensor, rate: float) -> torch.Tensor:
    """Tempo perturbation: ``rate`` times faster at the same pitch, by resampling the frames.

    Shapes:
        specs: ``(B, n_mels, frames)``. Returns ``(B, n_mels, round(frames / rate))``.
    """
    specs = checks.float_batch(specs, 3, "spectrograms")
    if not rate > 0 or not math.isfinite(rate):
        raise ValueError(f"rate must be a positive number (1 keeps the tempo), got {rate}")
    frames = max(1, round(specs.shape[2] / rate))
    return F.interpolate(specs, size=frames, mode="linear", align_corners=True)
