"""Speech augmentation: properties each transform must have, checked on small random batches."""

import math

import pytest
import torch

from xmlab.preprocess import augment


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def sine(freq, seconds=0.5, rate=8000):
    t = torch.arange(int(seconds * rate), dtype=torch.float64) / rate
    return torch.sin(2 * math.pi * freq * t).float()


def peak_hz(wave, rate=8000):
    spectrum = torch.fft.rfft(wave.double()).abs()
    return float(spectrum.argmax()) * rate / len(wave)


def test_time_shift_moves_without_wrapping():
    waves = torch.randn(16, 50, generator=gen(1))
    out = augment.time_shift(waves, 7, generator=gen())
    assert out.shape == waves.shape
    for row, shifted in zip(waves, out):
        matches = [
            k
            for k in range(-7, 8)
            if torch.equal(
                shifted, torch.roll(row, k) * ((torch.arange(50) - k) % 50 == torch.arange(50) - k)
            )
        ]
        assert len(matches) == 1  # a shift in range, zeros where the roll would have wrapped
    assert not torch.equal(out, waves)  # 16 draws are not all 0


def test_time_shift_zero_is_identity_and_is_repeatable():
    waves = torch.randn(4, 30, generator=gen(2))
    assert torch.equal(augment.time_shift(waves, 0, generator=gen()), waves)
    a = augment.time_shift(waves, 5, generator=gen(3))
    assert torch.equal(a, augment.time_shift(waves, 5, generator=gen(3)))


def test_speed_one_is_identity():
    waves = torch.randn(3, 101, generator=gen())
    out, lengths = augment.speed_perturb(waves, 1.0)
    torch.testing.assert_close(out, waves)
    assert lengths.tolist() == [101] * 3


@pytest.mark.parametrize("factor", [0.8, 0.9, 1.25])
def test_speed_scales_length_and_pitch(factor):
    wave = sine(440.0)
    out, lengths = augment.speed_perturb(wave[None], factor)
    assert lengths.item() == math.ceil(len(wave) / factor) == out.shape[1]
    assert abs(peak_hz(out[0]) - 440.0 * factor) <= 2 * 8000 / out.shape[1]  # one FFT bin or two


def test_speed_respects_each_length_and_keeps_padding_silent():
    waves = torch.zeros(2, 100)
    waves[0, :100], waves[1, :60] = 1.0, 1.0  # second clip: 60 real samples, then padding
    out, lengths = augment.speed_perturb(waves, torch.tensor([0.5, 2.0]), torch.tensor([100, 60]))
    assert lengths.tolist() == [200, 30] and out.shape == (2, 200)
    assert torch.all(out[0] == 1) and torch.all(out[1, :30] == 1) and torch.all(out[1, 30:] == 0)


def test_speed_rejects_non_positive_factors():
    with pytest.raises(ValueError, match="must be > 0"):
        augment.speed_perturb(torch.zeros(2, 10), torch.tensor([1.0, 0.0]))


@pytest.mark.parametrize("snr", [-5.0, 0.0, 12.5, 30.0])
def test_noise_has_the_asked_snr(snr):
    waves = torch.randn(8, 400, generator=gen(4)) * torch.linspace(0.1, 2, 8)[:, None]
    noisy = augment.add_noise(waves, snr, generator=gen())
    noise = noisy - waves
    measured = 10 * torch.log10(waves.square().mean(1) / noise.square().mean(1))
    torch.testing.assert_close(measured, torch.full((8,), snr), atol=1e-3, rtol=0)


def test_noise_snr_per_item_and_padding_stays_silent():
    waves = torch.randn(3, 200, generator=gen(5))
    mask = torch.arange(200) < torch.tensor([[200], [120], [50]])
    waves = waves * mask
    snr = torch.tensor([0.0, 10.0, 20.0])
    noisy = augment.add_noise(waves, snr, generator=gen(), mask=mask)
    assert torch.all(noisy[~mask] == 0)
    for i in range(3):
        real = mask[i]
        noise = (noisy[i] - waves[i])[real]
        got = 10 * torch.log10(waves[i][real].square().mean() / noise.square().mean())
        assert abs(got.item() - snr[i].item()) < 1e-3


