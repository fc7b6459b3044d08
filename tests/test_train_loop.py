import math

import matplotlib.pyplot as plt
import pytest
import torch

import xmlab as xm


@pytest.fixture
def data():
    ds = xm.data.make_shapes(48, seed=4, image_size=16)
    tok = xm.preprocess.WordTokenizer.build(ds.captions)
    return xm.data.pair_loader(ds, tok, batch_size=16), len(tok)


def make_model(vocab):
    torch.manual_seed(0)
    return xm.encoders.shapes_dual_encoder(vocab, image_size=16, embed_dim=8, width=16)


def params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


class StopAt(xm.train.Callback):
    def __init__(self, step):
        self.step = step

    def on_step(self, row, model):
        if row["step"] == self.step:
            raise KeyboardInterrupt


def test_interrupt_returns_the_history_so_far_and_the_trained_model(data, capsys):
    loader, vocab = data
    config = xm.train.TrainConfig(epochs=1, progress=False)
    three_steps = make_model(vocab)
    xm.train.fit(three_steps, loader, config=config)  # 48 items / 16 = 3 steps

    model = make_model(vocab)
    config = xm.train.TrainConfig(epochs=4, progress=False)
    history = xm.train.fit(model, loader, config=config, callbacks=[StopAt(3)])
    assert len(history) == 3 and history.stopped == "interrupted after step 3"
    assert "stopped by the user after step 3" in capsys.readouterr().out
    assert torch.equal(params(model), params(three_steps))


def test_interrupt_in_the_middle_of_a_step_leaves_the_last_completed_step(data):
    loader, vocab = data
    calls = {"n": 0}

    def loss_fn(model, batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # pressed during the forward pass of step 3
        return xm.train.contrastive_loss(model, batch)

    model = make_model(vocab)
    history = xm.train.fit(
        model, loader, config=xm.train.TrainConfig(progress=False), loss_fn=loss_fn
    )
    two_steps = make_model(vocab)
    loader.n = 32  # the same first two batches
    xm.train.fit(two_steps, loader, config=xm.train.TrainConfig(epochs=1, progress=False))
    assert len(history) == 2 and torch.equal(params(model), params(two_steps))
    assert all(p.grad is None for p in model.parameters())


def test_infinite_loss_is_caught_before_the_step(data):
    loader, vocab = data
    model = make_model(vocab)
    before = params(model)
    with pytest.raises(FloatingPointError, match="the loss became inf at step 1") as err:
        xm.train.fit(
            model,
            loader,
            config=xm.train.TrainConfig(progress=False),
            loss_fn=lambda m, b: xm.train.contrastive_loss(m, b) * float("inf"),
        )
    assert "temperature (it is 0.07)" in str(err.value)
    assert torch.equal(params(model), before)  # the model never took the bad step


def test_early_stopping_on_a_metric(data):
    loader, vocab = data
    scores = iter([0.1, 0.5, 0.4, 0.5, 0.3, 0.9])  # best at epoch 2, no better for 3 epochs
    config = xm.train.TrainConfig(epochs=6, monitor="score", patience=3, progress=False)
    history = xm.train.fit(
        make_model(vocab), loader, config=config, eval_fn=lambda m: {"score": next(scores)}
    )
    assert [r["epoch"] for r in history.epochs] == [1, 2, 3, 4, 5]
    assert history.stopped.startswith("early stopping: score did not improve for 3 epochs")
    assert "best 0.5 at epoch 2" in history.stopped


def test_early_stopping_on_a_loss_prefers_lower_and_names_a_missing_key(data):
    loader, vocab = data
    losses = iter([1.0, 0.5, 0.6, 0.4])
    config = xm.train.TrainConfig(epochs=4, monitor="val_loss", patience=1, progress=False)
    history = xm.train.fit(
        make_model(vocab), loader, config=config, eval_fn=lambda m: {"val_loss": next(losses)}
    )
    assert len(history.epochs) == 3 and "best 0.5 at epoch 2" in history.stopped
    config = xm.train.TrainConfig(epochs=2, monitor="R@1", progress=False)
    with pytest.raises(KeyError, match="monitor 'R@1' is not in the epoch row"):
        xm.train.fit(make_model(vocab), loader, config=config)


def test_gradient_clipping_bounds_the_update(data):
    loader, vocab = data
    config = xm.train.TrainConfig(epochs=1, optimizer="sgd", momentum=0.0, lr=1.0, progress=False)
    clipped = xm.train.TrainConfig(**{**config.__dict__, "clip_grad_norm": 0.01})
    model = make_model(vocab)
    start = params(model)
    loader.n = 16  # one step
    history = xm.train.fit(model, loader, config=clipped)
    assert history.steps[0]["grad_norm"] > 0.01  # the norm before clipping is recorded
    assert (params(model) - start).norm() == pytest.approx(0.01, rel=1e-3)  # lr 1 * norm 0.01
    assert "grad_norm" not in xm.train.fit(make_model(vocab), loader, config=config).steps[0]


def test_bf16_autocast_trains_on_cpu_and_fp16_asks_for_a_gpu(data):
    loader, vocab = data
    config = xm.train.TrainConfig(epochs=2, lr=3e-3, precision="bf16", device="cpu", progress=False)
    history = xm.train.fit(make_model(vocab), loader, config=config)
    assert math.isfinite(history.last("loss")) and history.last("loss") < history.steps[0]["loss"]
    config = xm.train.TrainConfig(precision="fp16", device="cpu", progress=False)
    with pytest.raises(ValueError, match="precision='fp16' needs a CUDA GPU"):
        xm.train.fit(make_model(vocab), loader, config=config)


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("precision", "fp8", "unknown precision 'fp8'"),
        ("accumulation", "lazy", "unknown accumulation 'lazy'"),
        ("epochs", 0, "epochs must be an integer at least 1"),
        ("accumulate", 1.5, "accumulate must be an integer"),
        ("lr", -1.0, "lr must be a finite number above 0"),
    ],
)
def test_config_rejects_impossible_settings(field, value, message):
    with pytest.raises(ValueError, match=message):
        xm.train.TrainConfig(**{field: value})


