"""Distributed contrastive learning equals the full-batch computation (gloo, 2 CPU processes)."""

import math
import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

import xmlab as xm
import xmlab.distributed as xd

WORLD, B, D, SCALE = 2, 4, 6, 7.0  # 2 ranks x 4 pairs, 6-dim embeddings, logit scale 7


def unit(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g, dtype=torch.float64), dim=1)


def reference_local_loss(img, txt, all_img, all_txt, scale, offset):
    """A slow, obviously correct loop: -log softmax of the matching pair among all N columns."""
    total = 0.0
    for i in range(img.shape[0]):
        row = torch.stack([scale * (img[i] @ t) for t in all_txt])
        col = torch.stack([scale * (txt[i] @ m) for m in all_img])
        total += torch.logsumexp(row, 0) - row[offset + i]
        total += torch.logsumexp(col, 0) - col[offset + i]
    return total / (2 * img.shape[0])


# ----------------------------------------------------------------------------- one process


def test_local_loss_equals_reference_loop():
    all_img, all_txt = unit(8, 5, 0), unit(8, 5, 1)
    img, txt = all_img[4:7], all_txt[4:7]
    got = xd.local_clip_loss(img, txt, all_img, all_txt, logit_scale=3.0, offset=4)
    torch.testing.assert_close(got, reference_local_loss(img, txt, all_img, all_txt, 3.0, 4))


@pytest.mark.parametrize("world", [1, 2, 4])
def test_mean_of_simulated_ranks_is_the_full_batch_loss(world):
    img, txt = unit(8, 5, 2), unit(8, 5, 3)
    b = 8 // world
    ranks = [
        xd.local_clip_loss(
            img[r * b : (r + 1) * b],
            txt[r * b : (r + 1) * b],
            img,
            txt,
            logit_scale=SCALE,
            offset=r * b,
        )  # fmt: skip
        for r in range(world)
    ]
    full = xm.losses.clip_loss(img, txt, logit_scale=SCALE)
    torch.testing.assert_close(torch.stack(ranks).mean(), full, rtol=0, atol=1e-12)


def test_local_only_loss_is_lower_than_the_gathered_loss():
    """Fewer negatives make an easier task: each softmax misses the other ranks' columns."""
    img, txt = unit(64, 16, 4), unit(64, 16, 5)
    full = xm.losses.clip_loss(img, txt, logit_scale=1.0)
    local = torch.stack([xm.losses.clip_loss(img[r::4], txt[r::4], logit_scale=1.0)
                         for r in range(4)]).mean()  # fmt: skip
    assert local < full
    assert abs(full.item() - math.log(64)) < 0.1 and abs(local.item() - math.log(16)) < 0.1


def test_local_loss_rejects_bad_offsets_and_widths():
    all_img, all_txt = unit(8, 5, 0), unit(8, 5, 1)
    with pytest.raises(
        ValueError, match="offset 6 puts the 4 rows' own pairs outside the 8 columns"
    ):
        xd.local_clip_loss(all_img[:4], all_txt[:4], all_img, all_txt, logit_scale=1.0, offset=6)
    with pytest.raises(
        ValueError, match="local embeddings have 3 dimensions but gathered embeddings have 5"
    ):
        xd.local_clip_loss(unit(4, 3, 0), unit(4, 3, 1), all_img, all_txt, logit_scale=1.0,
                           offset=0)  # fmt: skip


def test_without_a_process_group_everything_is_single_process():
    img, txt = unit(6, 4, 0), unit(6, 4, 1)
    assert xd.world() == (0, 1) and xd.gather_with_grad(img) is img
    torch.testing.assert_close(
        xd.distributed_clip_loss(img, txt, logit_scale=SCALE),
        xm.losses.clip_loss(img, txt, logit_scale=SCALE),
    )


def test_backend_follows_the_device():
    assert xd.choose_backend(torch.device("cpu")) == "gloo"
    assert xd.choose_backend(torch.device("cuda", 1)) == "nccl"


def test_command_line_round_trip():
    config = xd.RunConfig(steps=3, batch_size=5, gather=False, dtype="float64", out="runs/x")
    assert xd.RunConfig(**vars(xd.build_parser().parse_args(xd.to_args(config)))) == config
    cmd = xd.torchrun_command(config, nproc=2)
    assert cmd[1:3] == ["-m", "torch.distributed.run"] and "--nproc_per_node=2" in cmd
    assert cmd[cmd.index("-m", 3) + 1] == "xmlab.distributed" and "--no-gather" in cmd


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"batch_size": 0}, "at least 1"),
        ({"pairs": 10, "batch_size": 16}, "cannot fill one step"),
        ({"precision": "fp16"}, "precision must be fp32 or bf16"),
        ({"precision": "bf16", "dtype": "float64"}, "pick one"),
    ],
)
def test_bad_run_configs_are_refused(change, message):
    with pytest.raises(ValueError, match=message):
        xd.train(xd.RunConfig(**{"steps": 1, "device": "cpu", **change}))


