"""Figures: each returns a figure (or the axes it was given), draws what it claims, and
explains bad input."""

import io
import math
import wave

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.offsetbox import AnnotationBbox

import xmlab as xm


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def unit(n, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=-1)


def test_plot_training_draws_loss_and_epoch_metrics():
    history = xm.train.History()
    history.steps = [{"step": s, "epoch": 1 + (s > 2), "loss": 3.0 / s} for s in range(1, 5)]
    history.epochs = [{"epoch": 1, "loss": 2.0, "R@1": 0.2}, {"epoch": 2, "loss": 1.0, "R@1": 0.6}]
    fig = xm.viz.plot_training(history, metrics=["R@1"])
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    twin_line = fig.axes[1].get_lines()[0]
    assert twin_line.get_ydata().tolist() == [0.2, 0.6]
    with pytest.raises(KeyError, match="'R@5' is not in the epoch rows"):
        xm.viz.plot_training(history, metrics=["R@5"])


def test_similarity_heatmap_with_thumbnails_and_labels():
    sim = unit(3) @ unit(4, seed=1).T
    images = torch.rand(4, 3, 8, 8)
    ax = xm.viz.show_similarity(sim, row_labels=["a", "b", "c"], col_images=images)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    boxes = [a for a in ax.artists if isinstance(a, AnnotationBbox)]
    assert len(boxes) == 4
    assert np.allclose(ax.images[0].get_array(), sim.numpy())
    with pytest.raises(ValueError, match="2 row images for 3 rows"):
        xm.viz.show_similarity(sim, row_images=images[:2])


def test_project_2d_pca_matches_scikit_learn_up_to_sign():
    from sklearn.decomposition import PCA

    x = torch.randn(40, 6) * torch.tensor([5.0, 3, 1, 1, 1, 1])
    got = xm.viz.project_2d(x).numpy()
    ref = PCA(2).fit_transform(x.numpy())
    for c in range(2):
        assert np.allclose(np.abs(got[:, c]), np.abs(ref[:, c]), atol=1e-3)
    assert xm.viz.project_2d(x, method="tsne").shape == (40, 2)
    with pytest.raises(ValueError, match="'pca' or 'tsne'"):
        xm.viz.project_2d(x, method="umap")


def test_embedding_map_shows_both_modalities_and_the_gap():
    img, txt = unit(20), unit(20, seed=1)
    fig, ax = plt.subplots()
    got = xm.viz.show_embeddings_2d(
        img, txt, ax, labels=torch.arange(20) % 3, class_names=["a", "b", "c"]
    )
    assert got is fig
    assert f"gap = {xm.metrics.modality_gap(img, txt):.2f}" in ax.get_title()
    sizes = [len(c.get_offsets()) for c in ax.collections]
    assert sizes[:2] == [20, 20]
    with pytest.raises(ValueError, match="as many texts and labels as images"):
        xm.viz.show_embeddings_2d(img, txt[:10], labels=torch.arange(20))


def test_retrieval_gallery_shows_top_k_best_first_with_marks():
    scores = torch.tensor([0.1, 0.9, 0.5, 0.7])
    texts = ["w", "x", "y", "z"]
    fig = xm.viz.show_retrieval(
        scores,
        query=torch.rand(3, 8, 8),
        query_kind="image",
        texts=texts,
        relevant=torch.tensor([0, 1, 0, 0]),
        k=3,
    )
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["query", "0.90 ✓", "0.70 ✗", "0.50 ✗"]
    shown = [ax.texts[0].get_text() for ax in fig.axes[1:]]
    assert shown == ["x", "z", "y"]
    spectra = [torch.rand(10, 20) for _ in range(4)]
    fig = xm.viz.show_retrieval(scores, query="seven", spectrograms=spectra, k=2)
    assert len(fig.axes[1].images) == 1
    with pytest.raises(ValueError, match="exactly one gallery"):
        xm.viz.show_retrieval(scores, query="q", texts=texts, spectrograms=spectra)
    with pytest.raises(ValueError, match="k=5 but the gallery has 4"):
        xm.viz.show_retrieval(scores, query="q", texts=texts, k=5)


def test_confusion_matrix_rows_are_fractions():
    m = torch.tensor([[3, 1], [0, 4]])
    fig = xm.viz.show_confusion(m, class_names=["cat", "dog"])
    assert np.allclose(fig.axes[0].images[0].get_array(), [[0.75, 0.25], [0, 1]])
    with pytest.raises(ValueError, match="square"):
        xm.viz.show_confusion(torch.zeros(2, 3))


def test_noise_curve_and_hard_negative_bars():
    curve = {"noise": [0.0, 0.1], "score": [0.9, 0.4]}
    fig = xm.viz.plot_noise_curve(curve, label="model")
    xm.viz.plot_noise_curve({"noise": [0.0, 0.1], "score": [0.5, 0.5]}, fig.axes[0])
    lines = fig.axes[0].get_lines()
    assert len(lines) == 2 and lines[0].get_ydata().tolist() == [0.9, 0.4]
    fig = xm.viz.plot_hard_negatives({"swap": 0.5, "edit": 0.9})
    assert [p.get_height() for p in fig.axes[0].patches] == [0.5, 0.9]