def test_history_rows_columns_and_plot(data):
    loader, vocab = data
    history = xm.train.fit(
        make_model(vocab),
        loader,
        config=xm.train.TrainConfig(epochs=2, progress=True),  # the bar must not get in the way
        eval_fn=lambda m: {"val": 1.0},
    )
    rows = history.to_rows()
    assert [list(r) for r in rows] == [["epoch", "loss", "seconds", "val"]] * 2
    step_rows = history.to_rows(per="step")
    assert len(step_rows) == 6 and set(step_rows[0]) == {
        "step",
        "epoch",
        "loss",
        "lr",
        "temperature",
    }
    assert history.column("val", per="epoch") == [1.0, 1.0]
    assert history.column("temperature")[0] == pytest.approx(0.07)
    ax = history.plot(key="loss")
    assert list(ax.lines[1].get_xdata()) == [3, 6]  # epoch points sit at each epoch's last step
    plt.close("all")
    with pytest.raises(ValueError, match="per must be 'step' or 'epoch'"):
        history.column("loss", per="batch")


def test_history_state_round_trip():
    history = xm.train.History([{"step": 1, "loss": 2.0}], [{"epoch": 1}], stopped="x")
    copy = xm.train.History()
    copy.load_state_dict(history.state_dict())
    assert copy == history


def test_evaluate_runs_without_gradients_in_eval_mode_then_restores(data):
    _, vocab = data
    model = make_model(vocab).train()
    seen = xm.train.evaluate(
        model, lambda m: {"training": m.training, "grad": torch.is_grad_enabled()}
    )
    assert seen == {"training": False, "grad": False} and model.training


def test_mean_loss_weights_batches_by_size(data):
    loader, vocab = data
    model = make_model(vocab).eval()
    loader.batch_size = 20  # batches of 20, 20 and 8
    per_batch = [(xm.train.contrastive_loss(model, b).item(), len(b["image"])) for b in loader]
    expected = sum(loss * n for loss, n in per_batch) / 48
    assert xm.train.mean_loss(model, loader) == pytest.approx(expected, rel=1e-6)
