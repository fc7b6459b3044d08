import random

import numpy as np
import pytest
import torch
from torch import nn

import xmlab as xm


@pytest.fixture
def data():
    ds = xm.data.make_shapes(48, seed=2, image_size=16)
    tok = xm.preprocess.WordTokenizer.build(ds.captions)
    return ds, tok


def make_model(tok):
    torch.manual_seed(0)
    return xm.encoders.shapes_dual_encoder(len(tok), image_size=16, embed_dim=8, width=16)


def make_loader(ds, tok):
    return xm.data.pair_loader(ds, tok, batch_size=16, shuffle=True, seed=7)


class StopAt(xm.train.Callback):
    """Press the stop button after a given step."""

    def __init__(self, step):
        self.step = step

    def on_step(self, row, model):
        if row["step"] == self.step:
            raise KeyboardInterrupt


def test_resume_gives_exactly_the_uninterrupted_run(data, tmp_path):
    ds, tok = data
    options = dict(epochs=3, lr=3e-3, schedule="cosine", warmup_steps=2, progress=False)
    straight = make_model(tok)
    full = xm.train.fit(
        straight, make_loader(ds, tok), config=xm.train.TrainConfig(**options, optimizer="adamw")
    )

    ckpt = tmp_path / "run.pt"
    first = make_model(tok)
    config = xm.train.TrainConfig(**options, optimizer="adamw", checkpoint=str(ckpt))
    cut = xm.train.fit(first, make_loader(ds, tok), config=config, callbacks=[StopAt(5)])
    assert cut.stopped == "interrupted after step 5" and len(cut.epochs) == 1  # saved: epoch 1

    torch.manual_seed(123), random.seed(123), np.random.seed(123)  # other RNG states: restored
    resumed = make_model(tok)
    with torch.no_grad():
        next(resumed.parameters()).add_(1.0)  # other weights too: replaced by the checkpoint
    config = xm.train.TrainConfig(**options, optimizer="adamw", resume=str(ckpt))
    history = xm.train.fit(resumed, make_loader(ds, tok), config=config)

    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name
    assert [r["loss"] for r in history.steps] == [r["loss"] for r in full.steps]
    assert [r["lr"] for r in history.steps] == [r["lr"] for r in full.steps]
    assert len(history.epochs) == 3 and history.stopped == ""


def test_checkpoint_holds_every_part_and_loads_safely(data, tmp_path):
    ds, tok = data
    ckpt = tmp_path / "sub" / "last.pt"
    config = xm.train.TrainConfig(epochs=1, checkpoint=str(ckpt), progress=False)
    xm.train.fit(make_model(tok), make_loader(ds, tok), config=config)
    saved = torch.load(ckpt, weights_only=True)
    assert {
        "model",
        "optimizer",
        "scheduler",
        "scaler",
        "history",
        "rng",
        "epoch",
        "config",
    } <= set(saved)
    assert {"python", "numpy", "torch", "loader"} <= set(saved["rng"])
    assert saved["epoch"] == 1 and saved["config"]["checkpoint"] == str(ckpt)
    assert list(ckpt.parent.iterdir()) == [ckpt]  # the temporary file was renamed away


def test_rng_state_round_trip():
    g = torch.Generator().manual_seed(3)
    state = xm.train.rng_state(g)
    draws = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=g))
    xm.train.set_rng_state(state, g)
    again = (random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=g))
    assert draws == again


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    xm.train.save_checkpoint(path, model=nn.Linear(2, 2))
    before = path.read_bytes()

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        xm.train.save_checkpoint(path, model=nn.Linear(2, 2))
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]


def test_damaged_checkpoint_gets_a_clear_error(tmp_path):
    path = tmp_path / "model.pt"
    xm.train.save_checkpoint(path, model=nn.Linear(2, 2))
    path.write_bytes(path.read_bytes()[:100])  # cut short, as by a crash mid-copy
    with pytest.raises(xm.train.CheckpointError, match="damaged or is not a checkpoint"):
        xm.train.load_checkpoint(path, nn.Linear(2, 2))
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        xm.train.load_checkpoint(tmp_path / "missing.pt", nn.Linear(2, 2))


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": xm.train.FORMAT, "model": nn.Linear(2, 2)}, path)  # a module
    with pytest.raises(xm.train.CheckpointError, match="damaged or is not a checkpoint"):
        xm.train.read_checkpoint(path)
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(xm.train.CheckpointError, match="not an xmlab checkpoint"):
        xm.train.read_checkpoint(path)


def test_mismatched_model_is_named(tmp_path):
    path = xm.train.save_checkpoint(tmp_path / "m.pt", model=nn.Linear(4, 2))
    with pytest.raises(xm.train.CheckpointError, match=r"weight: \(2, 4\) saved, \(2, 3\)"):
        xm.train.load_checkpoint(path, nn.Linear(3, 2))
    with pytest.raises(xm.train.CheckpointError, match=r"missing \['0.bias', '0.weight'\]"):
        xm.train.load_checkpoint(path, nn.Sequential(nn.Linear(4, 2)))


def test_resume_with_another_optimizer_is_refused(data, tmp_path):
    ds, tok = data
    ckpt = tmp_path / "run.pt"
    config = xm.train.TrainConfig(epochs=1, optimizer="sgd", checkpoint=str(ckpt), progress=False)
    xm.train.fit(make_model(tok), make_loader(ds, tok), config=config)
    config = xm.train.TrainConfig(epochs=2, optimizer="adam", resume=str(ckpt), progress=False)
    with pytest.raises(xm.train.CheckpointError, match="resume with the same optimizer"):
        xm.train.fit(make_model(tok), make_loader(ds, tok), config=config)