def test_spectrogram_axes_are_seconds_and_bands():
    fig = xm.viz.show_spectrogram(torch.randn(40, 100), hop_length=80, sample_rate=8000)
    assert fig.axes[0].images[0].get_extent() == [0, 1.0, 0, 40]
    with pytest.raises(ValueError, match="index a batch first"):
        xm.viz.show_spectrogram(torch.randn(2, 40, 100))


def test_wav_bytes_round_trip():
    t = torch.arange(800) / 8000
    wave_in = 0.5 * torch.sin(2 * math.pi * 440 * t)
    data = xm.viz.wav_bytes(wave_in, 8000)
    with wave.open(io.BytesIO(data)) as f:
        assert (f.getframerate(), f.getnchannels(), f.getnframes()) == (8000, 1, 800)
        back = np.frombuffer(f.readframes(800), dtype="<i2") / 32767
    assert np.allclose(back, wave_in.numpy(), atol=1e-4)
    ints = np.array([0, 1000, -1000], dtype=np.int16)
    with wave.open(io.BytesIO(xm.viz.wav_bytes(ints, 8000))) as f:
        assert np.frombuffer(f.readframes(3), dtype="<i2").tolist() == [0, 1000, -1000]
    with pytest.raises(ValueError, match="non-empty \\(T,\\) waveform"):
        xm.viz.wav_bytes(torch.zeros(2, 10), 8000)


def test_softmax_temperature_limits():
    s = torch.tensor([0.9, 0.5, 0.1])
    assert xm.viz.softmax_with_temperature(s, 0.01)[0] > 0.999
    assert torch.allclose(
        xm.viz.softmax_with_temperature(s, 100.0), torch.full((3,), 1 / 3).double(), atol=1e-2
    )
    assert xm.viz.softmax_with_temperature(s, 0.3).sum().item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        xm.viz.softmax_with_temperature(s, 0.0)
    with pytest.raises(ValueError, match="finite similarities"):
        xm.viz.softmax_with_temperature([0.2, float("nan")], 1.0)
    fig = xm.viz.plot_softmax(s, 0.1)
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == pytest.approx(xm.viz.softmax_with_temperature(s, 0.1).tolist())


@pytest.mark.parametrize("positive", [0, 2])
def test_row_losses_match_their_formulas_and_closed_form_gradients(positive):
    s = torch.tensor([0.3, -0.2, 0.6, 0.1], dtype=torch.float64)
    tau, b = 0.2, -2.0
    out = xm.viz.row_losses(s, positive=positive, temperature=tau, bias=b)
    p = torch.softmax(s / tau, 0)
    y = torch.zeros(4, dtype=torch.float64)
    y[positive] = 1
    assert out["clip"] == pytest.approx(-math.log(p[positive]))
    sig = torch.sigmoid(s / tau + b)
    ref_siglip = -sum(math.log(sig[j]) if y[j] else math.log(1 - sig[j]) for j in range(4))
    assert out["siglip"] == pytest.approx(ref_siglip)
    assert torch.allclose(out["clip_grad"].double(), (p - y) / tau, atol=1e-6)
    assert torch.allclose(out["siglip_grad"].double(), (sig - y) / tau, atol=1e-6)
    # the batch CLIP loss of the package reduces to this row when both directions agree
    img = torch.eye(2)
    assert xm.losses.clip_loss(img, img, logit_scale=1 / tau).item() == pytest.approx(
        xm.viz.row_losses([1.0, 0.0], temperature=tau)["clip"], rel=1e-5
    )
    fig = xm.viz.plot_loss_lab(s, temperature=tau, bias=b, positive=positive)
    assert [p.get_height() for p in fig.axes[0].patches] == pytest.approx(
        out["clip_grad"].tolist(), rel=1e-5
    )
    with pytest.raises(ValueError, match="positive < 4"):
        xm.viz.row_losses(s, positive=4)


def test_figures_draw_into_a_given_axes():
    fig, ax = plt.subplots()
    assert xm.viz.show_spectrogram(torch.randn(4, 5), ax) is fig
    fig, ax = plt.subplots()
    assert xm.viz.show_confusion(torch.eye(3), ax) is fig
    fig, ax = plt.subplots()
    assert xm.viz.plot_softmax([0.1, 0.2], 1.0, ax) is fig
    png = xm.viz.figure_to_png(fig)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and not plt.fignum_exists(fig.number)


def test_row_losses_add_up_to_the_package_siglip_loss():
    img, txt = unit(5, seed=1), unit(5, seed=2)
    tau, b = 0.1, -3.0
    sim = img @ txt.T
    rows = [xm.viz.row_losses(sim[i], positive=i, temperature=tau, bias=b) for i in range(5)]
    batch = xm.losses.siglip_loss(img, txt, logit_scale=1 / tau, logit_bias=b)
    assert sum(r["siglip"] for r in rows) / 5 == pytest.approx(batch.item(), rel=1e-5)


def test_lesson_figures_take_similarities_straight_from_a_model():
    # a row cut from a live similarity matrix still carries autograd (and, on a GPU, lives on
    # the GPU): the figures plot its values without the caller detaching or moving it
    s = (unit(1, seed=3) @ unit(4, seed=4).T).squeeze(0).requires_grad_(True)  # (4,)
    fig = xm.viz.plot_softmax(s, 0.5)
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == pytest.approx(torch.softmax(s.detach() / 0.5, 0).tolist())
    fig = xm.viz.plot_loss_lab(s, temperature=0.5, bias=-1.0)
    assert len(fig.axes[0].patches) == 4 and s.grad is None  # the caller's graph is untouched
