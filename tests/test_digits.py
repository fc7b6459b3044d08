"""Tri-modal spoken digits: the shipped audio, voice-disjoint splits, pairing, degradation knobs."""

import numpy as np
import pytest
import torch

from xmlab.data import collate, digits, modality_loader
from xmlab.preprocess.audio import log_mel
from xmlab.preprocess.text import CharTokenizer


@pytest.fixture(scope="module")
def splits():
    return {name: digits.SpokenDigits(name) for name in digits.SPLITS}


def test_shipped_asset_loads_without_a_synthesizer(monkeypatch):
    monkeypatch.setenv("PATH", "")  # no espeak-ng, no sox: only the packaged .npz is read
    digits.load_audio_asset.cache_clear()
    asset = digits.load_audio_asset()
    assert asset["sample_rate"] == 8000
    assert len(asset["audio"]) == len(asset["label"]) == 1600
    assert len(asset["voice_names"]) == 160 and len(np.unique(asset["voice"])) == 160
    assert np.bincount(asset["label"]).tolist() == [160] * 10  # every voice says every digit
    lengths = np.array([len(a) for a in asset["audio"]]) / 8000
    assert 0.1 < lengths.min() and lengths.max() < 1.5
    assert all(a.dtype == np.int16 for a in asset["audio"][:20])
    loudness = [np.abs(a.astype(float)).max() for a in asset["audio"]]
    assert min(loudness) > 1000  # nothing silent or broken


def test_splits_keep_voices_and_images_disjoint(splits):
    voices = {name: set(ds.voices) for name, ds in splits.items()}
    assert not voices["train"] & voices["val"] and not voices["train"] & voices["test"]
    assert not voices["val"] & voices["test"]
    assert sum(len(v) for v in voices.values()) == 160
    assert [len(ds) for ds in splits.values()] == [1120, 240, 240]
    image_ids = {name: set(digits.split_groups(1797, name, seed=1)) for name in digits.SPLITS}
    assert not image_ids["train"] & image_ids["test"] and not image_ids["val"] & image_ids["test"]
    assert sum(len(v) for v in image_ids.values()) == 1797


def test_modalities_are_paired_by_label(splits):
    ds = splits["val"]
    _, image_labels = digits.digit_images("val")
    np.testing.assert_array_equal(image_labels[ds.image_index], ds.labels)
    for text, lang, label in zip(ds.texts, ds.langs, ds.labels, strict=True):
        assert text in digits.digit_texts(int(label), lang)
    assert set(ds.langs) == {"en", "zh"}
    assert "七" in digits.digit_texts(7, "zh") and "the digit seven" in digits.digit_texts(7)


def test_sample_is_a_dict_of_modalities(splits):
    sample = splits["test"][5]
    assert sample["image"].shape == (1, 8, 8) and sample["image"].dtype == torch.float32
    assert 0 <= sample["image"].min() and sample["image"].max() <= 1
    assert sample["audio"].ndim == 1 and sample["audio"].abs().max() <= 1
    assert isinstance(sample["text"], str) and sample["label"] == int(splits["test"].labels[5])
    assert log_mel(sample["audio"]).shape[0] == 40


def test_same_seed_same_data_other_seed_other_split():
    a, b = digits.SpokenDigits("test", seed=3), digits.SpokenDigits("test", seed=3)
    assert a.texts == b.texts and a.voices == b.voices and torch.equal(a.images, b.images)
    assert set(digits.SpokenDigits("test", seed=4).voices) != set(a.voices)


def test_tensors_pad_and_mask(splits):
    ds = splits["test"]
    t = ds.tensors(max_seconds=0.5)
    assert t["audio"].shape == t["audio_mask"].shape == (240, 4000)
    lengths = [len(a) for a in ds.audio]
    assert t["audio_mask"].sum(1).tolist() == [min(n, 4000) for n in lengths]
    assert torch.all(t["audio"][~t["audio_mask"]] == 0)


def test_snr_is_what_was_asked():
    g = torch.Generator().manual_seed(0)
    waves = torch.randn(4, 1000) * torch.tensor([[0.1], [0.5], [1.0], [2.0]])
    mask = torch.arange(1000) < torch.tensor([[1000], [800], [600], [400]])
    waves = waves * mask
    for snr in (-5.0, 0.0, 20.0):
        noisy = digits.add_noise_snr(waves, snr, g, mask)
        noise = noisy - waves
        for row in range(4):
            m = mask[row]
            measured = 10 * torch.log10(
                waves[row, m].square().mean() / noise[row, m].square().mean()
            )
            assert float(measured) == pytest.approx(snr, abs=1e-3)
        assert torch.all(noisy[~mask] == 0)