def test_shards_of_two_ranks_make_the_batch_of_one_process():
    one = xd.shard_batches(24, batch_size=8, rank=0, world_size=1, seed=3)
    ranks = [xd.shard_batches(24, batch_size=4, rank=r, world_size=2, seed=3) for r in (0, 1)]
    for _ in range(5):  # crosses epoch boundaries: 3 steps per epoch
        together = torch.cat([next(r) for r in ranks])
        assert sorted(together.tolist()) == sorted(next(one).tolist())


# ----------------------------------------------------------------------------- two processes


class TwoTowers(nn.Module):
    """The smallest dual encoder: a linear map per modality and a learnable logit scale."""

    def __init__(self):
        super().__init__()
        self.image, self.text = nn.Linear(5, D), nn.Linear(3, D)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(SCALE)))

    def forward(self, x, y):
        return F.normalize(self.image(x), dim=1), F.normalize(self.text(y), dim=1)


def full_batch():
    """Embeddings, logit scale and tower inputs of all WORLD * B pairs, float64."""
    g = torch.Generator().manual_seed(7)
    x, y = torch.randn(WORLD * B, 5, generator=g), torch.randn(WORLD * B, 3, generator=g)
    return unit(WORLD * B, D, 8), unit(WORLD * B, D, 9), x.double(), y.double()


def towers():
    torch.manual_seed(11)
    return TwoTowers().double()


def batchnorm_batch():
    """Feature maps (WORLD * B, 3, 2, 2) and the weights of a linear read-out of BN's output."""
    g = torch.Generator().manual_seed(12)
    x = 3 + 2 * torch.randn(WORLD * B, 3, 2, 2, generator=g, dtype=torch.float64)
    return x, torch.randn(WORLD * B, 3, 2, 2, generator=g, dtype=torch.float64)


def _worker(rank, port, folder):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=WORLD)  # fmt: skip
    img, txt, x, y = full_batch()
    mine = slice(rank * B, (rank + 1) * B)
    local_img, local_txt = img[mine].clone().requires_grad_(), txt[mine].clone().requires_grad_()
    scale = torch.tensor(SCALE, dtype=torch.float64, requires_grad=True)
    loss = xd.distributed_clip_loss(local_img, local_txt, logit_scale=scale)
    loss.backward()
    plain = xd.distributed_clip_loss(img[mine], txt[mine], logit_scale=SCALE, gather=False)
    ddp = nn.parallel.DistributedDataParallel(towers())
    emb_img, emb_txt = ddp(x[mine], y[mine])
    xd.distributed_clip_loss(emb_img, emb_txt, logit_scale=ddp.module.logit_scale.exp()).backward()
    bn_input, bn_weights = batchnorm_batch()
    bn_x = bn_input[mine].clone().requires_grad_()
    bn = xd.batchnorm_across_ranks(nn.Sequential(nn.BatchNorm2d(3))).double()
    bn_out = bn(bn_x)
    (bn_out * bn_weights[mine]).sum().backward()
    message = "no error"
    try:
        xd.gather_with_grad(img[: B + rank])  # rank 1 holds one row more
    except ValueError as err:
        message = str(err)
    torch.save({"loss": loss.detach(), "img_grad": local_img.grad, "txt_grad": local_txt.grad,
                "scale_grad": scale.grad, "plain": plain,
                "ddp_grads": {n: p.grad for n, p in ddp.module.named_parameters()},
                "message": message, "bn_out": bn_out.detach(), "bn_x_grad": bn_x.grad,
                "bn_weight_grad": bn[0].weight.grad, "bn_state": bn[0].state_dict()},
               f"{folder}/rank{rank}.pt")  # fmt: skip
    dist.barrier()
    dist.destroy_process_group()
    # DDP kept the gloo group alive; leave without the interpreter teardown that can abort on
    # it, as ``python -m xmlab.distributed`` does
    os._exit(0)


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """Run the worker on 2 gloo processes once; return what each rank saw."""
    folder = tmp_path_factory.mktemp("ranks")
    mp.spawn(_worker, args=(xd.free_port(), str(folder)), nprocs=WORLD, join=True)
    return [torch.load(folder / f"rank{r}.pt") for r in range(WORLD)]


def reference_grads():
    img, txt, _, _ = full_batch()
    img.requires_grad_(), txt.requires_grad_()
    scale = torch.tensor(SCALE, dtype=torch.float64, requires_grad=True)
    loss = xm.losses.clip_loss(img, txt, logit_scale=scale)
    loss.backward()
    return loss.detach(), img.grad, txt.grad, scale.grad


