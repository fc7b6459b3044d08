"""The real-speech front end and toolbox: properties of each step, loaders, training, widget."""

import dataclasses
import hashlib

import numpy as np
import pytest
import torch
from test_download import fsdd_archive

import xmlab as xm
from xmlab import speech
from xmlab.data import download as dl
from xmlab.preprocess import speech as front


def tone(seconds, freq=300.0, rate=8000, amp=0.5):
    t = torch.arange(int(seconds * rate)) / rate
    return amp * torch.sin(2 * torch.pi * freq * t)


def test_trim_silence_keeps_the_word_and_a_margin():
    clip = torch.cat([torch.zeros(4000), tone(0.5), torch.zeros(3000)])
    out = front.trim_silence(clip, top_db=30, frame=80, margin=160)
    assert len(out) == 4000 + 160 * 2  # the tone, plus 160 samples on each side
    torch.testing.assert_close(out[160:-160], tone(0.5))
    loud = tone(0.3)
    assert torch.equal(front.trim_silence(loud), loud)  # nothing to trim
    int16 = (clip * 32767).to(torch.int16)
    assert len(front.trim_silence(int16)) == 4320  # int16 clips are read as float in [-1, 1)
    with pytest.raises(ValueError, match=r"one clip \(T,\)"):
        front.trim_silence(torch.zeros(2, 800))


def test_pad_batch_pads_with_zeros_and_keeps_lengths():
    waves, lengths = front.pad_batch([tone(0.1), tone(0.05), np.zeros(10, dtype=np.int16)])
    assert waves.shape == (3, 800) and lengths.tolist() == [800, 400, 10]
    assert torch.all(waves[1, 400:] == 0) and torch.all(waves[2] == 0)


def test_fixed_frames_resamples_each_items_own_frames():
    ramp = torch.arange(10.0).expand(2, 3, 10).clone()  # value = frame index
    out = front.fixed_frames(ramp, torch.tensor([10, 5]), 4)  # item 2: only 5 real frames
    torch.testing.assert_close(out[0, 0], torch.tensor([0.0, 3.0, 6.0, 9.0]))
    torch.testing.assert_close(out[1, 0], torch.tensor([0.0, 4 / 3, 8 / 3, 4.0]))


