"""Sound in a notebook: spectrogram figures, and waveforms as WAV bytes to play.

Explained in: notebooks/01_multimodal_data.ipynb and notebooks/05_evaluation.ipynb
"""

from __future__ import annotations

import io
import wave

import matplotlib.pyplot as plt
import numpy as np
import torch


def show_spectrogram(
    mel: torch.Tensor,
    ax=None,
    *,
    sample_rate: int = 8000,
    hop_length: int = 80,
    title: str | None = None,
):
    """A (n_mels, frames) log-mel spectrogram, time in seconds across, mel band up."""
    mel = torch.as_tensor(mel).detach().float().cpu()
    if mel.ndim != 2:
        raise ValueError(
            f"expected one (n_mels, frames) spectrogram, got shape {tuple(mel.shape)}: "
            "index a batch first"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 2.4))
    seconds = mel.shape[1] * hop_length / sample_rate
    im = ax.imshow(mel.numpy(), origin="lower", aspect="auto", extent=(0, seconds, 0, mel.shape[0]))
    ax.figure.colorbar(im, ax=ax, fraction=0.046, label="log power")
    ax.set(xlabel="time (s)", ylabel="mel band")
    if title:
        ax.set_title(title, fontsize=9)
    return ax.figure


def wav_bytes(waveform: torch.Tensor | np.ndarray, sample_rate: int) -> bytes:
    """A mono waveform in [-1, 1] (or int16) as the bytes of a 16-bit WAV file, ready for
    ``ipywidgets.Audio(value=..., format="wav")`` or ``IPython.display.Audio(data=...)``."""
    samples = np.asarray(torch.as_tensor(waveform).detach().cpu())
    if samples.ndim != 1 or samples.size == 0:
        raise ValueError(f"expected one non-empty (T,) waveform, got shape {samples.shape}")
    if samples.dtype != np.int16:
        samples = (np.clip(samples.astype(np.float64), -1, 1) * 32767).round().astype(np.int16)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(int(sample_rate))
        f.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()
