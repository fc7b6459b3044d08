import math

import matplotlib.pyplot as plt
import pytest
import torch
from torch import nn

import xmlab as xm


def small_dual_encoder():
    return xm.encoders.shapes_dual_encoder(30, embed_dim=8, width=16)


def test_weight_decay_skips_biases_gains_and_logit_scale():
    model = small_dual_encoder()
    decay, no_decay = xm.train.param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    kept = {names[id(p)] for p in no_decay["params"]}
    assert "logit_scale" in kept and "logit_scale" not in decayed
    assert all(model.get_parameter(n).ndim >= 2 for n in decayed)
    assert all(model.get_parameter(n).ndim < 2 or n == "logit_scale" for n in kept)
    assert any(n.endswith("norm.weight") for n in kept) and any(n.endswith("bias") for n in kept)
    assert len(decayed) + len(kept) == len(list(model.parameters()))


def test_frozen_parameters_are_left_out():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    model[0].requires_grad_(False)
    groups = xm.train.param_groups(model, 0.01)
    assert sum(len(g["params"]) for g in groups) == 2


@pytest.mark.parametrize(
    "name,cls", [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)]
)
def test_make_optimizer_builds_each_kind(name, cls):
    opt = xm.train.make_optimizer(small_dual_encoder(), name, lr=0.1, weight_decay=0.2)
    assert isinstance(opt, cls) and [g["weight_decay"] for g in opt.param_groups] == [0.2, 0.0]
    assert all(g["lr"] == 0.1 for g in opt.param_groups)


def test_adamw_decays_weights_directly_and_skips_the_bias():
    layer = nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.fill_(1.0), layer.bias.fill_(1.0)
    opt = xm.train.make_optimizer(layer, "adamw", lr=0.1, weight_decay=0.5)
    layer.weight.grad, layer.bias.grad = torch.zeros(2, 2), torch.zeros(2)
    opt.step()  # zero gradient: only the decoupled decay moves the weights
    assert torch.allclose(layer.weight, torch.full((2, 2), 1 - 0.1 * 0.5))
    assert torch.equal(layer.bias, torch.ones(2))


def test_unknown_optimizer_is_explained():
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop': expected one of sgd"):
        xm.train.make_optimizer(small_dual_encoder(), "rmsprop")
    with pytest.raises(ValueError, match="unknown optimizer 'lamb'"):
        xm.train.TrainConfig(optimizer="lamb")


@pytest.mark.parametrize("step", range(0, 30, 3))
def test_step_schedule_matches_formula(step):
    got = xm.train.lr_factor(
        step, schedule="step", total_steps=30, warmup_steps=2, step_size=5, gamma=0.5
    )
    expected = (step + 1) / 2 if step < 2 else 0.5 ** ((step - 2) // 5)
    assert got == pytest.approx(expected)


def test_step_schedule_default_drops_at_thirds_and_constant_warms_up():
    factors = [xm.train.lr_factor(s, schedule="step", total_steps=9) for s in range(9)]
    assert factors == pytest.approx([1, 1, 1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01])
    warm = [
        xm.train.lr_factor(s, schedule="constant", total_steps=9, warmup_steps=4) for s in range(6)
    ]
    assert warm == pytest.approx([0.25, 0.5, 0.75, 1, 1, 1])


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine"])
def test_scheduler_follows_lr_factor(schedule):
    config = xm.train.TrainConfig(lr=0.5, schedule=schedule, warmup_steps=3, step_size=4)
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=config.lr)
    sched = xm.train.make_scheduler(opt, config, total_steps=20)
    seen = []
    for _ in range(20):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx(xm.train.schedule_curve(config, total_steps=20))
    ax = xm.viz.plot_schedule(config, total_steps=20)
    assert len(ax.lines) == 1 and ax.lines[0].get_ydata()[-1] == pytest.approx(seen[-1])
    plt.close("all")


def test_descend_with_sgd_is_plain_gradient_descent():
    path = xm.train.descend(xm.train.ravine, (1.5, 0.5), optimizer="sgd", lr=0.02, steps=10)
    p = torch.tensor([1.5, 0.5], dtype=torch.float64)
    for i in range(10):
        p = p - 0.02 * torch.tensor([p[0], 25 * p[1]])  # the gradient of the ravine by hand
        assert torch.allclose(path[i + 1], p)
    assert path.shape == (11, 2)


def test_momentum_crosses_the_ravine_faster_than_sgd():
    start, lr = (-1.8, 0.6), 0.01
    sgd = xm.train.descend(xm.train.ravine, start, lr=lr, steps=100)
    momentum = xm.train.descend(xm.train.ravine, start, lr=lr, steps=100, momentum=0.9)
    assert xm.train.ravine(momentum[-1]) < 0.01 * xm.train.ravine(sgd[-1])
    ax = xm.viz.plot_descent(xm.train.ravine, {"sgd": sgd, "momentum": momentum})
    assert len(ax.lines) == 2
    plt.close("all")


def test_rosenbrock_minimum():
    assert xm.train.rosenbrock(torch.tensor([1.0, 1.0])) == 0
    assert xm.train.rosenbrock(torch.tensor([0.0, 0.0])) == 1


def test_lr_range_test_restores_the_model_and_suggests_a_rate():
    ds = xm.data.make_shapes(64, seed=1, image_size=16)
    tok = xm.preprocess.WordTokenizer.build(ds.captions)
    loader = xm.data.pair_loader(ds, tok, batch_size=16)
    model = xm.encoders.shapes_dual_encoder(len(tok), image_size=16, embed_dim=8, width=16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = xm.train.lr_range_test(
        model, loader, loss_fn=xm.train.contrastive_loss, start=1e-5, end=10.0, steps=40
    )
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    lrs = result["lr"]
    assert lrs[0] == pytest.approx(1e-5) and all(b > a for a, b in zip(lrs, lrs[1:]))
    assert len(lrs) == len(result["loss"]) <= 40
    best = lrs[result["loss"].index(min(result["loss"]))]
    assert result["suggested"] == pytest.approx(best / 10)
    assert math.isfinite(min(result["loss"])) and min(result["loss"]) < result["loss"][0]
    assert xm.viz.plot_lr_range(result) is not None
    plt.close("all")