@pytest.mark.parametrize("axis", ["time", "freq"])
def test_masks_are_bands_of_bounded_width(axis):
    specs = torch.randn(32, 20, 30, generator=gen(7)) + 5  # no entry is 0 before masking
    masker = augment.mask_time if axis == "time" else augment.mask_freq
    out = masker(specs, 1, 6, generator=gen())
    hidden = out == 0  # (B, M, T)
    per_slice = hidden.all(1) if axis == "time" else hidden.all(2)  # (B, T) or (B, M)
    whole = per_slice[:, None, :] if axis == "time" else per_slice[:, :, None]
    assert torch.equal(hidden, whole.expand_as(hidden))  # whole frames / whole mel channels
    assert torch.equal(out[~hidden], specs[~hidden])  # everything else untouched
    for row in per_slice:
        where = torch.nonzero(row).flatten()
        if len(where):
            assert where[-1] - where[0] + 1 == len(where) <= 6  # one contiguous band
    assert per_slice.any()  # 32 draws are not all of width 0


def test_masks_of_width_zero_change_nothing_and_fill_with_value():
    specs = torch.randn(4, 10, 12, generator=gen(8))
    assert torch.equal(augment.mask_freq(specs, 3, 0, generator=gen()), specs)
    out = augment.mask_time(specs, 2, 12, generator=gen(), value=-7.0)
    assert torch.all((out == specs) | (out == -7.0))


def test_time_stretch_keeps_pitch_and_changes_frames():
    specs = torch.randn(2, 16, 40, generator=gen(9))
    torch.testing.assert_close(augment.time_stretch(specs, 1.0), specs)
    slow = augment.time_stretch(specs, 0.8)
    assert slow.shape == (2, 16, 50)
    torch.testing.assert_close(slow[..., 0], specs[..., 0])  # the ends stay in place
    torch.testing.assert_close(slow[..., -1], specs[..., -1])
    with pytest.raises(ValueError, match="positive"):
        augment.time_stretch(specs, 0.0)


def test_bad_batches_get_clear_errors():
    with pytest.raises(ValueError, match=r"\(B, T\).*x\[None\]"):
        augment.time_shift(torch.zeros(100), 3, generator=gen())
    with pytest.raises(ValueError, match=r"\(B, n_mels, frames\)"):
        augment.mask_time(torch.zeros(20, 30), 1, 3, generator=gen())
    with pytest.raises(ValueError, match="float"):
        augment.add_noise(torch.zeros(2, 10, dtype=torch.int16), 3.0, generator=gen())


def test_smooth_curves_pass_through_their_knots_and_stay_in_range():
    positions = torch.linspace(0, 1, 31).expand(5, -1)
    curves = augment.smooth_curves(positions, 6.0, 4, gen())
    assert curves.shape == (5, 31) and curves.abs().max() <= 6.0
    knots = curves[:, [0, 10, 20, 30]]  # 4 knots at 0, 1/3, 2/3, 1
    between = curves[:, 5]  # halfway between the first two knots: their mean
    torch.testing.assert_close(between, (knots[:, 0] + knots[:, 1]) / 2)


def test_random_gain_is_a_bounded_smooth_contour():
    waves = torch.ones(4, 400)
    lengths = torch.tensor([400, 300, 200, 100])
    out = augment.random_gain(waves * (torch.arange(400) < lengths[:, None]), 10.0,
                              generator=gen(), lengths=lengths)  # fmt: skip
    for row, n in zip(out, lengths):
        db = 20 * torch.log10(row[:n])
        assert db.abs().max() <= 10.0 + 1e-4 and torch.all(row[n:] == 0)
        assert (db[1:] - db[:-1]).abs().max() < 3 * 20.0 / n  # no jumps: a few knots, lines
    same = augment.random_gain(waves, 0.0, generator=gen())
    torch.testing.assert_close(same, waves)


@pytest.mark.parametrize("freq", [300.0, 1000.0, 3000.0])
def test_random_eq_changes_a_tone_by_at_most_its_swing(freq):
    wave = sine(freq, seconds=0.5)[None].repeat(6, 1)  # 4000 samples: whole periods of each tone
    out = augment.random_eq(wave, 8.0, generator=gen())
    ratio_db = 20 * torch.log10(out.norm(dim=1) / wave.norm(dim=1))
    assert ratio_db.abs().max() <= 8.0 + 0.05 and ratio_db.std() > 0.1  # each clip its own
    torch.testing.assert_close(
        augment.random_eq(wave, 0.0, generator=gen()), wave, atol=1e-5, rtol=0
    )


def test_random_eq_keeps_padding_silent():
    waves = torch.randn(2, 500, generator=gen(3)) * (
        torch.arange(500) < torch.tensor([[500], [250]])
    )
    out = augment.random_eq(waves, 6.0, generator=gen(), lengths=torch.tensor([500, 250]))
    assert torch.all(out[1, 250:] == 0)