def test_word_features_are_standardised_and_ignore_loudness_and_padding():
    clip = tone(0.4) * torch.hann_window(3200) + 0.01 * torch.randn(3200)
    waves, lengths = front.pad_batch([clip, 0.05 * clip])
    feats = front.word_features(waves, lengths)
    cfg = front.WordConfig()
    assert feats.shape == (2, cfg.n_mels, cfg.frames)
    torch.testing.assert_close(feats.mean((1, 2)), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(feats.std((1, 2)), torch.ones(2), atol=1e-3, rtol=0)
    torch.testing.assert_close(feats[0], feats[1], atol=1e-3, rtol=0)  # 26 dB quieter: same
    padded = torch.cat([waves, torch.zeros(2, 4000)], 1)  # more padding, same lengths
    torch.testing.assert_close(front.word_features(padded, lengths), feats)


def test_word_features_floor_flattens_what_is_quieter():
    clip = torch.cat([tone(0.2), tone(0.2, amp=0.5e-4)])  # the second half is 80 dB down
    waves, lengths = front.pad_batch([clip])
    cfg = front.WordConfig(frames=40)
    feats = front.word_features(waves, lengths, cfg)[0]
    quiet = feats[:, 24:]  # frames well inside the quiet half
    assert torch.allclose(quiet, quiet.min())  # everything under the floor is one value


@pytest.fixture(scope="module")
def synth():
    return speech.synthetic_words()


def test_synthetic_words(synth):
    assert len(synth) == 1600 and sorted(set(synth.labels.tolist())) == list(range(10))
    assert len(set(synth.speakers)) == 160
    assert synth.waves.shape == (1600, int(synth.lengths.max()))
    row = 7
    assert torch.all(synth.waves[row, synth.lengths[row] :] == 0)


def test_words_subset_and_speakers(synth):
    voice = synth.speakers[0]
    one = synth.by_speaker(voice)
    assert len(one) == 10 and set(one.speakers) == {voice}
    assert len(synth.by_speaker(voice, exclude=True)) == 1590
    first = synth.subset(torch.arange(3))
    assert first.waves.shape[1] == int(first.lengths.max())


def test_fsdd_words_from_the_real_archive_format(tmp_path, monkeypatch):
    archive = fsdd_archive(speakers=("george", "theo"), digits=(3, 7), takes=4)
    monkeypatch.setattr(
        dl, "FSDD", dataclasses.replace(dl.FSDD, sha256=hashlib.sha256(archive).hexdigest())
    )
    words = speech.fsdd_words(root=tmp_path, fetch=lambda url: archive)
    assert len(words) == 16 and set(words.speakers) == {"george", "theo"}
    assert sorted(set(words.takes.tolist())) == [0, 1, 2, 3]
    assert len(words.by_speaker("theo")) == 8


def test_loader_without_augmentation_gives_the_clean_features(synth):
    words = synth.subset(torch.arange(100))
    loader = speech.WordLoader(words, batch_size=32, seed=1)
    assert len(loader) == 4
    batches = list(loader)
    assert [len(b["label"]) for b in batches] == [32, 32, 32, 4]
    clean = words.features()
    for batch in batches:  # each batch is some rows of the clean features, with their labels
        for spec, label in zip(batch["audio"], batch["label"]):
            row = torch.nonzero((clean == spec).all(2).all(1)).flatten()
            assert len(row) >= 1 and words.labels[row[0]] == label


def test_loader_augments_afresh_every_epoch(synth):
    words = synth.subset(torch.arange(40))
    policy = speech.Augment(shift=400, speed=(0.9, 1.1), snr_db=(10, 30), time_masks=(2, 4))
    loader = speech.WordLoader(words, augment=policy, batch_size=40, seed=0)
    first, second = next(iter(loader)), next(iter(loader))
    assert first["audio"].shape == (40, 20, 32)
    assert not torch.allclose(first["audio"], second["audio"])  # new draws, new order
    with pytest.raises(ValueError, match="no words"):
        speech.WordLoader(words.subset(torch.zeros(40, dtype=torch.bool)))


def test_augment_off_changes_nothing(synth):
    words = synth.subset(torch.arange(8))
    g = torch.Generator().manual_seed(0)
    out = speech.Augment()(words.waves, words.lengths, front.WordConfig(), g)
    torch.testing.assert_close(out, words.features())


def test_classifier_learns_a_few_voices(synth):
    words = synth.subset(torch.arange(60))  # six voices, ten digits each
    model = speech.word_classifier()
    assert model({"audio": words.features()[:4]}).shape == (4, 10)
    loader = speech.WordLoader(words, batch_size=20, seed=0)
    history = speech.train_words(model, loader, epochs=25, lr=5e-3, device="cpu")
    assert history.epochs[-1]["loss"] < history.epochs[0]["loss"] / 3
    assert speech.word_accuracy(model, words) >= 0.95  # it can fit what it was shown


def test_augmentation_explorer_reacts_to_its_controls(synth):
    w = xm.widgets.augmentation_explorer(synth, index=3)
    plain = w.plot.value
    assert plain[:4] == b"\x89PNG" and w.audio.value[:4] == b"RIFF"
    assert w.augment() == speech.Augment()
    w.switches["noise"].value = True
    w.switches["freq_masks"].value = True
    assert w.augment() == speech.Augment(snr_db=(10.0, 40.0), freq_masks=(2, 3))
    noisy = w.plot.value
    assert noisy != plain
    w.draw.click()  # a new random draw of the same augmentations
    assert w.plot.value != noisy
    with pytest.raises(ValueError, match="index must be in 0..1599"):
        xm.widgets.augmentation_explorer(synth, index=1600)
