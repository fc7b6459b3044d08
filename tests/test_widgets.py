"""Widgets driven without a browser: set a control's value or click a button, check what the
widget now shows and computes."""

import io
import wave

import ipywidgets as widgets
import pytest
import torch

import xmlab as xm
import xmlab.widgets as xw


def test_temperature_explorer_redraws_when_the_slider_moves():
    w = xw.temperature_explorer([0.6, 0.5, 0.1], labels=["a", "b", "c"], temperature=0.1)
    assert isinstance(w, widgets.VBox) and isinstance(w.temperature, widgets.FloatLogSlider)
    before = w.plot.value
    assert before[:4] == b"\x89PNG"
    w.temperature.value = 2.0
    assert w.plot.value != before
    assert "xmlab-temperature" in w.temperature._dom_classes
    with pytest.raises(ValueError, match="at least two similarities"):
        xw.temperature_explorer([0.5])


def test_loss_lab_reports_both_losses_and_reacts_to_a_negative():
    lab = xw.loss_lab([0.5, 0.3, 0.1], temperature=0.1, bias=-5.0)
    assert len(lab.negatives) == 2
    before, plot = lab.losses(), lab.plot.value
    assert f"{before['clip']:.3f}" in lab.readout.value
    lab.negatives[0].value = 0.9  # a negative now beats the positive: both losses grow
    after = lab.losses()
    assert after["clip"] > before["clip"] and after["siglip"] > before["siglip"]
    assert lab.plot.value != plot and f"{after['siglip']:.3f}" in lab.readout.value
    expected = xm.viz.row_losses([0.5, 0.9, 0.1], temperature=0.1, bias=-5.0)
    assert after["clip"] == pytest.approx(expected["clip"])
    # SigLIP's gradient on negative 2 ignores negative 1; CLIP's does not
    assert after["siglip_grad"][2] == pytest.approx(before["siglip_grad"][2])
    assert after["clip_grad"][2] < before["clip_grad"][2]
    with pytest.raises(ValueError, match="2 to 8 similarities"):
        xw.loss_lab([0.5])


@pytest.fixture(scope="module")
def shapes_model():
    ds = xm.data.make_shapes(24, seed=7)
    tok = xm.preprocess.WordTokenizer.build(ds.captions)
    xm.utils.seed_everything(0)
    model = xm.encoders.shapes_dual_encoder(len(tok), embed_dim=8, width=16).eval()
    loader = xm.data.pair_loader(ds, tok, batch_size=8)
    img, txt = xm.train.embed_pairs(model, loader, device="cpu")

    def encode_text(texts):
        with torch.no_grad():
            t = tok(texts)
            return model.encode_text(t["input_ids"], t["attention_mask"])

    return ds, tok, loader, model, img, txt, encode_text


def test_retrieval_explorer_both_directions_and_playable_audio(shapes_model):
    ds, _, _, _, img, txt, encode_text = shapes_model
    clips = [torch.sin(torch.arange(400) * 0.1 * (i + 1)) for i in range(len(ds))]
    w = xw.retrieval_explorer(
        encode_text,
        img,
        txt,
        images=ds.images,
        texts=ds.captions,
        audio=clips,
        sample_rate=8000,
        k=3,
    )
    w.query.value = ds.captions[5]
    top = w.find_images()
    expected = (encode_text([ds.captions[5]]) @ img.T)[0].topk(3).indices
    assert top.tolist() == expected.tolist()
    before = w.image_results.value
    w.image_index.value = 4
    assert w.image_results.value != before
    expected = (img[4] @ txt.T).topk(3).indices.tolist()
    players = [box.children[1] for box in w.players.children]
    assert len(players) == 3 and all(isinstance(p, widgets.Audio) for p in players)
    with wave.open(io.BytesIO(players[0].value)) as f:
        assert f.getnframes() == len(clips[expected[0]])
    shown = w.image_results.value
    w.search.click()  # the button searches the typed caption again
    assert w.image_results.value == shown and w.text_results.value
    w.query.value = "  "
    with pytest.raises(ValueError, match="type a caption"):
        w.find_images()


def test_retrieval_explorer_bad_inputs(shapes_model):
    ds, _, _, _, img, txt, encode_text = shapes_model
    with pytest.raises(ValueError, match="one embedding per item"):
        xw.retrieval_explorer(encode_text, img, txt, images=ds.images[:5], texts=ds.captions)
    with pytest.raises(ValueError, match="3 audio clips for 24 captions"):
        xw.retrieval_explorer(
            encode_text, img, txt, images=ds.images, texts=ds.captions, audio=[torch.zeros(5)] * 3
        )
    with pytest.raises(ValueError, match="k=30 but the gallery has 24"):
        xw.retrieval_explorer(encode_text, img, txt, images=ds.images, texts=ds.captions, k=30)


def small_model(tok):
    return lambda: xm.encoders.shapes_dual_encoder(len(tok), embed_dim=8, width=16)


def test_training_dashboard_runs_to_the_end(shapes_model):
    _, tok, loader, *_ = shapes_model
    config = xm.train.TrainConfig(epochs=2, device="cpu")
    board = xw.training_dashboard(small_model(tok), loader, config=config, every_s=0.0)
    assert board.status.value == "ready" and board.stop_button.disabled
    board.start_button.click()
    board.join(timeout=120)
    assert not board.running and board.error is None
    assert board.status.value == f"finished after {2 * len(loader)} steps"
    assert len(board.curve.steps) == 2 * len(loader) and board.plot.value[:4] == b"\x89PNG"
    assert not board.start_button.disabled and board.stop_button.disabled


def test_training_dashboard_stops_when_asked(shapes_model):
    _, tok, loader, *_ = shapes_model
    config = xm.train.TrainConfig(epochs=50, device="cpu")
    board = xw.training_dashboard(small_model(tok), loader, config=config)
    board.start_button.click()
    board.stop_button.click()
    board.join(timeout=120)
    assert board.status.value.startswith("stopped at step")
    assert len(board.curve.steps) < 50 * len(loader)


def test_noise_explorer_moves_along_its_curve():
    calls = []

    def score(level):
        calls.append(level)
        return 1.0 - level

    w = xw.noise_explorer(score, torch.rand(3, 3, 8, 8), levels=[0.0, 0.2, 0.4], name="R@1")
    assert calls == [0.0, 0.2, 0.4] and w.curve["score"] == [1.0, 0.8, 0.6]
    before = w.plot.value
    w.noise.value = 0.4
    assert w.value() == 0.6 and "0.600" in w.readout.value and w.plot.value != before
    assert calls == [0.0, 0.2, 0.4]  # the curve is computed once
    with pytest.raises(ValueError, match="1 to 8 example images"):
        xw.noise_explorer(score, torch.rand(3, 8, 8))


def test_training_widgets_are_re_exported():
    assert xw.LiveCurve is xm.widgets.training.LiveCurve
    assert callable(xw.lr_lab)
