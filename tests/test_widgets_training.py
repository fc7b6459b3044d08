import pytest
import torch

import xmlab as xm
from xmlab.widgets.training import LiveCurve, lr_lab


@pytest.fixture
def data():
    ds = xm.data.make_shapes(32, seed=6, image_size=16)
    tok = xm.preprocess.WordTokenizer.build(ds.captions)
    loader = xm.data.pair_loader(ds, tok, batch_size=16)
    make_model = lambda: xm.encoders.shapes_dual_encoder(
        len(tok), image_size=16, embed_dim=8, width=16
    )
    return loader, make_model


def test_live_curve_follows_training(data):
    loader, make_model = data
    curve = LiveCurve(metric="score", every_s=0.0)
    config = xm.train.TrainConfig(epochs=2, progress=False)
    history = xm.train.fit(
        make_model(), loader, config=config, eval_fn=lambda m: {"score": 0.5}, callbacks=[curve]
    )
    assert curve.values == history.column("loss") and curve.steps == [1, 2, 3, 4]
    assert curve.metric_values == [0.5, 0.5] and curve.epoch_steps == [2, 4]
    assert curve.draws == 4 + 2  # every step (every_s=0) and every epoch end
    line = curve.fig.axes[0].lines[0]
    assert list(line.get_ydata()) == history.column("loss")
    assert bytes(curve.widget.value).startswith(b"\x89PNG")  # each redraw replaces the picture


def test_live_curve_throttles_redraws(data):
    loader, make_model = data
    curve = LiveCurve(every_s=3600)
    xm.train.fit(
        make_model(),
        loader,
        config=xm.train.TrainConfig(epochs=2, progress=False),
        callbacks=[curve],
    )
    assert curve.draws == 1 + 2  # the first step, then only the epoch ends


def test_lr_lab_trains_on_click_and_keeps_every_run(data):
    loader, make_model = data
    lab = lr_lab(make_model, loader, lr=1e-3, epochs=1)
    lab.train_button.click()
    lab.optimizer.value, lab.lr.value = "sgd", 0.1
    lab.train_button.click()
    assert [label for label, _ in lab.runs] == ["adam, lr 1.0e-03", "sgd, lr 1.0e-01"]
    assert all(len(h) == 2 for _, h in lab.runs)
    first_losses = lab.runs[0][1].column("loss")
    lab.optimizer.value, lab.lr.value = "adam", 1e-3
    lab.train_button.click()  # the same settings and seed give the same curve
    assert lab.runs[2][1].column("loss") == first_losses
    drawn = bytes(lab.plot.value)
    assert drawn.startswith(b"\x89PNG")
    lab.clear_button.click()
    assert lab.runs == [] and bytes(lab.plot.value) != drawn


def test_lr_lab_marks_a_diverged_run():
    class Exploding(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def forward(self, image, input_ids, attention_mask):
            raise AssertionError("not called")

    calls = {"n": 0}

    def make_model():
        calls["n"] += 1
        return Exploding()

    values = iter([1.0, float("nan"), 1.0])
    loss_fn = lambda m, b: m.w.sum() * next(values)
    lab = lr_lab(make_model, [{"x": torch.ones(1)}] * 3, loss_fn=loss_fn, epochs=1)
    history = lab.train()
    assert lab.runs[-1][0].endswith("(diverged)") and len(history) == 1 and calls["n"] == 1
