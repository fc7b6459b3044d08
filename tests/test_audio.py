"""Audio front end against slow, independent references (plain Python / NumPy loops)."""

import math

import numpy as np
import pytest
import torch

from xmlab.preprocess import audio


def reference_filterbank(n_fft, n_mels, sample_rate, f_min, f_max, slaney=False):
    """Triangles built one weight at a time from the textbook mel formulas."""
    if slaney:  # linear below 1 kHz, log above (Slaney's Auditory Toolbox)

        def to_mel(f):
            return f * 3 / 200 if f < 1000 else 15 + math.log(f / 1000) * 27 / math.log(6.4)

        def to_hz(m):
            return m * 200 / 3 if m < 15 else 1000 * math.exp((m - 15) * math.log(6.4) / 27)
    else:  # HTK

        def to_mel(f):
            return 2595 * math.log10(1 + f / 700)

        def to_hz(m):
            return 700 * (10 ** (m / 2595) - 1)

    lo, hi = to_mel(f_min), to_mel(f_max)
    edges = [to_hz(lo + (hi - lo) * i / (n_mels + 1)) for i in range(n_mels + 2)]
    n_freqs = n_fft // 2 + 1
    out = np.zeros((n_mels, n_freqs))
    for m in range(n_mels):
        a, b, c = edges[m], edges[m + 1], edges[m + 2]
        for k in range(n_freqs):
            f = k * sample_rate / n_fft
            if a < f <= b:
                out[m, k] = (f - a) / (b - a)
            elif b < f < c:
                out[m, k] = (c - f) / (c - b)
        if slaney:
            out[m] *= 2 / (c - a)
    return out


