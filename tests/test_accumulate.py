import pytest
import torch
from torch import nn

import xmlab as xm


@pytest.fixture
def setup():
    ds = xm.data.make_shapes(32, seed=5, image_size=16)
    tok = xm.preprocess.WordTokenizer.build(ds.captions)
    batch = next(iter(xm.data.pair_loader(ds, tok, batch_size=32)))
    model = xm.encoders.shapes_dual_encoder(len(tok), image_size=16, embed_dim=8, width=16)
    model.eval()  # batch norm uses its running statistics: only the loss differs between ways
    return model, batch


def gradients(model) -> torch.Tensor:
    grads = torch.cat([p.grad.flatten() for p in model.parameters()])
    model.zero_grad(set_to_none=True)
    return grads


def test_split_batch_covers_the_batch_in_order():
    batch = {"x": torch.arange(10), "text": list("abcdefghij")}
    parts = xm.train.split_batch(batch, 3)
    assert [len(p["x"]) for p in parts] == [3, 4, 3]
    assert torch.equal(torch.cat([p["x"] for p in parts]), batch["x"])
    assert sum((p["text"] for p in parts), []) == batch["text"]
    with pytest.raises(ValueError, match="cannot split a batch of 10 items into 11"):
        xm.train.split_batch(batch, 11)


def test_cached_accumulation_gives_the_gradient_of_one_big_batch(setup):
    model, batch = setup
    big = xm.train.contrastive_loss(model, batch)
    big.backward()
    reference = gradients(model)
    loss = xm.train.cached_backward(model, batch, chunks=4)
    cached = gradients(model)
    assert loss.item() == pytest.approx(big.item(), rel=1e-5)
    assert torch.allclose(cached, reference, rtol=1e-4, atol=1e-6)
    assert model.logit_scale.grad is None  # cleared by gradients(); counted once, checked below


def test_temperature_gradient_is_counted_once(setup):
    model, batch = setup
    xm.train.contrastive_loss(model, batch).backward()
    reference = model.logit_scale.grad.clone()
    model.zero_grad(set_to_none=True)
    xm.train.cached_backward(model, batch, chunks=4)
    assert model.logit_scale.grad == pytest.approx(reference.item(), rel=1e-4)


def test_naive_accumulation_of_a_contrastive_loss_differs(setup):
    model, batch = setup
    xm.train.contrastive_loss(model, batch).backward()
    reference = gradients(model)
    loss = xm.train.naive_backward(model, batch, xm.train.contrastive_loss, chunks=4)
    naive = gradients(model)
    assert loss.item() < xm.train.contrastive_loss(model, batch).item()  # fewer negatives
    assert (naive - reference).norm() > 0.05 * reference.norm()


def test_naive_accumulation_is_exact_for_a_mean_over_items():
    model = nn.Linear(3, 1)
    batch = {"x": torch.randn(10, 3), "y": torch.randn(10, 1)}
    loss_fn = lambda m, b: ((m(b["x"]) - b["y"]) ** 2).mean()
    loss_fn(model, batch).backward()
    reference = gradients(model)
    xm.train.naive_backward(model, batch, loss_fn, chunks=3)  # uneven: 3, 4, 3 items
    assert torch.allclose(gradients(model), reference, atol=1e-6)


def test_fit_with_cached_accumulation_matches_fit_without(setup):
    _, batch = setup
    loader = xm.data.TensorLoader(batch, batch_size=16)
    finals = []
    for accumulate in (1, 4):
        torch.manual_seed(0)
        model = xm.encoders.shapes_dual_encoder(30, image_size=16, embed_dim=8, width=16)
        model.image_encoder = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 16))  # no BN
        config = xm.train.TrainConfig(
            epochs=2, lr=0.1, optimizer="sgd", accumulate=accumulate, progress=False
        )
        history = xm.train.fit(model, loader, config=config)
        finals.append(
            (history.column("loss"), torch.cat([p.flatten() for p in model.parameters()]))
        )
    assert finals[0][0] == pytest.approx(finals[1][0], rel=1e-4)
    assert torch.allclose(finals[0][1], finals[1][1], atol=1e-5)  # SGD: no division by tiny v


def test_cached_accumulation_needs_a_contrastive_loss(setup):
    model, batch = setup
    loader = xm.data.TensorLoader(batch, batch_size=16)
    config = xm.train.TrainConfig(epochs=1, accumulate=2, progress=False)
    plain = lambda m, b: xm.train.contrastive_loss(m, b)  # a function fit cannot see into
    with pytest.raises(ValueError, match="accumulation='cached' needs a dual encoder"):
        xm.train.fit(model, loader, config=config, loss_fn=plain)
    wrapped = xm.train.make_contrastive_loss(xm.losses.clip_loss)
    assert xm.train.fit(model, loader, config=config, loss_fn=wrapped).last("loss") > 0
