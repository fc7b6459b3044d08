"""The audio encoder: a CNN over log-mel spectrograms, pooled over time."""

import pytest
import torch
import torch.nn.functional as F

from xmlab.encoders.audio import AudioEncoder
from xmlab.preprocess.audio import log_mel


@pytest.mark.parametrize("frames", [1, 7, 41, 101])
def test_any_number_of_frames_gives_one_vector(frames):
    enc = AudioEncoder(24, n_mels=32)
    assert enc(torch.randn(3, 32, frames)).shape == (3, 24)
    assert enc(torch.randn(3, 1, 32, frames)).shape == (3, 24)  # with a channel axis


def test_frames_are_tokens_and_the_vector_is_their_mean():
    torch.manual_seed(0)
    enc = AudioEncoder(16, n_mels=32, channels=(8, 16)).eval()
    spec = torch.randn(2, 32, 41)
    frames = enc.frames(spec)
    assert frames.shape == (2, 11, 16)  # 41 -> 21 -> 11 frames after two stride-2 stages
    torch.testing.assert_close(enc(spec), frames.mean(1))
    tokens = AudioEncoder(16, n_mels=32, channels=(8, 16), pool=False)
    tokens.load_state_dict(enc.state_dict())
    torch.testing.assert_close(tokens.eval()(spec), frames)


def test_reads_the_kit_log_mel_of_waveforms():
    waves = torch.randn(4, 8000) * 0.1  # (B, T) one second at 8 kHz
    spec = log_mel(waves, n_mels=40)  # (B, 40, frames)
    assert AudioEncoder(32)(spec).shape == (4, 32)


def test_items_are_encoded_independently_in_eval_mode():
    torch.manual_seed(0)
    enc = AudioEncoder(8, n_mels=16).eval()
    spec = torch.randn(5, 16, 20)
    one_by_one = torch.cat([enc(spec[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(enc(spec), one_by_one)


def test_waveforms_are_refused_with_advice():
    with pytest.raises(ValueError, match="waveforms.*log_mel"):
        AudioEncoder()(torch.randn(2, 8000))


@pytest.mark.parametrize("shape", [(2, 20, 50), (2, 3, 40, 50), (40, 50), (1, 2, 3, 40, 50)])
def test_wrong_shapes_say_what_was_expected(shape):
    with pytest.raises(ValueError, match=r"\(B, 40, frames\)|waveforms"):
        AudioEncoder(n_mels=40)(torch.randn(*shape))


def test_overfits_a_small_batch():
    torch.manual_seed(0)
    spec, labels = torch.randn(16, 32, 30), torch.arange(16) % 4
    enc = AudioEncoder(4, n_mels=32, channels=(8, 16))
    opt = torch.optim.Adam(enc.parameters(), lr=1e-2)
    for _ in range(60):
        loss = F.cross_entropy(enc(spec), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    assert (enc.eval()(spec).argmax(1) == labels).all()