def reference_power_spectrogram(x, n_fft, hop):
    """Centre-padded (reflect), periodic-Hann-windowed frames, DFT summed term by term."""
    pad = n_fft // 2
    padded = np.concatenate([x[1 : pad + 1][::-1], x, x[-pad - 1 : -1][::-1]])
    window = [0.5 - 0.5 * math.cos(2 * math.pi * n / n_fft) for n in range(n_fft)]
    n_frames = 1 + (len(padded) - n_fft) // hop
    out = np.zeros((n_fft // 2 + 1, n_frames))
    for t in range(n_frames):
        frame = [padded[t * hop + n] * window[n] for n in range(n_fft)]
        for k in range(n_fft // 2 + 1):
            re = sum(frame[n] * math.cos(2 * math.pi * k * n / n_fft) for n in range(n_fft))
            im = -sum(frame[n] * math.sin(2 * math.pi * k * n / n_fft) for n in range(n_fft))
            out[k, t] = re * re + im * im
    return out


@pytest.mark.parametrize("slaney", [False, True])
def test_filterbank_matches_reference(slaney):
    kwargs = dict(n_fft=256, n_mels=20, sample_rate=8000, f_min=50.0, f_max=3800.0)
    ours = audio.mel_filterbank(
        **kwargs, mel_scale="slaney" if slaney else "htk", norm="slaney" if slaney else None
    )
    ref = reference_filterbank(256, 20, 8000, 50.0, 3800.0, slaney=slaney)
    assert ours.shape == (20, 129)
    np.testing.assert_allclose(ours.numpy(), ref, atol=1e-6, rtol=1e-4)


def test_mel_scale_round_trip_and_anchor():
    freqs = torch.tensor([0.0, 440.0, 1000.0, 3999.0])
    for scale in ("htk", "slaney"):
        back = audio.mel_to_hz(audio.hz_to_mel(freqs, mel_scale=scale), mel_scale=scale)
        torch.testing.assert_close(back, freqs.double(), atol=1e-6, rtol=1e-9)
    assert float(audio.hz_to_mel(1000.0)) == pytest.approx(1000.0, abs=0.1)  # HTK's anchor
    assert float(audio.hz_to_mel(1000.0, mel_scale="slaney")) == pytest.approx(15.0)


def test_spectrogram_matches_reference_dft():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(200)
    ours = audio.spectrogram(torch.tensor(x), n_fft=32, hop_length=10)
    ref = reference_power_spectrogram(x, 32, 10)
    assert ours.shape == ref.shape == (17, 21)
    np.testing.assert_allclose(ours.numpy(), ref, rtol=1e-6, atol=1e-8)


def test_log_mel_puts_a_tone_in_the_right_band():
    sr, freq = 8000, 1000.0
    t = torch.arange(sr) / sr
    mel = audio.log_mel(0.5 * torch.sin(2 * math.pi * freq * t), n_mels=40, normalize=False)
    assert mel.shape == (40, 1 + sr // 80)
    fbank = audio.mel_filterbank(n_fft=256, n_mels=40, sample_rate=sr)
    expected_band = int(fbank[:, round(freq * 256 / sr)].argmax())
    assert int(mel.mean(1).argmax()) == expected_band


def test_log_mel_normalised_and_batched():
    waves = torch.randn(3, 4000) * 0.1
    batch = audio.log_mel(waves)  # (3, 40, 51)
    assert batch.shape == (3, 40, 51)
    torch.testing.assert_close(batch[1], audio.log_mel(waves[1]), atol=1e-4, rtol=1e-4)
    assert batch.mean((-2, -1)).abs().max() < 1e-4
    torch.testing.assert_close(batch.std((-2, -1)), torch.ones(3), atol=1e-3, rtol=0)


def test_int16_input_is_scaled():
    wave = (torch.randn(2000) * 3000).to(torch.int16)
    torch.testing.assert_close(audio.spectrogram(wave), audio.spectrogram(wave.float() / 32768.0))


@pytest.mark.parametrize("orig_sr", [16000, 22050, 44100])
def test_resample_keeps_a_tone(orig_sr):
    freq, new_sr = 440.0, 8000
    t = torch.arange(orig_sr) / orig_sr
    out = audio.resample(torch.sin(2 * math.pi * freq * t), orig_sr, new_sr)
    assert out.shape == (new_sr,)
    expected = torch.sin(2 * math.pi * freq * torch.arange(new_sr) / new_sr)
    inner = slice(200, -200)  # away from the edges, where the kernel runs out of samples
    assert (out[inner] - expected[inner]).abs().max() < 0.02


def test_resample_removes_frequencies_above_new_nyquist():
    sr = 16000
    t = torch.arange(sr) / sr
    out = audio.resample(torch.sin(2 * math.pi * 6000 * t), sr, 8000)  # 6 kHz > 4 kHz
    assert out[200:-200].abs().max() < 0.05


def test_prepare_audio_resamples_or_explains():
    wave = torch.randn(16000)
    assert audio.prepare_audio(wave, 16000).shape == (8000,)
    with pytest.raises(ValueError, match="16000 Hz but 8000 Hz is expected"):
        audio.prepare_audio(wave, 16000, allow_resample=False)


@pytest.mark.parametrize(
    "bad, error",
    [
        (torch.zeros(0), ValueError),
        (torch.zeros(2, 3, 4), ValueError),
        (torch.zeros(10, dtype=torch.int64), TypeError),
    ],
)
def test_bad_waveforms_are_refused(bad, error):
    with pytest.raises(error, match="waveform|dtype"):
        audio.spectrogram(bad)


def test_bad_filterbank_settings_are_refused():
    with pytest.raises(ValueError, match="f_max"):
        audio.mel_filterbank(n_fft=256, n_mels=40, sample_rate=8000, f_max=6000.0)
    with pytest.raises(ValueError, match="mel_scale"):
        audio.hz_to_mel(100.0, mel_scale="bark")


def test_mu_law_round_trip():
    wave = np.array([-32768, -20000, -100, 0, 1, 100, 20000, 32767], dtype=np.int16)
    codes = audio.mu_law_encode(wave)
    assert codes.dtype == np.uint8 and codes.min() == 0 and codes.max() == 255
    back = audio.mu_law_decode(codes).astype(float)
    assert np.all(np.abs(back - wave) <= np.maximum(40, 0.03 * np.abs(wave)))  # log steps
    assert np.all(np.diff(codes.astype(int)) >= 0)  # monotone
