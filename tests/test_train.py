import math

import pytest
import torch
from torch import nn

import xmlab as xm


@pytest.fixture
def shapes_setup():
    ds = xm.data.make_shapes(64, seed=3)
    tok = xm.preprocess.WordTokenizer.build(ds.captions)
    loader = xm.data.pair_loader(ds, tok, batch_size=16)
    return ds, tok, loader


def test_overfits_one_batch(shapes_setup):
    ds, tok, _ = shapes_setup
    unique = list(dict.fromkeys(ds.captions))[:16]  # 16 pairs with 16 different captions
    idx = torch.tensor([ds.captions.index(c) for c in unique])
    tensors = {k: v[idx] for k, v in xm.data.encode_pairs(ds, tok).items()}
    one = xm.data.TensorLoader(tensors, batch_size=16)
    xm.utils.seed_everything(0)
    model = xm.encoders.shapes_dual_encoder(len(tok), embed_dim=32, width=64)
    config = xm.train.TrainConfig(epochs=40, lr=3e-3, progress=False)
    history = xm.train.fit(model, one, config=config)
    assert history.steps[0]["loss"] > 2.0 and history.last("loss") < 0.05
    img, txt = xm.train.embed_pairs(model, one)
    assert xm.metrics.retrieval_metrics(img, txt, ks=(1,))["image_to_text_R@1"] == 1.0


class Recorder(xm.train.Callback):
    def __init__(self):
        self.steps, self.epochs = [], []

    def on_step(self, row, model):
        self.steps.append(row["step"])

    def on_epoch_end(self, row, model):
        self.epochs.append(row)


def test_history_callbacks_and_eval(shapes_setup):
    _, tok, loader = shapes_setup
    model = xm.encoders.shapes_dual_encoder(len(tok), embed_dim=8, width=32)
    rec = Recorder()
    history = xm.train.fit(
        model,
        loader,
        config=xm.train.TrainConfig(epochs=2, progress=False),
        eval_fn=lambda m: {"val": 0.5},
        callbacks=[rec],
    )
    assert rec.steps == list(range(1, 9)) and len(history) == 8
    assert [r["epoch"] for r in history.epochs] == [1, 2] and history.last("val") == 0.5
    assert rec.epochs == history.epochs
    assert history.plot() is not None
    with pytest.raises(KeyError, match="never recorded"):
        history.last("accuracy")


def test_logit_scale_stays_clamped(shapes_setup):
    _, tok, loader = shapes_setup
    model = xm.encoders.shapes_dual_encoder(len(tok), embed_dim=8, width=32)
    with torch.no_grad():
        model.logit_scale.fill_(math.log(100) - 1e-4)
    xm.train.fit(model, loader, config=xm.train.TrainConfig(epochs=1, lr=0.5, progress=False))
    assert model.logit_scale.item() <= math.log(100) + 1e-6


def test_nan_loss_stops_with_the_step_and_causes():
    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))

    loader = xm.data.TensorLoader({"x": torch.zeros(4)}, batch_size=2)
    calls = iter([1.0, float("nan")])
    with pytest.raises(FloatingPointError, match=r"at step 2 \(expected a finite number\)") as err:
        xm.train.fit(
            Bad(),
            loader,
            config=xm.train.TrainConfig(progress=False),
            loss_fn=lambda m, b: m.w.sum() * next(calls),
        )
    assert "temperature" in str(err.value) and "precision='fp32'" in str(err.value)


@pytest.mark.parametrize("step,expected", [(0, 0.25), (3, 1.0), (4, 1.0), (14, 0.5), (24, 0.0)])
def test_cosine_schedule_matches_formula(step, expected):
    got = xm.train.lr_factor(step, schedule="cosine", total_steps=24, warmup_steps=4)
    assert got == pytest.approx(expected, abs=1e-9)


def test_fit_follows_the_schedule_and_records_the_lr_of_each_step(shapes_setup):
    _, tok, loader = shapes_setup
    model = xm.encoders.shapes_dual_encoder(len(tok), embed_dim=8, width=16)
    config = xm.train.TrainConfig(
        epochs=2, lr=0.01, schedule="cosine", warmup_steps=3, optimizer="sgd", progress=False
    )
    history = xm.train.fit(model, loader, config=config)
    factors = [
        xm.train.lr_factor(s, schedule="cosine", total_steps=8, warmup_steps=3) for s in range(8)
    ]
    expected = [0.01 * f for f in factors]
    assert history.column("lr") == pytest.approx(expected, rel=1e-12)


def test_unknown_schedule_is_explained(shapes_setup):
    _, tok, loader = shapes_setup
    model = xm.encoders.shapes_dual_encoder(len(tok), embed_dim=8, width=32)
    with pytest.raises(ValueError, match="unknown schedule 'linear': expected one of constant"):
        xm.train.fit(model, loader, config=xm.train.TrainConfig(schedule="linear", progress=False))


def test_move_to_leaves_non_tensors():
    batch = xm.train.move_to({"a": torch.zeros(1), "t": ["x"]}, torch.device("cpu"))
    assert batch["t"] == ["x"] and batch["a"].device.type == "cpu"
