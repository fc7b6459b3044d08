"""What ``fit`` keeps when a gradient goes wrong: the weights of the step before, a finite
checkpoint of the last whole epoch, the history so far; and fp16's skipped step is reported."""

import pytest
import torch

import xmlab as xm
from xmlab.train import checkpoint as ckpt
from xmlab.train import loop

DATA = xm.data.make_shapes(8, seed=0, image_size=16)
TOK = xm.preprocess.WordTokenizer.build(DATA.captions)


def model():
    torch.manual_seed(0)
    return xm.encoders.shapes_dual_encoder(len(TOK), image_size=16, embed_dim=8, width=16)


def loader():
    return xm.data.pair_loader(DATA, TOK, batch_size=4)  # 2 steps an epoch


def breaks_at(step):
    """CLIP's loss, with a NaN gradient (but a finite loss) from step ``step`` on."""
    calls = {"n": 0}

    def loss_fn(m, batch):
        calls["n"] += 1
        out = m(batch["image"], batch["input_ids"], batch["attention_mask"])
        img = out["image_emb"]
        if calls["n"] >= step:
            img = img + 0 * torch.sqrt(img.sum() * 0)  # d sqrt(x)/dx at 0 is inf: 0 * inf = NaN
        return xm.losses.clip_loss(img, out["text_emb"], logit_scale=out["logit_scale"])

    return loss_fn


class Snapshot(xm.train.Callback):
    """The weights after every step (parameters: batch norm's running statistics move with
    every forward pass, taken step or not)."""

    def __init__(self):
        self.weights = []

    def on_step(self, row, model):
        self.weights.append({k: v.detach().clone() for k, v in model.named_parameters()})


def test_a_nan_gradient_keeps_the_weights_checkpoint_and_history_of_before(tmp_path):
    path, net, snap = tmp_path / "model.pt", model(), Snapshot()
    config = xm.train.TrainConfig(epochs=3, checkpoint=str(path), progress=False)
    with pytest.raises(FloatingPointError, match="gradient became nan at step 4") as err:
        xm.train.fit(net, loader(), config=config, loss_fn=breaks_at(4), callbacks=[snap])
    after = dict(net.named_parameters())
    assert all(torch.equal(after[k], snap.weights[-1][k]) for k in after)  # step 3's weights
    assert all(torch.isfinite(v).all() for v in after.values())
    saved = ckpt.read_checkpoint(path)  # the checkpoint of epoch 1, whole and finite
    assert saved["epoch"] == 1 and saved["history"]["epochs"] == err.value.history.epochs
    assert len(err.value.history) == 3  # the steps before the error are not lost


def test_fp16_overflow_is_skipped_and_the_history_says_so(monkeypatch):
    """On a GPU, fp16's gradient scaler skips a step whose gradient overflowed; the CPU scaler
    behaves the same, so the rule is checked here without one."""
    real_start = loop._start

    def fp16_start(*args):
        run = real_start(*args)
        run.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**16)
        return run

    monkeypatch.setattr(loop, "_start", fp16_start)
    net, snap = model(), Snapshot()
    config = xm.train.TrainConfig(epochs=2, progress=False)
    history = xm.train.fit(net, loader(), config=config, loss_fn=breaks_at(4), callbacks=[snap])
    assert [("skipped" in row) for row in history.steps] == [False, False, False, True]
    assert "gradient scaler skipped the step" in history.steps[3]["skipped"]
    assert all(torch.equal(snap.weights[3][k], snap.weights[2][k]) for k in snap.weights[2])
