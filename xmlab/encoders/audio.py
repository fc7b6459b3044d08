"""Audio encoders: log-mel spectrograms ``(B, n_mels, frames)`` to feature vectors ``(B, F)``.

A log-mel spectrogram is an image with frequency as rows and time as columns
(``xm.preprocess.audio.log_mel``), so the same kind of small CNN that reads pictures reads sound.
Two things differ from pictures: a spoken word may start early or late and last long or short,
so the encoder pools over *time* at the end (any number of frames works), while it keeps the
*frequency* axis (a high and a low sound are different sounds).

Explained in: notebooks/07_fusion_and_multitask.ipynb
"""

from __future__ import annotations

import torch
from torch import nn


class AudioEncoder(nn.Module):
    """A small CNN over log-mel spectrograms, pooled over time.

    Stages of (conv 3x3 with stride 2, batch norm, ReLU) halve both the mel and the time axis.
    Each remaining time step (a *frame* of about ``hop * 2**stages`` samples) becomes one
    feature vector -- all channels at all remaining frequencies, through a linear layer --
    and the clip's vector is the mean of its frames' vectors.

    Args:
        out_dim: size of the output feature vector.
        n_mels: mel bands of the input spectrograms (40 for ``log_mel``'s defaults).
        channels: output channels of each stage.
        norm: batch-normalise each stage (trains much faster; off for a plain CNN).
        pool: return the mean over frames ``(B, out_dim)``; ``False`` returns the frames
            themselves ``(B, frames', out_dim)``, for fusion by cross-attention.
    """

    def __init__(
        self,
        out_dim: int = 128,
        *,
        n_mels: int = 40,
        channels: tuple[int, ...] = (16, 32, 64),
        norm: bool = True,
        pool: bool = True,
    ):
        super().__init__()
        layers, c_in, bands = [], 1, n_mels
        for c_out in channels:
            layers.append(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=not norm))
            layers += [nn.BatchNorm2d(c_out)] if norm else []
            layers.append(nn.ReLU(inplace=True))
            c_in, bands = c_out, (bands + 1) // 2
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c_in * bands, out_dim)
        self.n_mels, self.out_dim, self.pool = n_mels, out_dim, pool

    def _check(self, spec: torch.Tensor) -> torch.Tensor:
        """Return ``spec`` as ``(B, 1, n_mels, frames)`` or raise an error that says why not."""
        if spec.ndim == 2:
            raise ValueError(
                f"audio encoder got a tensor shaped {tuple(spec.shape)}, which looks like a batch "
                "of waveforms: turn them into spectrograms first with "
                "xm.preprocess.audio.log_mel(waves) -> (B, n_mels, frames)"
            )
        if spec.ndim == 3:
            spec = spec.unsqueeze(1)  # (B, 1, M, T)
        if spec.ndim != 4 or spec.shape[1] != 1 or spec.shape[2] != self.n_mels:
            raise ValueError(
                f"audio encoder expects log-mel spectrograms shaped (B, {self.n_mels}, frames) "
                f"or (B, 1, {self.n_mels}, frames), got {tuple(spec.shape)}: compute them with "
                f"log_mel(waves, n_mels={self.n_mels}) or build the encoder with the right n_mels"
            )
        return spec

    def frames(self, spec: torch.Tensor) -> torch.Tensor:
        """One feature vector per (downsampled) time step: ``(B, frames', out_dim)``.

        Fusion by cross-attention reads these as a sequence of audio tokens.
        """
        maps = self.features(self._check(spec))  # (B, C, M', T')
        b, c, m, t = maps.shape
        return self.head(maps.permute(0, 3, 1, 2).reshape(b, t, c * m))  # (B, T', out_dim)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        frames = self.frames(spec)  # (B, T', out_dim)
        return frames.mean(1) if self.pool else frames
