"""Tri-modal binding: text and audio aligned to images only; audio-text alignment emerges."""

import pytest
import torch

from xmlab import binding


@pytest.fixture(scope="module")
def digits():
    train, tokenizer = binding.binding_data("train")
    test, _ = binding.binding_data("test", tokenizer)
    return train, test, tokenizer


def test_binding_data_holds_three_modalities_of_one_digit(digits):
    train, test, tokenizer = digits
    n = len(test["label"])
    assert test["image"].shape == (n, 1, 8, 8) and test["audio"].shape[:2] == (n, 32)
    assert test["input_ids"].shape[0] == n and test["attention_mask"].dtype == torch.bool
    words = {"七", "数字七", "seven", "这是七", "一个七"}
    sevens = [tokenizer.decode(ids) for ids in test["input_ids"][test["label"] == 7]]
    assert all(any(w in text for w in words) for text in sevens)
    assert len(train["label"]) > len(test["label"])


def test_frozen_anchor_gets_no_gradient_and_text_is_never_used():
    torch.manual_seed(0)
    model = binding.tri_modal_encoder(10, dim=8, embed_dim=4)
    batch = {
        "audio": torch.randn(6, 32, 20),
        "label": torch.tensor([0, 1, 2, 0, 1, 2]),
        "anchor_emb": torch.nn.functional.normalize(torch.randn(6, 4), dim=-1),
    }
    model.encoders["text"].forward = None  # calling the text tower would fail
    binding.pair_loss("audio", "image")(model, batch).backward()
    assert all(p.grad is None for p in model.encoders["image"].parameters())
    assert all(p.grad is not None for p in model.encoders["audio"].parameters())


def test_align_with_a_frozen_anchor_leaves_the_anchor_untouched(digits):
    train, _, tokenizer = digits
    small = {k: v[:128] for k, v in train.items()}
    torch.manual_seed(0)
    model = binding.tri_modal_encoder(len(tokenizer), dim=16, embed_dim=8)
    image_state = {k: v.clone() for k, v in model.encoders["image"].state_dict().items()}
    audio_before = model.encoders["audio"].head.weight.clone()
    history = binding.align(model, small, "audio", freeze_anchor=True, epochs=2, device="cpu")
    for k, v in model.encoders["image"].state_dict().items():
        torch.testing.assert_close(v, image_state[k])  # weights and batch-norm statistics
    assert not torch.equal(model.encoders["audio"].head.weight, audio_before)
    assert len(history.steps) == 2


def test_binding_metrics_are_top1_label_accuracies():
    torch.manual_seed(0)
    model = binding.tri_modal_encoder(10, dim=8, embed_dim=4)
    data = {
        "image": torch.rand(12, 1, 8, 8),
        "audio": torch.randn(12, 32, 10),
        "input_ids": torch.randint(4, 10, (12, 3)),
        "attention_mask": torch.ones(12, 3, dtype=torch.bool),
        "label": torch.arange(12) % 3,
    }
    out = binding.binding_metrics(model, data)
    assert len(out) == 6 and set(out) >= {"audio_to_text_R@1", "text_to_audio_R@1"}
    a, t = binding.embed(model, data, "audio"), binding.embed(model, data, "text")
    best = (a @ t.T).argmax(1)  # (N,) the most similar text of each clip
    expected = (data["label"][best] == data["label"]).float().mean().item()
    assert out["audio_to_text_R@1"] == pytest.approx(expected)


def test_unknown_modalities_and_missing_labels_are_explained(digits):
    train, _, tokenizer = digits
    model = binding.tri_modal_encoder(len(tokenizer), dim=8)
    with pytest.raises(ValueError, match="no 'video' encoder"):
        binding.align(model, train, "video", "image")
    no_label = {k: v for k, v in train.items() if k != "label"}
    with pytest.raises(ValueError, match="aligning needs \\['label'\\]"):
        binding.align(model, no_label, "audio", "image")


def test_audio_and_text_align_without_audio_text_pairs(digits):
    train, test, tokenizer = digits
    torch.manual_seed(0)
    model = binding.tri_modal_encoder(len(tokenizer))
    chance = binding.binding_metrics(model, test)["audio_to_text_R@1"]
    binding.align(model, train, "text", "image", epochs=5, device="cpu")
    binding.align(model, train, "audio", "image", freeze_anchor=True, epochs=5, device="cpu")
    emergent = binding.binding_metrics(model, test)["audio_to_text_R@1"]
    assert chance < 0.4 and emergent > 0.5