def test_dataset_audio_noise_is_deterministic_and_at_snr():
    ds = digits.SpokenDigits("val", degradation=digits.Degradation(snr_db=5.0))
    first, again, clean = ds[0]["audio"], ds[0]["audio"], ds.audio[0]
    assert torch.equal(first, again)
    snr = 10 * torch.log10(clean.square().mean() / (first - clean).square().mean())
    assert float(snr) == pytest.approx(5.0, abs=1e-3)


def test_occlusion_hides_a_square_of_the_requested_area():
    g = torch.Generator().manual_seed(0)
    out = digits.occlude(torch.ones(50, 1, 8, 8), 0.25, g)
    assert torch.all((out == 0).sum((1, 2, 3)) == 16)  # a 4 x 4 square of 64 pixels
    rows = (out[:, 0] == 0).any(2).sum(1)
    assert torch.all(rows == 4)  # contiguous square, not scattered pixels
    assert torch.equal(digits.occlude(torch.ones(2, 1, 8, 8), 0.0, g), torch.ones(2, 1, 8, 8))


def test_image_noise_std_and_range():
    g = torch.Generator().manual_seed(0)
    out = digits.add_image_noise(torch.full((200, 1, 8, 8), 0.5), 0.1, g)
    assert 0.095 < float(out.std()) < 0.105 and 0 <= out.min() and out.max() <= 1


def test_energy_removal_matches_sklearn_pca():
    from sklearn.decomposition import PCA

    images, _ = digits.digit_images("train")
    basis = digits.PCABasis.fit(images)
    ref = PCA().fit(images.flatten(1).numpy())
    np.testing.assert_allclose(basis.explained.numpy(), ref.explained_variance_ratio_, atol=1e-5)
    for fraction in (0.3, 0.75):
        k = basis.n_components(fraction)
        cumulative = ref.explained_variance_ratio_.cumsum()
        assert cumulative[k - 1] >= fraction > (cumulative[k - 2] if k > 1 else 0)
        out = digits.remove_energy(images, fraction, basis).flatten(1)
        residual_var = ((out - out.mean(0)) ** 2).sum() / (
            (images.flatten(1) - basis.mean) ** 2
        ).sum()
        assert float(residual_var) == pytest.approx(1 - cumulative[k - 1], abs=1e-4)


def test_bad_arguments_explain_themselves():
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        digits.SpokenDigits("dev")
    with pytest.raises(ValueError, match="lang must be one of"):
        digits.digit_texts(3, "fr")


def test_collate_pads_audio_and_masks_it(splits):
    samples = [splits["test"][i] for i in (0, 1, 2)]
    batch = collate(samples)
    lengths = [len(s["audio"]) for s in samples]
    assert batch["audio"].shape == (3, max(lengths))
    assert batch["audio_mask"].sum(1).tolist() == lengths
    assert torch.equal(batch["audio"][0, : lengths[0]], samples[0]["audio"])
    assert batch["image"].shape == (3, 1, 8, 8) and batch["label"].shape == (3,)
    assert batch["text"] == [s["text"] for s in samples] and "image_mask" not in batch


@pytest.mark.parametrize("modalities", [("image",), ("audio", "text"), ("image", "audio", "text")])
def test_loader_for_any_mix_of_modalities(splits, modalities):
    ds = splits["val"]
    chars = CharTokenizer.build(ds.texts)
    loader = modality_loader(ds, modalities, tokenizer=chars, batch_size=16, shuffle=True)
    batch = next(iter(loader))
    expected = set(modalities) | {"label"}
    expected |= {"audio_mask"} if "audio" in modalities else set()
    expected |= {"input_ids", "attention_mask"} if "text" in modalities else set()
    assert set(batch) == expected and len(batch["label"]) == 16


def test_collate_explains_what_cannot_be_batched():
    with pytest.raises(ValueError, match="only the last axis may differ"):
        collate([{"x": torch.zeros(2, 5)}, {"x": torch.zeros(3, 5)}])
    with pytest.raises(KeyError, match="samples have no"):
        collate([{"x": torch.zeros(2)}], keys=("audio",))