def test_gathered_loss_and_gradients_equal_the_full_batch(two_ranks):
    full, img_grad, txt_grad, scale_grad = reference_grads()
    assert abs(sum(r["loss"] for r in two_ranks).item() / WORLD - full.item()) < 1e-6
    for rank, seen in enumerate(two_ranks):
        mine = slice(rank * B, (rank + 1) * B)  # DDP divides by WORLD when it averages
        torch.testing.assert_close(seen["img_grad"] / WORLD, img_grad[mine], rtol=0, atol=1e-6)
        torch.testing.assert_close(seen["txt_grad"] / WORLD, txt_grad[mine], rtol=0, atol=1e-6)
    mean_scale_grad = sum(r["scale_grad"] for r in two_ranks) / WORLD
    torch.testing.assert_close(mean_scale_grad, scale_grad, rtol=0, atol=1e-6)


def test_ddp_parameter_gradients_equal_the_full_batch_on_every_rank(two_ranks):
    model = towers()
    _, _, x, y = full_batch()
    emb_img, emb_txt = model(x, y)
    xm.losses.clip_loss(emb_img, emb_txt, logit_scale=model.logit_scale.exp()).backward()
    for seen in two_ranks:
        for name, p in model.named_parameters():
            torch.testing.assert_close(seen["ddp_grads"][name], p.grad, rtol=0, atol=1e-6)


def test_plain_ddp_without_gathering_gives_a_different_weaker_loss(two_ranks):
    full, *_ = reference_grads()
    plain = sum(r["plain"] for r in two_ranks).item() / WORLD
    assert plain < full.item() - 0.1  # B - 1 negatives instead of N - 1: an easier task


def test_batchnorm_across_ranks_equals_batchnorm_on_the_full_batch(two_ranks):
    x, weights = batchnorm_batch()
    x.requires_grad_()
    bn = nn.BatchNorm2d(3).double()
    out = bn(x)
    (out * weights).sum().backward()
    for rank, seen in enumerate(two_ranks):
        mine = slice(rank * B, (rank + 1) * B)
        torch.testing.assert_close(seen["bn_out"], out[mine].detach(), rtol=0, atol=1e-9)
        torch.testing.assert_close(seen["bn_x_grad"], x.grad[mine], rtol=0, atol=1e-9)
        for name, value in bn.state_dict().items():  # running mean, variance and count
            torch.testing.assert_close(seen["bn_state"][name], value, rtol=0, atol=1e-9)
    weight_grad = sum(r["bn_weight_grad"] for r in two_ranks)  # each rank: its own read-out
    torch.testing.assert_close(weight_grad, bn.weight.grad, rtol=0, atol=1e-9)


def test_batchnorm_across_ranks_is_plain_batchnorm_in_one_process():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.Sequential(nn.BatchNorm2d(4)))
    plain = [m.clone() for m in model.state_dict().values()]
    converted = xd.batchnorm_across_ranks(model)
    assert type(converted[1][0]) is xd.BatchNorm2dAcrossRanks
    x = torch.randn(5, 3, 2, 2)
    torch.testing.assert_close(
        converted(x),
        nn.functional.batch_norm(
            converted[0](x), None, None, converted[1][0].weight, converted[1][0].bias, True
        ),
    )
    assert all(torch.equal(a, b) for a, b in zip(plain[:2], converted.state_dict().values()))


def test_unequal_batches_across_ranks_get_a_clear_error(two_ranks):
    for seen in two_ranks:
        assert "ranks hold [4, 5] rows: every rank needs the same batch size" in seen["message"]


# ----------------------------------------------------------------------------- training


def test_two_process_training_equals_one_process_with_the_doubled_batch(tmp_path):
    common = {"steps": 4, "pairs": 64, "lr": 3e-3, "width": 16, "embed_dim": 8,
              "dtype": "float64", "device": "cpu", "log_every": 0}  # fmt: skip
    two = xd.launch(xd.RunConfig(batch_size=8, out=str(tmp_path / "two"), **common), nproc=2)
    one = xd.train(xd.RunConfig(batch_size=16, out=str(tmp_path / "one"), **common))
    assert two["world_size"] == 2 and two["backend"] == "gloo" and two["global_batch"] == 16
    assert one["world_size"] == 1 and one["losses"][0] > one["losses"][-1]
    torch.testing.assert_close(two["losses"], one["losses"], rtol=0, atol=1e-9)
    weights = [torch.load(tmp_path / run / "model.pt")["model"] for run in ("two", "one")]
    assert weights[0].keys() == weights[1].keys()
    for name in weights[0]:
        torch.testing.assert_close(weights[0][name], weights[1][name], rtol=0, atol=1e-9)
